"""The PEFT LoRA layout the artifact checks reason about, and the inputs they receive.

Saved keys look like ``base_model.model.<module>.lora_A.weight`` ([r, in]),
``….lora_B.weight`` ([out, r]), ``….lora_embedding_A`` ([r, vocab]) /
``….lora_embedding_B`` ([dim, r]), ``….lora_magnitude_vector`` (DoRA) and full
``modules_to_save`` matrices (``base_model.model.lm_head.weight``).  Per-module ranks and
alphas follow ``rank_pattern`` / ``alpha_pattern`` the way peft matches them.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "base_model.model."
_LORA_KEY = re.compile(
    r"^(?P<module>.+?)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)"
    r"(?:\.[A-Za-z0-9_]+)?(?:\.weight)?$")
_LAYER = re.compile(r"\.(?:layers|h|blocks|layer)\.(\d+)\.")


@dataclass(frozen=True)
class Unreadable:
    """An input that could not be read; ``reason`` names the file, the problem and the fix.
    ``broken``: the file exists but its content is bad (a failure, not a missing input)."""
    reason: str
    broken: bool = False


@dataclass(frozen=True)
class LoraKey:
    key: str
    module: str  # module path without the peft prefix, e.g. model.layers.0.self_attn.q_proj
    part: str    # lora_A, lora_B, lora_embedding_A, lora_embedding_B, lora_magnitude_vector

    @property
    def kind(self) -> str:
        """The module's own name (``q_proj``) — what target_modules lists."""
        return self.module.rsplit(".", 1)[-1]

    @property
    def layer(self) -> int | None:
        m = _LAYER.search("." + self.module + ".")
        return int(m.group(1)) if m else None


def strip_prefix(key: str) -> str:
    return key.removeprefix(PREFIX)


@functools.lru_cache(maxsize=1 << 16)
def parse_key(key: str) -> LoraKey | None:
    """The LoRA part a saved key belongs to, or ``None`` for a full (modules_to_save) tensor."""
    m = _LORA_KEY.match(strip_prefix(key))
    return LoraKey(key, m.group("module"), m.group("part")) if m else None


@functools.lru_cache(maxsize=1 << 16)
def layer_of(name: str) -> int | None:
    m = _LAYER.search("." + name + ".")
    return int(m.group(1)) if m else None


def _pattern_value(module: str, patterns: Mapping[str, Any], default: Any) -> Any:
    """peft's rule: the first pattern ``p`` with ``re.match(rf"(.*\\.)?({p})$", module)``."""
    for pattern, value in patterns.items():
        try:
            if re.match(rf"(.*\.)?({pattern})$", module):
                return value
        except re.error:
            if module.endswith(pattern):
                return value
    return default


def rank_of(module: str, cfg: Mapping[str, Any]) -> int:
    return int(_pattern_value(module, cfg.get("rank_pattern") or {}, cfg.get("r", 8)))


def scale_of(module: str, cfg: Mapping[str, Any]) -> float:
    """The LoRA scaling α/r (α/√r with rslora)."""
    r = rank_of(module, cfg)
    alpha = float(_pattern_value(module, cfg.get("alpha_pattern") or {}, cfg.get("lora_alpha", r)))
    return alpha / (math.sqrt(r) if cfg.get("use_rslora") else r)


def base_weight_name(module: str, shapes: Mapping[str, Any]) -> str | None:
    """The base weight of an adapted module (tolerates a missing / extra ``model.`` prefix)."""
    for cand in (f"{module}.weight", f"{module.split('.', 1)[-1]}.weight", f"model.{module}.weight"):
        if cand in shapes:
            return cand
    return None


def modules_to_save_keys(keys: list[str]) -> list[str]:
    """Saved full tensors (modules_to_save / trainable tokens), not LoRA factors."""
    return [k for k in keys if parse_key(k) is None]


def is_embedding_name(name: str) -> bool:
    n = strip_prefix(name)
    return any(s in n for s in ("embed_tokens", "wte", "word_embeddings", "embed_in", "tok_embeddings"))


def is_head_name(name: str) -> bool:
    n = strip_prefix(name)
    return any(s in n for s in ("lm_head", "embed_out", "output.weight"))
