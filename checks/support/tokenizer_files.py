"""Find the tokenizer files and the chat template saved in a checkpoint folder.

transformers 5 writes the template to ``chat_template.jinja``; older versions put it in
``tokenizer_config.json`` (``"chat_template"``, a string or a list of named templates) or
``chat_template.json``.  Only small JSON / text files are read.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model", "vocab.txt")


@dataclass(frozen=True)
class SavedTokenizer:
    folder: Path
    tokenizer_files: tuple[str, ...]
    has_config: bool
    template: str | None
    template_source: str | None   # which file it came from

    @property
    def template_sha256(self) -> str | None:
        return hashlib.sha256(self.template.encode("utf-8")).hexdigest() if self.template else None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _template_from_config(text: str | None) -> str | None:
    try:
        value = json.loads(text).get("chat_template") if text else None
    except (ValueError, AttributeError):
        return None
    if isinstance(value, list):  # [{"name": "default", "template": ...}, ...]
        named = {d.get("name"): d.get("template") for d in value if isinstance(d, dict)}
        value = named.get("default") or next(iter(named.values()), None)
    return value if isinstance(value, str) and value.strip() else None


def find_saved_tokenizer(folder: str | Path,
                         read_text: Callable[[Path], str | None] = _read) -> SavedTokenizer:
    """Tokenizer files and the chat template of ``folder`` (the one template resolver: for a
    list of named templates, the one named ``default``).  ``read_text`` is the run's reader."""
    folder = Path(folder)
    files = tuple(f for f in TOKENIZER_FILES if (folder / f).is_file() and (folder / f).stat().st_size > 0)
    template = source = None
    jinja = folder / "chat_template.jinja"
    text = read_text(jinja) if jinja.is_file() else None
    if text and text.strip():
        template, source = text, jinja.name
    for name in ("chat_template.json", "tokenizer_config.json"):
        if template is None and (folder / name).is_file():
            template = _template_from_config(read_text(folder / name))
            source = name if template else None
    return SavedTokenizer(folder, files, (folder / "tokenizer_config.json").is_file(), template, source)
