"""How a saved LoRA adapter fits its base: factor shapes, per-target layer coverage and
vocabulary rows, computed from safetensors headers only (no payload is read).

Used by ``artifact.base_match`` (``shape_mismatches``), ``artifact.target_coverage``
(``coverage_by_target``) and ``artifact.vocab_consistent`` (``embedding_rows``,
``saved_vocab_matrices``, ``vocab_problems``); the checks decide what the numbers mean.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sftcheck.checks.support.base_identity import BaseInfo
from sftcheck.checks.support.lora_layout import (
    base_weight_name,
    is_embedding_name,
    is_head_name,
    layer_of,
    modules_to_save_keys,
    parse_key,
    rank_of,
    strip_prefix,
)
from sftcheck.checks.support.lora_payload import lora_pairs
from sftcheck.checks.support.safetensors_header import Header

# (tensor, shape, expected, why) — one row per LoRA tensor that does not fit the base
Mismatch = tuple[str, Any, Any, str]
# (target, adapted, in base, coverage, missing layers) — one row per target kind
Coverage = tuple[str, int, int, float, str]


def shape_mismatches(adapter_config: Mapping[str, Any], weights: Header,
                     base: BaseInfo) -> tuple[list[Mismatch], int]:
    """LoRA factors against the base weight shapes — lora_A [r, in], lora_B [out, r],
    lora_embedding_A [r, vocab], lora_embedding_B [dim, r] (``fan_in_fan_out`` swaps in / out)
    — and every adapted module's A / B pair complete.  Returns the mismatch rows and how
    many tensors were compared with a base shape (0 without base shapes)."""
    rows: list[Mismatch] = []
    checked = 0
    if base.shapes is not None:
        fan_in_fan_out = bool(adapter_config.get("fan_in_fan_out"))
        for name, t in weights.tensors.items():
            k = parse_key(name)
            if k is None or k.part == "lora_magnitude_vector":
                continue
            target = base_weight_name(k.module, base.shapes)
            if target is None:
                rows.append((name, list(t.shape), "-", f"the base has no weight {k.module}.weight"))
                continue
            w = base.shapes[target]
            if len(w) != 2:
                continue
            out_dim, in_dim = (w[1], w[0]) if fan_in_fan_out or k.part.startswith("lora_embedding") else w
            r = rank_of(k.module, adapter_config)
            want = {"lora_A": (r, in_dim), "lora_B": (out_dim, r), "lora_embedding_A": (r, w[0]),
                    "lora_embedding_B": (w[1], r)}[k.part]
            checked += 1
            if tuple(t.shape) != want:
                rows.append((name, list(t.shape), list(want), f"base {target} is {list(w)}, r = {r}"))
    for module, pair in lora_pairs(weights).items():  # 2 tensors per adapted module
        for part in ("A", "B"):
            if part not in pair:
                rows.append((f"{module}.lora_{part}", "missing", "present",
                             f"lora_{'B' if part == 'A' else 'A'} is saved without it"))
    return rows, checked


def coverage_by_target(adapter_config: Mapping[str, Any], weights: Header,
                       shapes: Mapping[str, tuple[int, ...]] | None) -> tuple[list[Coverage], float]:
    """Per target kind (``q_proj``…): adapted modules / base modules of that kind and the
    base layers left out.  Without base shapes the universe is the layers seen anywhere in
    the adapter.  Returns the rows (sorted by kind) and the worst coverage (1.0 if none)."""
    adapted: dict[str, set[str]] = {}
    for name in weights.tensors:
        k = parse_key(name)
        if k is not None and k.part in ("lora_A", "lora_embedding_A"):
            adapted.setdefault(k.kind, set()).add(k.module)
    targets = adapter_config.get("target_modules")
    kinds = set(adapted)
    if isinstance(targets, list):
        kinds |= {t for t in targets if "." not in t}
    base_by_kind: dict[str, set[str]] = {}
    for n in shapes or ():
        if n.endswith(".weight"):
            module = n[: -len(".weight")]
            base_by_kind.setdefault(module.rsplit(".", 1)[-1], set()).add(module)
    adapter_layers = {layer_of(m) for ks in adapted.values() for m in ks} - {None}
    rows: list[Coverage] = []
    worst = 1.0
    for kind in sorted(kinds):
        mods = adapted.get(kind, set())
        if shapes is not None:
            universe = base_by_kind.get(kind, set())
            have = {m for m in mods if base_weight_name(m, shapes)}
            all_layers = {layer_of(m) for m in universe}
        else:  # no base shapes: layers seen anywhere in the adapter
            universe, have, all_layers = adapter_layers or mods, mods, adapter_layers
        total = len(universe)
        if total == 0:
            continue
        cov = len(have) / total
        worst = min(worst, cov)
        missing = sorted(x for x in all_layers - {layer_of(m) for m in mods} if x is not None)
        rows.append((kind, len(have), total, round(cov, 4), ", ".join(map(str, missing[:40]))))
    return rows, worst


def embedding_rows(base: BaseInfo) -> int | None:
    """Rows of the base's input embedding: from its weight shapes, else ``vocab_size``."""
    return next((s[0] for n, s in (base.shapes or {}).items() if is_embedding_name(n) and len(s) == 2),
                base.config.get("vocab_size"))


def saved_vocab_matrices(weights: Header) -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of the 2-d embedding / head matrices saved whole (modules_to_save)."""
    return [(n, weights.tensors[n].shape) for n in modules_to_save_keys(list(weights.tensors))
            if (is_embedding_name(n) or is_head_name(n)) and len(weights.tensors[n].shape) == 2]


def vocab_problems(tokenizer_len: int, rows_base: int | None,
                   saved: list[tuple[str, tuple[int, ...]]]) -> list[str]:
    """One sentence per disagreement: more tokens than base embedding rows; a saved embedding /
    head whose rows differ from the base's or are fewer than the tokenizer's tokens."""
    problems = []
    if rows_base is not None and tokenizer_len > rows_base:
        problems.append(f"the tokenizer has {tokenizer_len} tokens but the base embedding has {rows_base} "
                        "rows: tokens were added without resize_token_embeddings (index errors / "
                        "CUDA asserts on the new ids)")
    for n, s in saved:
        if rows_base is not None and s[0] != rows_base:
            problems.append(f"{strip_prefix(n)} is saved with {s[0]} rows but the base has {rows_base}: "
                            "loading fails with a size mismatch unless the base is resized to "
                            f"{s[0]} first (vLLM refuses it)")
        if s[0] < tokenizer_len:
            problems.append(f"{strip_prefix(n)} has {s[0]} rows < {tokenizer_len} tokenizer tokens")
    return problems
