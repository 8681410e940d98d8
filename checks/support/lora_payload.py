"""Scan LoRA factor payloads one tensor at a time: all-zero lora_B, non-finite values, and
the relative update norm ‖scale·B·A‖_F / ‖W‖_F.

‖BA‖_F is computed from two r×r Gram matrices (‖BA‖²_F = tr((BᵀB)(AAᵀ))), so the
full out×in update is never materialised.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sftcheck.checks.support.lora_layout import parse_key, scale_of
from sftcheck.checks.support.safetensors_header import Header, open_tensors


@dataclass(frozen=True)
class ModuleUpdate:
    module: str
    lora_b_zero: bool
    update_norm: float | None      # ‖scale·B·A‖_F
    relative: float | None         # update_norm / ‖W‖_F, when the base weight was read


def lora_pairs(header: Header) -> dict[str, dict[str, str]]:
    """module -> {"A": key, "B": key} for every LoRA-adapted module."""
    pairs: dict[str, dict[str, str]] = {}
    for name in header.tensors:
        k = parse_key(name)
        if k is None or k.part == "lora_magnitude_vector":
            continue
        pairs.setdefault(k.module, {})["A" if k.part.endswith("A") else "B"] = name
    return pairs


def _spread(items: list[str], n: int) -> set[str]:
    if n <= 0 or len(items) <= n:
        return set(items)
    step = len(items) / n
    return {items[int(i * step)] for i in range(n)}


def scan_updates(header: Header, adapter_config: Mapping[str, Any],
                 base_tensor: Callable[[str], Any] | None, max_norm_modules: int) -> list[ModuleUpdate]:
    """Per module: is lora_B all zero, and the (relative) update norm.

    Base weights are read (via ``base_tensor(module)``, one at a time) for at most
    ``max_norm_modules`` modules spread evenly over the model.
    """
    import torch

    pairs = lora_pairs(header)
    with_base = _spread(sorted(pairs), max_norm_modules) if base_tensor is not None else set()
    out = []
    with open_tensors(header) as get:
        for module, p in sorted(pairs.items()):
            if "B" not in p:
                continue
            b = get(p["B"]).double()
            zero = not bool(b.any())
            norm = rel = None
            if "A" in p:
                a = get(p["A"]).double()
                if a.dim() == 2 and b.dim() == 2:
                    gram = (b.T @ b) @ (a @ a.T)
                    norm = float(torch.sqrt(torch.clamp(torch.trace(gram), min=0.0))) * scale_of(
                        module, adapter_config)
                    if module in with_base and not zero:
                        w = base_tensor(module)
                        if w is not None:
                            wn = float(torch.linalg.vector_norm(w.double()))
                            rel = norm / wn if wn > 0 else None
            out.append(ModuleUpdate(module, zero, norm, rel))
    return out


@dataclass(frozen=True)
class UpdateSummary:
    """What ``scan_updates`` found, as ``artifact.lora_b_nonzero`` reports it."""
    zero: list[str]               # modules whose lora_B is all zero
    share: float                  # len(zero) / modules
    metrics: dict[str, Any]
    norm_text: str                # one sentence on the relative update norms ("" if none read)


def summarise_updates(updates: list[ModuleUpdate]) -> UpdateSummary:
    """All-zero lora_B share and the median / max relative update norm (``updates`` non-empty)."""
    zero = [u.module for u in updates if u.lora_b_zero]
    share = len(zero) / len(updates)
    rel = sorted(u.relative for u in updates if u.relative is not None)
    metrics = {"modules": len(updates), "zero_lora_b": len(zero), "zero_share": share,
               "relative_update_median": rel[len(rel) // 2] if rel else None,
               "relative_update_max": rel[-1] if rel else None, "relative_update_modules": len(rel)}
    norm_text = (f" Relative update ‖(α/r)BA‖/‖W‖: median {rel[len(rel) // 2]:.3g}, max {rel[-1]:.3g} "
                 f"over {len(rel)} modules." if rel else "")
    return UpdateSummary(zero, share, metrics, norm_text)


def nonfinite_counts(header: Header) -> list[tuple[str, int, int, int]]:
    """``(tensor, nan, +inf/-inf, numel)`` for every floating tensor with non-finite values."""
    import torch

    bad = []
    with open_tensors(header) as get:
        for name, info in header.tensors.items():
            if info.numel == 0:
                continue
            t = get(name)
            if not torch.is_floating_point(t):
                continue
            nan = int(torch.isnan(t).sum())
            inf = int(torch.isinf(t).sum())
            if nan or inf:
                bad.append((name, nan, inf, info.numel))
    return bad
