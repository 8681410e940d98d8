"""How the tuned outputs' scores relate to their length (scipy's Spearman ρ), for
``behaviour.length_bias``: within each correctness class, overall, by finish reason and by
length quartile."""
from __future__ import annotations

import itertools
from collections.abc import Sequence

from sftcheck.checks.support.samples import Outcome

# (score, length in characters, outcome value, finish reason value) per scored output
Row = tuple[float, int, str, str]


def mean_by_finish(rows: Sequence[Row]) -> dict[str, float]:
    by_reason: dict[str, list[float]] = {}
    for score, _, _, reason in rows:
        by_reason.setdefault(reason, []).append(score)
    return {k: sum(v) / len(v) for k, v in by_reason.items()}


def overall_rho(scores: Sequence[float], lengths: Sequence[int]) -> tuple[float, float] | None:
    """(ρ, p) over all outputs, or None when scores or lengths do not vary."""
    from scipy.stats import spearmanr

    if len(set(scores)) > 1 and len(set(lengths)) > 1:
        overall = spearmanr(scores, lengths)
        return float(overall.statistic), float(overall.pvalue)
    return None


def rho_within_class(rows: Sequence[Row], min_examples: int) -> list[tuple[str, int, float, float]]:
    """(class, n, ρ, p) for each correctness class with ``min_examples`` outputs whose scores
    and lengths both vary."""
    from scipy.stats import spearmanr

    per_class: list[tuple[str, int, float, float]] = []
    for cls in (o.value for o in Outcome):
        sub = [(r[0], r[1]) for r in rows if r[2] == cls]
        if len(sub) >= min_examples and len({x for x, _ in sub}) > 1 and len({n for _, n in sub}) > 1:
            res = spearmanr([x for x, _ in sub], [n for _, n in sub])
            per_class.append((cls, len(sub), float(res.statistic), float(res.pvalue)))
    return per_class


def mean_by_length_quartile(scores: Sequence[float], lengths: Sequence[int]) -> list[tuple[str, int, float]]:
    """("lo..hi" chars, n, mean score) for each non-empty length quartile."""
    q = sorted(lengths)
    edges = [-1, *(q[int(len(q) * f)] for f in (0.25, 0.5, 0.75)), max(lengths)]
    out = []
    for lo, hi in itertools.pairwise(edges):
        vals = [s for s, n in zip(scores, lengths) if lo < n <= hi]
        if vals:
            out.append((f"{lo + 1}..{hi}", len(vals), round(sum(vals) / len(vals), 4)))
    return out
