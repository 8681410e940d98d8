"""Content identity of what a generation depends on: the key of the generation cache.

A cached generation may be reused only when nothing that can change it changed.  Paths,
sizes and mtimes are not enough (``rsync -a`` / ``tar`` restore mtimes; a hub id names
whatever its cached snapshot holds today), so every file is identified by its content:

- small files (``<= FULL_HASH_BYTES``: configs, tokenizer files, chat templates, adapter
  weights of a typical LoRA): sha256 of the whole file;
- large weight files: size + the safetensors header (every tensor's name, dtype, shape and
  offsets) + sha256 of ``SAMPLES`` blocks of ``SAMPLE_BYTES`` spread evenly over the file,
  plus the file's inode and ctime (which no copy tool can set back), so a rewrite at the
  same size with the mtime restored is still a different file.

A hub id is resolved to its local snapshot folder (``local_files_only``) and identified the
same way; when it cannot be resolved there is no content identity and the caller keeps
the generation out of the disk cache.  ``model_content_id(cfg)`` covers the base (weights,
``config.json``, ``generation_config.json``), the adapter (weights and
``adapter_config.json``), a fully fine-tuned model, and the tokenizer files and chat
template actually loaded.  Measured cost: ``bench/bench_content_id.py``.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

FULL_HASH_BYTES = 64 << 20
SAMPLES = 16
SAMPLE_BYTES = 64 << 10

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
MODEL_FILES = ("config.json", "generation_config.json", "adapter_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model",
                   "vocab.txt", "spiece.model")


class NoContentId(LookupError):
    """Something a generation depends on cannot be identified by content (the reason)."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def full_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def safetensors_header(f, size: int) -> bytes:
    """The raw header of a safetensors file (8-byte length + JSON), or b"" if it is not one."""
    f.seek(0)
    head = f.read(8)
    if len(head) < 8:
        return b""
    n = int.from_bytes(head, "little")
    if n <= 0 or n > min(size - 8, 100 << 20):
        return b""
    return head + f.read(n)


def sampled_digest(path: Path) -> str:
    """size + safetensors header + ``SAMPLES`` evenly spread blocks + inode/ctime."""
    st = path.stat()
    h = hashlib.sha256(f"{st.st_size}|{st.st_ino}|{st.st_ctime_ns}|{st.st_mtime_ns}".encode())
    with path.open("rb") as f:
        h.update(safetensors_header(f, st.st_size))
        span = max(0, st.st_size - SAMPLE_BYTES)
        for k in range(SAMPLES):
            f.seek(span * k // max(1, SAMPLES - 1))
            h.update(f.read(SAMPLE_BYTES))
    return "sampled:" + h.hexdigest()


def file_digest(path: Path, files=None) -> str:
    """sha256 of a small file (through the run's one reader ``files``, when given: a file the
    session reads anyway is read and hashed once), else the sampled digest."""
    size = path.stat().st_size
    if size > FULL_HASH_BYTES:
        return sampled_digest(path)
    if files is not None:
        got = files.sha256(path)
        if isinstance(got, OSError):
            raise got
        return got
    return full_digest(path)


def folder_digests(folder: Path, names: tuple[str, ...] = (), weights: bool = False, files=None) -> dict[str, str]:
    """``{file name: digest}`` of the named files (and weight files) directly in ``folder``."""
    out = {}
    for f in sorted(folder.iterdir()):
        if f.is_file() and (f.name in names or (weights and f.suffix in WEIGHT_SUFFIXES)):
            out[f.name] = file_digest(f, files)
    return out


def local_folder(src: str) -> Path:
    """A model / tokenizer source as a local folder: the folder itself, or a hub id's cached
    snapshot (never downloads).  NoContentId when neither exists."""
    p = Path(src).expanduser()
    if p.is_dir():
        return p
    try:
        from huggingface_hub import snapshot_download

        cache = os.environ.get("HF_HUB_CACHE")
        return Path(snapshot_download(src, local_files_only=True, cache_dir=cache))
    except Exception as exc:  # any failure means: no local snapshot to identify
        raise NoContentId(f"{src!r} is neither a folder nor a cached hub snapshot "
                          f"({type(exc).__name__})") from exc


def model_content_id(cfg, tokenizer_source: str | None = None, files=None) -> dict:
    """What the configured model's generations depend on, by content (see the module doc)."""
    m = cfg.model
    parts: dict[str, dict] = {}
    for role, src in (("finetuned", m.finetuned), ("base", None if m.finetuned else m.base)):
        if src:
            parts[role] = folder_digests(local_folder(src), MODEL_FILES, weights=True, files=files)
    if m.adapter and not m.finetuned:
        parts["adapter"] = folder_digests(local_folder(m.adapter), ("adapter_config.json",), weights=True, files=files)
    if tokenizer_source:
        parts["tokenizer"] = folder_digests(local_folder(tokenizer_source), TOKENIZER_FILES, files=files)
    return parts


def content_key(parts: dict) -> str:
    return _sha(json.dumps(parts, sort_keys=True).encode())
