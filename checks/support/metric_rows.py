"""One row of a suite summary (a suite x a metric, base vs tuned) and the paired proportion
statistics behind it: Wilson intervals, exact McNemar, Cohen's h, a paired bootstrap of the
change. Shared by the suite kinds and the conversation suites."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from sftcheck.checks.support.samples import Scored
from sftcheck.checks.support.stats import Paired, bootstrap_diff_ci, cohens_h, mcnemar_exact, pair, wilson

ALPHA = 0.05                 # significance level of the summary's "not significant" flag


@dataclass(frozen=True)
class MetricRow:
    """One row of the summary table: one suite x one metric, base vs tuned."""
    suite: str
    metric: str
    base: float
    tuned: float
    change: float                                   # tuned - base, or tuned / base for rates of work
    change_kind: str = "difference"                 # "difference" or "ratio"
    base_ci: tuple[float, float] | None = None      # Wilson 95 % (proportions)
    tuned_ci: tuple[float, float] | None = None
    change_ci: tuple[float, float] | None = None    # paired bootstrap 95 % of the difference
    pvalue: float | None = None
    test: str = ""                                  # which test gave ``pvalue``
    effect: float | None = None                     # Cohen's h (proportions)
    n: int = 0
    flags: tuple[str, ...] = ()

    @property
    def significant(self) -> bool | None:
        return None if self.pvalue is None else self.pvalue < ALPHA

    def as_dict(self) -> dict:
        return {"suite": self.suite, "metric": self.metric, "base": self.base, "tuned": self.tuned,
                "change": self.change, "change_kind": self.change_kind,
                "base_ci": list(self.base_ci) if self.base_ci else None,
                "tuned_ci": list(self.tuned_ci) if self.tuned_ci else None,
                "change_ci": list(self.change_ci) if self.change_ci else None,
                "p": self.pvalue, "test": self.test, "cohens_h": self.effect, "n": self.n,
                "significant": self.significant, "flags": list(self.flags)}


def paired_outcomes(base: Sequence[Scored], tuned: Sequence[Scored], hit) -> Paired:
    """Pair by id (``stats.pair`` checks the ids) with ``hit(scored)`` as the 0/1 outcome."""
    ids = pair(base, tuned).ids
    b, t = {s.id: hit(s) for s in base}, {s.id: hit(s) for s in tuned}
    return Paired(ids, np.array([b[i] for i in ids], dtype=bool), np.array([t[i] for i in ids], dtype=bool))


def proportion_row(suite: str, metric: str, paired: Paired) -> MetricRow:
    n = paired.n
    kb, kt = int(paired.base.sum()), int(paired.tuned.sum())
    pb, pt = (kb / n, kt / n) if n else (math.nan, math.nan)
    b, c = paired.discordant()
    p = mcnemar_exact(b, c).pvalue
    row = MetricRow(suite, metric, pb, pt, pt - pb, base_ci=wilson(kb, n), tuned_ci=wilson(kt, n),
                    change_ci=bootstrap_diff_ci(paired) if n else None, pvalue=p,
                    test="exact McNemar", effect=cohens_h(pt, pb) if n else None, n=n)
    return _flag(row)


def _flag(row: MetricRow) -> MetricRow:
    flags = list(row.flags)
    if row.significant is False and row.change != 0:
        flags.append("not significant")
    return replace(row, flags=tuple(flags))
