"""Loading what a run config points at: tokenizer, base model, adapter.

Real ``from_pretrained`` calls on a local folder or a hub id, always with
``trust_remote_code=False``; nothing here writes into the user's folders.  Hub ids
resolve only from the local cache when ``HF_HUB_OFFLINE=1`` (sftcheck never downloads
during a run unless the user's environment allows it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sftcheck.config import Config


class LoadError(RuntimeError):
    """A model/tokenizer could not be loaded; the message names what and the fix."""


def tokenizer_source(cfg: Config) -> str:
    """Where the tokenizer comes from: [model] tokenizer, else the adapter folder if it
    ships one (training's tokenizer + chat template), else the base / finetuned model."""
    m = cfg.model
    if m.tokenizer:
        return m.tokenizer
    if m.adapter and any((Path(m.adapter) / f).exists() for f in ("tokenizer.json", "tokenizer_config.json")):
        return m.adapter
    src = m.finetuned or m.base
    if not src:
        raise LoadError(f"{cfg.source}: no tokenizer: set [model] tokenizer, base or finetuned.")
    return src


def load_tokenizer(cfg: Config):
    from transformers import AutoTokenizer

    src = tokenizer_source(cfg)
    try:
        return AutoTokenizer.from_pretrained(src, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - re-raised with the fix
        raise LoadError(f"could not load the tokenizer from {src!r}: {type(exc).__name__}: {exc}. "
                        "Fix: point [model] tokenizer at a folder with tokenizer.json / "
                        "tokenizer_config.json (or a cached hub id).") from exc


@dataclass(frozen=True)
class Placement:
    device: str
    dtype: str  # torch dtype name


def resolve_placement(cfg: Config) -> Placement:
    """``auto`` → cuda + bfloat16 when a GPU is present, else cpu + float32."""
    import torch

    device = cfg.model.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = cfg.model.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return Placement(device, dtype)
