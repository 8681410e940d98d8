"""Plain data and pure arithmetic for N models evaluated side by side (``[models.<name>]``).

``ModelRuns`` is what the runtime (``sftcheck.nway.runner``) produces: per model and eval set
(the eval file, each suite, the gap sentinel's cued prompts) one generation pass and its
scored outputs, and per model the reason it could not run, if any.  ``nway_rows`` gives the
N-way table of one set (accuracy with a Wilson interval, response length, throughput);
``pairwise`` every pair's exact McNemar test on the shared items with Holm's correction
(statsmodels ``multipletests``) and Cohen's h.
"""
from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sftcheck.checks.support.samples import GenerationSet, Outcome, Scored
from sftcheck.checks.support.stats import cohens_h, holm, mcnemar_exact, wilson

MAIN = "[data] eval"        # the eval file, with the run's prompt
CUED = "[data] eval + cue"  # the same rows in the gap gate's cue template (sentinel)
ROLE_ORDER = ("base", "tuned", "reference", "alternative")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    role: str
    described: str          # where it comes from (path, adapter on base, served name)


@dataclass(frozen=True)
class ModelEval:
    """One model on one eval set."""
    model: str
    role: str
    eval_set: str
    generations: GenerationSet
    scored: tuple[Scored, ...]

    def correct(self) -> dict[str, bool]:
        return {s.id: s.outcome is Outcome.CORRECT for s in self.scored}


@dataclass(frozen=True)
class ModelRuns:
    models: tuple[ModelInfo, ...] = ()
    sets: tuple[str, ...] = ()
    runs: Mapping[tuple[str, str], ModelEval] = field(default_factory=dict)  # (model, set) -> run
    errors: Mapping[str, str] = field(default_factory=dict)                  # model -> why it did not run
    set_notes: Mapping[str, str] = field(default_factory=dict)               # set -> why it is not in the table

    def with_role(self, role: str) -> list[ModelInfo]:
        return [m for m in self.models if m.role == role]

    def get(self, model: str, eval_set: str) -> ModelEval | None:
        return self.runs.get((model, eval_set))

    def in_set(self, eval_set: str) -> list[ModelEval]:
        order = {m.name: i for i, m in enumerate(self.models)}
        return sorted((r for (_, s), r in self.runs.items() if s == eval_set), key=lambda r: order.get(r.model, 0))


@dataclass(frozen=True)
class NWayRow:
    model: str
    role: str
    n: int
    correct: int
    accuracy: float
    ci: tuple[float, float]
    unparsable: float
    mean_tokens: float
    mean_chars: float
    examples_per_s: float
    tokens_per_s: float

    def as_dict(self) -> dict:
        return {"model": self.model, "role": self.role, "n": self.n, "correct": self.correct,
                "accuracy": self.accuracy, "wilson_95": list(self.ci), "unparsable_rate": self.unparsable,
                "mean_response_tokens": _finite(self.mean_tokens), "mean_response_chars": _finite(self.mean_chars),
                "examples_per_s": _finite(self.examples_per_s), "tokens_per_s": _finite(self.tokens_per_s)}


def _finite(x: float) -> float | None:
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def nway_row(run: ModelEval) -> NWayRow:
    n = len(run.scored)
    k = sum(s.outcome is Outcome.CORRECT for s in run.scored)
    bad = sum(s.outcome is Outcome.UNPARSABLE for s in run.scored)
    items = run.generations.items
    secs = run.generations.wall_seconds
    toks = [g.new_tokens for g in items]
    return NWayRow(run.model, run.role, n, k, k / n if n else math.nan, wilson(k, n), bad / n if n else math.nan,
                   statistics.fmean(toks) if toks else math.nan,
                   statistics.fmean(len(g.text) for g in items) if items else math.nan,
                   len(items) / secs if secs > 0 else math.nan, sum(toks) / secs if secs > 0 else math.nan)


@dataclass(frozen=True)
class PairRow:
    """Two models on the items both were scored on: ``first`` vs ``second``."""
    eval_set: str
    first: str
    second: str
    n: int
    acc_first: float
    acc_second: float
    first_only: int          # first right, second wrong
    second_only: int         # second right, first wrong
    pvalue: float            # exact McNemar
    p_holm: float            # Holm-adjusted within the set
    h: float                 # Cohen's h of acc_first vs acc_second

    @property
    def difference(self) -> float:
        return self.acc_first - self.acc_second

    def as_dict(self) -> dict:
        return {"set": self.eval_set, "first": self.first, "second": self.second, "n": self.n,
                "accuracy_first": self.acc_first, "accuracy_second": self.acc_second,
                "difference": self.difference, "first_only": self.first_only, "second_only": self.second_only,
                "mcnemar_p": self.pvalue, "p_holm": self.p_holm, "cohens_h": self.h}


def paired_counts(a: ModelEval, b: ModelEval) -> tuple[int, float, float, int, int]:
    """(n shared, acc a, acc b, a-only right, b-only right) on the ids both were scored on."""
    ca, cb = a.correct(), b.correct()
    ids = sorted(set(ca) & set(cb))
    n = len(ids)
    if not n:
        return 0, math.nan, math.nan, 0, 0
    a_only = sum(ca[i] and not cb[i] for i in ids)
    b_only = sum(cb[i] and not ca[i] for i in ids)
    return n, sum(ca[i] for i in ids) / n, sum(cb[i] for i in ids) / n, a_only, b_only


def pair_order(a: ModelEval, b: ModelEval) -> tuple[ModelEval, ModelEval]:
    """A pair is reported tuned-first, then reference, alternative, base (the later role second)."""
    rank = {"tuned": 0, "reference": 1, "alternative": 2, "base": 3}
    return (a, b) if rank.get(a.role, 9) <= rank.get(b.role, 9) else (b, a)


def pairwise(runs: Sequence[ModelEval]) -> list[PairRow]:
    """Every pair of ``runs`` (one eval set): exact McNemar, Holm over the set's pairs."""
    raw = []
    for a, b in itertools.combinations(runs, 2):
        first, second = pair_order(a, b)
        n, pa, pb, a_only, b_only = paired_counts(first, second)
        p = mcnemar_exact(a_only, b_only).pvalue if n else math.nan
        h = cohens_h(pa, pb) if n else math.nan
        raw.append((first, second, n, pa, pb, a_only, b_only, p, h))
    ps = [r[7] for r in raw if math.isfinite(r[7])]
    adjusted = holm(ps)
    out = []
    for first, second, n, pa, pb, a_only, b_only, p, h in raw:
        adj = adjusted.pop(0) if math.isfinite(p) else math.nan
        out.append(PairRow(first.eval_set, first.model, second.model, n, pa, pb, a_only, b_only, p, adj, h))
    return out


def find_pair(rows: Sequence[PairRow], first: str, second: str) -> PairRow | None:
    for r in rows:
        if (r.first, r.second) == (first, second):
            return r
        if (r.second, r.first) == (first, second):
            return PairRow(r.eval_set, first, second, r.n, r.acc_second, r.acc_first, r.second_only, r.first_only,
                           r.pvalue, r.p_holm, -r.h)
    return None


def fmt(x: float, digits: int = 3) -> str:
    return "n/a" if not isinstance(x, (int, float)) or not math.isfinite(x) else f"{x:.{digits}f}"


def table_rows(rows: Sequence[NWayRow]) -> tuple[tuple, ...]:
    return tuple((r.model, r.role, r.n, f"{fmt(r.accuracy)} [{fmt(r.ci[0])}, {fmt(r.ci[1])}]", fmt(r.unparsable),
                  fmt(r.mean_tokens, 1), fmt(r.mean_chars, 1), fmt(r.examples_per_s, 1), fmt(r.tokens_per_s, 1))
                 for r in rows)


TABLE_COLUMNS = ("model", "role", "n", "accuracy (Wilson 95 %)", "unparsable", "mean tokens", "mean chars",
                 "examples/s", "tokens/s")
PAIR_COLUMNS = ("first", "second", "n", "accuracy first", "accuracy second", "first only right",
                "second only right", "exact McNemar p", "Holm p", "Cohen's h")


def pair_rows(rows: Sequence[PairRow]) -> tuple[tuple, ...]:
    return tuple((r.first, r.second, r.n, fmt(r.acc_first), fmt(r.acc_second), r.first_only, r.second_only,
                  f"{r.pvalue:.3g}", f"{r.p_holm:.3g}", fmt(r.h, 2)) for r in rows)
