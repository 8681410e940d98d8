"""How scores relate to output length.  Observed (``behaviour.length_bias``: scipy's
Spearman ρ of the tuned outputs' scores and lengths within each correctness class, overall,
by finish reason and by length quartile) and by intervention (``scoring.length_flip``: every
model's outputs on every eval set rescored cut after their answer and padded, the verdicts
that flip)."""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

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


# ---------------------------------------------------------------- rescoring at another length
# ``scoring.length_flip``: the same outputs rescored cut right after their answer and padded
# past a length (the reported "> 500 characters = failure" heuristic): a verdict that changes
# although the answer did not is a verdict on length.

PAD_TO = 600          # characters an output is padded to (past a 500-character cut-off)
PAD_LINE = "\nThis line only pads the response to test the scorer's length sensitivity."


def truncated(text: str, pattern: str) -> str | None:
    """``text`` cut right after its answer (the end of ``pattern``'s first match); None when
    there is no answer to keep or nothing after it to cut."""
    import re

    m = re.search(pattern, text, flags=re.DOTALL)
    if m is None or m.end() >= len(text.rstrip()):
        return None
    return text[:m.end()]


def padded(text: str, to: int = PAD_TO) -> str:
    """``text`` followed by neutral filler lines up to at least ``to`` characters."""
    n = max(1, -(-(to - len(text)) // len(PAD_LINE)))
    return text + PAD_LINE * n


@dataclass(frozen=True)
class Flip:
    id: str
    how: str              # "truncated" / "padded"
    before: str           # the verdict on the output as generated
    after: str            # the verdict on the perturbed output
    length_before: int
    length_after: int
    text_after: str


@dataclass(frozen=True)
class LengthFlips:
    """One model on one eval set: its outputs rescored truncated and padded."""
    model: str
    eval_set: str
    scorer: str           # what gave the verdict (the configured scorer, or the answer parse + gold)
    n: int                # outputs rescored padded
    n_truncated: int      # outputs with text after the answer, rescored cut after it
    flips: tuple[Flip, ...] = ()
    error: str | None = None

    def count(self, how: str) -> int:
        return sum(f.how == how for f in self.flips)

    @property
    def rate(self) -> float:
        checked = self.n + self.n_truncated
        return len(self.flips) / checked if checked else 0.0
