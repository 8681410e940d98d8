"""Per-component reward statistics, base vs tuned (scipy / statsmodels, no hand formulas).

Input is what a scorer backend returned per model: ``{id: reward}`` where a reward has a
``total`` and named ``components`` (``sftcheck.scorers.Reward``; any object with those two
attributes).  ``reward`` (the total) is always the first component.  For every component
and model: n, mean, median, std, min, max, a 95 % interval of the mean (Wilson for a 0/1
component, a seeded percentile bootstrap otherwise) and the share of items at each
distinct value.  ``collapsed`` says when one value holds (almost) every item.
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TOTAL = "reward"
MAX_VALUES = 8  # distinct values listed per component


def component_values(rewards: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``{component: {id: value}}`` with the total first (named ``reward``)."""
    out: dict[str, dict[str, float]] = {TOTAL: {}}
    for key, r in rewards.items():
        out[TOTAL][key] = float(r.total)
        for name, v in r.components.items():
            name = name if name != TOTAL else "reward (component)"
            out.setdefault(name, {})[key] = float(v)
    return out


@dataclass(frozen=True)
class ComponentStats:
    name: str
    model: str
    n: int
    mean: float
    median: float
    std: float
    min: float
    max: float
    ci: tuple[float, float]
    ci_method: str
    shares: tuple[tuple[float, float], ...]  # (value, share of items), commonest first

    @property
    def top_share(self) -> float:
        return self.shares[0][1] if self.shares else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "median": self.median, "std": self.std, "min": self.min,
                "max": self.max, "ci95": list(self.ci), "ci_method": self.ci_method,
                "shares": {f"{v:g}": s for v, s in self.shares}}


def _mean_ci(values: Sequence[float], binary: bool) -> tuple[tuple[float, float], str]:
    from sftcheck.checks.support.stats import wilson

    n = len(values)
    if binary:
        return wilson(int(sum(values)), n), "Wilson (0/1 component)"
    if n < 2 or len(set(values)) == 1:
        m = statistics.fmean(values)
        return (m, m), "none (every value equal)" if n >= 2 else "none (one value)"
    import numpy as np
    from scipy.stats import bootstrap

    res = bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=2000, method="percentile",
                    confidence_level=0.95, random_state=np.random.default_rng(0))
    return (float(res.confidence_interval.low), float(res.confidence_interval.high)), "bootstrap percentile"


def describe(name: str, model: str, values: Sequence[float], binary: bool | None = None) -> ComponentStats | None:
    """``binary``: a 0/1 component (default: every value here is 0 or 1)."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return None
    counts = Counter(values).most_common()
    ci, method = _mean_ci(values, set(values) <= {0.0, 1.0} if binary is None else binary)
    return ComponentStats(name, model, n, statistics.fmean(values), statistics.median(values),
                          statistics.stdev(values) if n > 1 else 0.0, min(values), max(values), ci, method,
                          tuple((v, c / n) for v, c in counts[:MAX_VALUES]))


def all_stats(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, ComponentStats]]:
    """``{component: {model: ComponentStats}}`` for ``runs = {model: {id: reward}}``."""
    out: dict[str, dict[str, ComponentStats]] = {}
    values = {model: component_values(rewards) for model, rewards in runs.items()}
    seen: dict[str, set[float]] = {}
    for by_name in values.values():
        for name, by_id in by_name.items():
            seen.setdefault(name, set()).update(by_id.values())
    for model, by_name in values.items():
        for name, by_id in by_name.items():
            st = describe(name, model, list(by_id.values()), binary=seen[name] <= {0.0, 1.0})
            if st is not None:
                out.setdefault(name, {})[model] = st
    return out


def collapsed(st: ComponentStats, *, max_top_share: float = 0.9) -> bool:
    """One value holds every item (std 0) or at least ``max_top_share`` of them."""
    return st.n >= 2 and (st.std == 0.0 or st.top_share >= max_top_share)


def stats_table(stats: Mapping[str, Mapping[str, ComponentStats]]):
    """One row per component and model."""
    from sftcheck.checks.support.result import Table

    rows = []
    for name, by_model in stats.items():
        for model, st in by_model.items():
            shares = ", ".join(f"{v:g}: {s:.0%}" for v, s in st.shares[:4])
            rows.append((name, model, st.n, round(st.mean, 4), f"[{st.ci[0]:.3g}, {st.ci[1]:.3g}]",
                         round(st.median, 4), round(st.std, 4), round(st.min, 4), round(st.max, 4), shares))
    return Table("reward components per model (95 % interval of the mean)",
                 ("component", "model", "n", "mean", "95 % CI", "median", "std", "min", "max",
                  "share at each value"), tuple(rows))


def comparison_table(stats: Mapping[str, Mapping[str, ComponentStats]]):
    """component | base mean | tuned mean | change."""
    from sftcheck.checks.support.result import Table

    rows = []
    for name, by_model in stats.items():
        b, t = by_model.get("base"), by_model.get("tuned")
        rows.append((name, round(b.mean, 4) if b else "", round(t.mean, 4) if t else "",
                     f"{t.mean - b.mean:+.4g}" if b and t else ""))
    return Table("reward components: base vs tuned (means)", ("component", "base", "tuned", "change"),
                 tuple(rows))
