"""Paired base-vs-tuned statistics for the gates (scipy / statsmodels, no hand formulas).

Everything here is pure arithmetic on ``Scored`` lists: pairing by example id (missing or
duplicate ids raise ``PairingError`` - a gate computed on mismatched examples would be a
wrong verdict, not a weak one), Wilson intervals, the exact McNemar test on the
discordant pairs, Cohen's h, a paired bootstrap CI of the accuracy difference with a
fixed seed, and the n needed for 80 % power at the observed effect.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sftcheck.checks.support.samples import Outcome, Scored


class PairingError(ValueError):
    """Example ids cannot be paired (duplicates, or ids present on one side only)."""


def duplicate_ids(ids: Iterable[str]) -> list[str]:
    """Ids that occur more than once, sorted."""
    return sorted(k for k, n in Counter(ids).items() if n > 1)


def _sample(ids: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(repr(i) for i in list(ids)[:k])
    return shown + (f" … (+{len(ids) - k} more)" if len(ids) > k else "")


def require_unique(ids: Iterable[str], what: str) -> None:
    dup = duplicate_ids(ids)
    if dup:
        raise PairingError(f"{len(dup)} duplicate example id(s) in {what}: {_sample(dup)}")


def correct_vector(scored: Sequence[Scored], what: str = "scores") -> dict[str, bool]:
    """id -> correct? (unparsable counts as not correct).  Duplicate ids raise."""
    require_unique([s.id for s in scored], what)
    return {s.id: s.outcome is Outcome.CORRECT for s in scored}


@dataclass(frozen=True)
class Paired:
    """Paired 0/1 correctness of two models on the same example ids (sorted by id)."""
    ids: tuple[str, ...]
    base: np.ndarray   # bool
    tuned: np.ndarray  # bool

    @property
    def n(self) -> int:
        return len(self.ids)

    def table(self) -> list[list[int]]:
        """2x2 table rows = base correct/wrong, cols = tuned correct/wrong."""
        b, t = self.base, self.tuned
        return [[int(np.sum(b & t)), int(np.sum(b & ~t))],
                [int(np.sum(~b & t)), int(np.sum(~b & ~t))]]

    def discordant(self) -> tuple[int, int]:
        """(b, c): b = base right & tuned wrong, c = base wrong & tuned right."""
        t = self.table()
        return t[0][1], t[1][0]


def pair(base: Sequence[Scored], tuned: Sequence[Scored],
         expected_ids: Sequence[str] | None = None) -> Paired:
    """Pair base and tuned outcomes by example id; fail loudly on any mismatch.

    ``expected_ids`` (the eval file's ids) are checked for duplicates too, and both
    models must cover exactly those ids.
    """
    if expected_ids is not None:
        require_unique(expected_ids, "the eval data")
    bv = correct_vector(base, "the base model's scores")
    tv = correct_vector(tuned, "the tuned model's scores")
    problems = []
    only_base, only_tuned = sorted(set(bv) - set(tv)), sorted(set(tv) - set(bv))
    if only_base:
        problems.append(f"{len(only_base)} id(s) scored for base but not tuned: {_sample(only_base)}")
    if only_tuned:
        problems.append(f"{len(only_tuned)} id(s) scored for tuned but not base: {_sample(only_tuned)}")
    if expected_ids is not None:
        missing = sorted(set(expected_ids) - set(bv) - set(tv))
        if missing:
            problems.append(f"{len(missing)} eval id(s) scored for neither model: {_sample(missing)}")
    if problems:
        raise PairingError("; ".join(problems))
    ids = tuple(sorted(bv))
    return Paired(ids, np.array([bv[i] for i in ids], dtype=bool),
                  np.array([tv[i] for i in ids], dtype=bool))


def wilson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for k successes of n (statsmodels ``proportion_confint``)."""
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return (0.0, 1.0)
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return (float(lo), float(hi))


@dataclass(frozen=True)
class McNemar:
    b: int
    c: int
    pvalue: float
    statistic: float


def mcnemar_exact(b: int, c: int) -> McNemar:
    """Exact (binomial) McNemar test on the discordant counts; b + c = 0 gives p = 1."""
    from statsmodels.stats.contingency_tables import mcnemar

    if b + c == 0:
        return McNemar(b, c, 1.0, 0.0)
    r = mcnemar([[0, b], [c, 0]], exact=True)
    return McNemar(b, c, float(r.pvalue), float(r.statistic))


def cohens_h(p_tuned: float, p_base: float) -> float:
    """Cohen's h = 2 asin sqrt(p_tuned) - 2 asin sqrt(p_base) (statsmodels)."""
    from statsmodels.stats.proportion import proportion_effectsize

    return float(proportion_effectsize(p_tuned, p_base))


def n_for_power(h: float, alpha: float = 0.01, power: float = 0.8) -> float:
    """Examples per model needed to detect effect ``|h|`` with ``power`` at ``alpha``
    (two-sided, statsmodels ``NormalIndPower``; conservative for a paired design).
    ``inf`` when h = 0."""
    from statsmodels.stats.power import NormalIndPower

    if not math.isfinite(h) or abs(h) < 1e-9:
        return math.inf
    return float(NormalIndPower().solve_power(effect_size=abs(h), alpha=alpha, power=power,
                                              ratio=1.0, alternative="two-sided"))


_RUN_KEEPS_FROZEN = False


def run_keeps_frozen(flag: bool) -> None:
    """Told by a run that froze its long-lived objects (``sftcheck.gc_freeze``) and keeps them
    frozen to its end: :func:`holm` then need not ask ``gc.get_freeze_count()``, which walks
    every frozen object (~0.05 s per call over torch & co.; seven calls in the demo)."""
    global _RUN_KEEPS_FROZEN
    _RUN_KEEPS_FROZEN = flag


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (statsmodels ``multipletests(method="holm")``).

    statsmodels' Holm branch ends with ``gc.collect()``: a full collection, which in a process
    holding torch and transformers walks ~0.5 M objects (0.06-0.25 s per call, four calls in the
    demo).  Everything alive is frozen first (``gc.freeze``), so that collection only looks at
    what was made since; when nothing was frozen before (a library caller), it is unfrozen
    again afterwards, else it stays frozen like the rest of the run (``sftcheck.gc_freeze``)."""
    import gc

    from statsmodels.stats.multitest import multipletests

    if not pvalues:
        return []
    was_frozen = _RUN_KEEPS_FROZEN or gc.get_freeze_count() > 0
    gc.freeze()
    try:
        return [float(p) for p in multipletests(list(pvalues), method="holm")[1]]
    finally:
        if not was_frozen:
            gc.unfreeze()


def min_discordant(alpha: float = 0.01) -> int:
    """The fewest discordant pairs, all one way, for which the exact McNemar p < ``alpha``
    (a floor on n that the normal power approximation misses at very large effects)."""
    m = 1
    while mcnemar_exact(0, m).pvalue >= alpha and m < 10_000:
        m += 1
    return m


def bootstrap_diff_ci(paired: Paired, *, n_resamples: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Paired percentile bootstrap CI of accuracy(tuned) - accuracy(base) (scipy),
    resampling examples (pairs) with a fixed seed: the same input gives the same CI."""
    from scipy.stats import bootstrap

    if paired.n == 0:
        return (math.nan, math.nan)
    base = paired.base.astype(float)
    tuned = paired.tuned.astype(float)
    diff = tuned - base
    if np.all(diff == diff[0]):  # degenerate: every resample gives the same difference
        return (float(diff[0]), float(diff[0]))
    res = bootstrap((base, tuned), lambda b, t, axis=-1: t.mean(axis=axis) - b.mean(axis=axis),
                    paired=True, vectorized=True, n_resamples=n_resamples,
                    confidence_level=confidence, method="percentile",
                    rng=np.random.default_rng(seed))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


@dataclass(frozen=True)
class PairedSummary:
    n: int
    acc_base: float
    acc_tuned: float
    ci_base: tuple[float, float]
    ci_tuned: tuple[float, float]
    diff: float
    diff_ci: tuple[float, float]
    b: int
    c: int
    pvalue: float
    h: float
    n_needed: float

    def as_metrics(self) -> dict:
        return {
            "n": self.n, "accuracy_base": self.acc_base, "accuracy_tuned": self.acc_tuned,
            "wilson_base": list(self.ci_base), "wilson_tuned": list(self.ci_tuned),
            "difference": self.diff, "bootstrap_diff_ci": list(self.diff_ci),
            "discordant_base_only": self.b, "discordant_tuned_only": self.c,
            "mcnemar_p": self.pvalue, "cohens_h": self.h,
            "n_for_80pct_power": self.n_needed if math.isfinite(self.n_needed) else "inf",
        }

    def rows(self) -> tuple[tuple, ...]:
        def ci(c):
            return f"[{c[0]:.3f}, {c[1]:.3f}]"
        need = f"{math.ceil(self.n_needed)}" if math.isfinite(self.n_needed) else "∞ (no effect)"
        return (
            ("examples (paired)", self.n),
            ("accuracy base (Wilson 95 %)", f"{self.acc_base:.3f} {ci(self.ci_base)}"),
            ("accuracy tuned (Wilson 95 %)", f"{self.acc_tuned:.3f} {ci(self.ci_tuned)}"),
            ("difference (paired bootstrap 95 %)", f"{self.diff:+.3f} {ci(self.diff_ci)}"),
            ("discordant: base right, tuned wrong (b)", self.b),
            ("discordant: base wrong, tuned right (c)", self.c),
            ("exact McNemar p", f"{self.pvalue:.3g}"),
            ("Cohen's h", f"{self.h:.3f}"),
            ("n per model for 80 % power (alpha 0.01; at least the exact test's minimum)", need),
        )


def summarize(paired: Paired, *, alpha: float = 0.01, power: float = 0.8,
              n_resamples: int = 2000, seed: int = 0) -> PairedSummary:
    n = paired.n
    kb, kt = int(paired.base.sum()), int(paired.tuned.sum())
    acc_b = kb / n if n else math.nan
    acc_t = kt / n if n else math.nan
    b, c = paired.discordant()
    h = cohens_h(acc_t, acc_b) if n else math.nan
    return PairedSummary(
        n=n, acc_base=acc_b, acc_tuned=acc_t, ci_base=wilson(kb, n), ci_tuned=wilson(kt, n),
        diff=acc_t - acc_b, diff_ci=bootstrap_diff_ci(paired, n_resamples=n_resamples, seed=seed),
        b=b, c=c, pvalue=mcnemar_exact(b, c).pvalue, h=h,
        n_needed=max(n_for_power(h, alpha, power), float(min_discordant(alpha))))
