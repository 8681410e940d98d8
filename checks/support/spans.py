"""Span logic over label masks: where training starts and ends, contiguity, end tokens.

Pure functions of token ids and labels (``-100`` = not trained).
"""
from __future__ import annotations

from collections.abc import Sequence

from sftcheck.checks.support.rows import IGNORE

# End-of-turn markers of the common chat templates (only those present in a vocabulary count).
EOT_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>",
              "<|end_of_text|>", "<|eom_id|>")


def end_token_ids(tokenizer) -> frozenset[int]:
    """EOS plus the end-of-turn tokens this tokenizer has as single tokens."""
    ids: set[int] = set()
    if getattr(tokenizer, "eos_token_id", None) is not None:
        ids.add(int(tokenizer.eos_token_id))
    vocab = tokenizer.get_vocab()
    for tok in EOT_TOKENS:
        if tok in vocab:
            ids.add(int(vocab[tok]))
    return frozenset(ids)


def trained_positions(labels: Sequence[int]) -> list[int]:
    return [i for i, lab in enumerate(labels) if lab != IGNORE]


def trained_runs(labels: Sequence[int]) -> list[tuple[int, int]]:
    """Maximal runs ``[start, stop)`` of trained positions."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, lab in enumerate(labels):
        if lab != IGNORE and start is None:
            start = i
        elif lab == IGNORE and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(labels)))
    return runs


def first_trained(labels: Sequence[int]) -> int | None:
    return next((i for i, lab in enumerate(labels) if lab != IGNORE), None)


def last_trained(labels: Sequence[int]) -> int | None:
    return next((i for i in range(len(labels) - 1, -1, -1) if labels[i] != IGNORE), None)


def first_difference(a: Sequence[int], b: Sequence[int]) -> int | None:
    """Index of the first position where ``a`` and ``b`` differ (incl. one ending early)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def truncate(input_ids: Sequence[int], labels: Sequence[int], max_length: int) -> tuple[list[int], list[int]]:
    """Right truncation as trainers apply it (``input_ids[:max_length]``)."""
    return list(input_ids[:max_length]), list(labels[:max_length])
