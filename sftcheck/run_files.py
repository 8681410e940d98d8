"""The run's files, read and hashed once per session by one reader with one error policy.

``Run`` is built once per session (``plugin.build_session``; fixture ``sft_run``).  Every
small file sftcheck reads from the user's checkpoint — ``adapter_config.json``, the base's
``config.json``, the chat template, ``generation_config.json``, ``trainer_state.json`` — goes
through ``RunFiles.read`` (cached by path), and the adapter weights are hashed once
(``RunFiles.sha256``).  Fixtures, check inputs, the stop set, the model's cache identity and
the provenance section all take them from here.

Error policy: a missing file is ``None`` where it is optional; a file that exists but cannot
be read or parsed is an ``Unreadable`` value naming the file and the problem; the checks
turn it into a failed or skipped result, never a traceback.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sftcheck.checks.support.lora_layout import Unreadable
from sftcheck.checks.support.tokenizer_files import SavedTokenizer, find_saved_tokenizer

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
KEEP_BYTES = 64 << 20   # files up to this size are read once and kept (configs, templates, LoRA weights)


def tokenizer_folder(cfg) -> str | None:
    """Where the tokenizer comes from: [model] tokenizer, else the adapter folder if it ships
    one (training's tokenizer + chat template), else the fine-tuned / base model (None: none)."""
    m = cfg.model
    if m.tokenizer:
        return m.tokenizer
    if m.adapter and any((Path(m.adapter) / f).exists() for f in ("tokenizer.json", "tokenizer_config.json")):
        return m.adapter
    return m.finetuned or m.base or None


class RunFiles:
    """The single reader: bytes of a path, read once and kept; sha256 of a path, streamed once.
    ``reads`` counts actual reads per path (the self-test checks each is read at most once)."""

    def __init__(self) -> None:
        self._bytes: dict[Path, bytes | OSError] = {}
        self._sha: dict[Path, str | OSError] = {}
        self.reads: Counter[str] = Counter()

    def read(self, path: Path) -> bytes | OSError:
        path = Path(path)
        if path not in self._bytes:
            self.reads[str(path)] += 1
            try:
                self._bytes[path] = path.read_bytes()
            except OSError as exc:
                self._bytes[path] = exc
        return self._bytes[path]

    def sha256(self, path: Path, chunk: int = 1 << 20) -> str | OSError:
        """sha256 of ``path``: of the bytes ``read`` keeps (one read serves both) for files up to
        ``KEEP_BYTES``; streamed once (counted as ``sha256:<path>``) for larger ones."""
        path = Path(path)
        if path not in self._sha:
            try:
                if path in self._bytes or path.stat().st_size <= KEEP_BYTES:
                    got = self.read(path)
                    if isinstance(got, OSError):
                        raise got
                    self._sha[path] = hashlib.sha256(got).hexdigest()
                else:
                    self.reads[f"sha256:{path}"] += 1
                    h = hashlib.sha256()
                    with path.open("rb") as f:
                        while block := f.read(chunk):
                            h.update(block)
                    self._sha[path] = h.hexdigest()
            except OSError as exc:
                self._sha[path] = exc
        return self._sha[path]

    def text(self, path: Path) -> str | Unreadable:
        got = self.read(path)
        if isinstance(got, FileNotFoundError):
            return Unreadable(f"{path}: not found.")
        if isinstance(got, OSError):
            return Unreadable(f"{path}: cannot be read ({got}).")
        return got.decode("utf-8", errors="replace")

    def json(self, path: Path, what: str = "") -> Any:
        """The parsed JSON object of ``path``, or ``Unreadable`` (missing, not JSON, not an object)."""
        what = what or Path(path).name
        got = self.read(path)
        if isinstance(got, FileNotFoundError):
            return Unreadable(f"{path}: {what} not found.")
        if isinstance(got, OSError):
            return Unreadable(f"{path}: {what} cannot be read ({got}).")
        try:
            obj = json.loads(got.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return Unreadable(f"{path}: {what} is not valid JSON ({exc}).")
        if not isinstance(obj, dict):
            return Unreadable(f"{path}: {what} is JSON {type(obj).__name__}, expected an object.")
        return obj


@dataclass(frozen=True)
class WeightsId:
    file: str | None
    bytes: int | None = None
    sha256: str | None = None


class Run:
    """What a run's files say, each read once (lazily, then kept) through one ``RunFiles``."""

    def __init__(self, cfg, files: RunFiles | None = None) -> None:
        self.cfg = cfg
        self.files = files or RunFiles()

    def with_config(self, cfg) -> Run:
        """The same files (and reads) under an updated config (e.g. the inferred base)."""
        return Run(cfg, self.files)

    # ------------------------------------------------------------ adapter
    @property
    def adapter_dir(self) -> Path | None:
        return Path(self.cfg.model.adapter) if self.cfg.model.adapter else None

    @cached_property
    def adapter_config(self) -> dict | Unreadable | None:
        d = self.adapter_dir
        return self.files.json(d / "adapter_config.json", "adapter_config.json") if d else None

    @cached_property
    def adapter_weights(self) -> WeightsId:
        d = self.adapter_dir
        if d is None or not d.is_dir():
            return WeightsId(None)
        for name in ADAPTER_WEIGHTS:
            f = d / name
            if f.is_file():
                sha = self.files.sha256(f)
                return WeightsId(str(f), f.stat().st_size, sha if isinstance(sha, str) else None)
        return WeightsId(None)

    @property
    def recorded_base(self) -> str | None:
        c = self.adapter_config
        value = c.get("base_model_name_or_path") if isinstance(c, dict) else None
        return value if isinstance(value, str) and value else None

    # ------------------------------------------------------------ base identity
    @property
    def base_dir(self) -> Path | None:
        b = self.cfg.model.base
        return Path(b) if b and Path(b).is_dir() else None

    @cached_property
    def base_config(self) -> dict | Unreadable | None:
        d = self.base_dir
        return self.files.json(d / "config.json", "the base config") if d else None

    @property
    def base_config_name(self) -> str | None:
        c = self.base_config
        return (c.get("_name_or_path") or None) if isinstance(c, dict) else None

    def model_config(self, folder: str | Path) -> dict | Unreadable:
        return self.files.json(Path(folder) / "config.json", "config.json")

    # ------------------------------------------------------------ tokenizer and chat template
    @cached_property
    def tokenizer_dir(self) -> Path | None:
        src = tokenizer_folder(self.cfg)
        return Path(src) if src and Path(src).is_dir() else None

    def saved_tokenizer(self, folder: str | Path) -> SavedTokenizer:
        """Tokenizer files and the chat template of a folder (the one template resolver)."""
        return find_saved_tokenizer(folder, read_text=self._text_or_none)

    @cached_property
    def chat_template(self) -> SavedTokenizer | None:
        """The chat template of the tokenizer training and inference share."""
        return self.saved_tokenizer(self.tokenizer_dir) if self.tokenizer_dir else None

    @cached_property
    def base_chat_template(self) -> SavedTokenizer | None:
        """The chat template shipped with the base (a sign of an instruct/chat base)."""
        return self.saved_tokenizer(self.base_dir) if self.base_dir else None

    def _text_or_none(self, path: Path) -> str | None:
        got = self.files.text(path)
        return None if isinstance(got, Unreadable) else got

    # ------------------------------------------------------------ generation config, training log
    def json_or_raise(self, path: Path) -> Any:
        """For ``sftcheck.stopset``: the parsed file, or the reading error raised."""
        got = self.files.read(path)
        if isinstance(got, OSError):
            raise got
        return json.loads(got.decode("utf-8"))

    @property
    def training_log_path(self) -> Path | None:
        m = self.cfg.model
        if m.training_log:
            return Path(m.training_log)
        if m.adapter and (Path(m.adapter) / "trainer_state.json").is_file():
            return Path(m.adapter) / "trainer_state.json"
        return None

    @cached_property
    def training_log(self) -> dict | Unreadable | None:
        path = self.training_log_path
        return self.files.json(path, "training log") if path else None
