"""What a usable LoRA ``adapter_config.json`` holds (as peft writes it): the problems
``artifact.config_valid`` reports, one sentence each."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _not_positive(v: Any) -> bool:
    return not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0


def config_problems(c: Mapping[str, Any], *, max_rank: int) -> list[str]:
    """Required keys, something targeted, ``peft_type`` LORA, integer 0 < r <= ``max_rank``,
    positive ``lora_alpha`` and rank / alpha patterns, ``lora_dropout`` in [0, 1)."""
    problems = [f"required key {key!r} is missing" for key in ("peft_type", "r", "lora_alpha") if key not in c]
    if not (c.get("target_modules") or c.get("target_parameters")):
        problems.append("target_modules is empty: nothing is adapted")
    ptype = c.get("peft_type")
    if ptype is not None and str(ptype).upper() != "LORA":
        problems.append(f"peft_type {ptype!r} is not supported (sftcheck diagnoses LORA adapters)")
    r, alpha = c.get("r"), c.get("lora_alpha")
    if "r" in c and (not isinstance(r, int) or isinstance(r, bool) or not 0 < r <= max_rank):
        problems.append(f"r = {r!r} is not an integer in 1..{max_rank}")
    if "lora_alpha" in c and _not_positive(alpha):
        problems.append(f"lora_alpha = {alpha!r} is not a positive number")
    for key in ("rank_pattern", "alpha_pattern"):
        bad = {k: v for k, v in (c.get(key) or {}).items() if _not_positive(v)}
        if bad:
            problems.append(f"{key} has non-positive values {bad}")
    drop = c.get("lora_dropout", 0.0)
    if not isinstance(drop, (int, float)) or not 0 <= drop < 1:
        problems.append(f"lora_dropout = {drop!r} is outside [0, 1)")
    return problems
