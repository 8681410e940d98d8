"""Win-rate suites (``kind = "winrate"``): a pairwise judge against a reference output,
called in both orders, the raw and the length-controlled win rate, the judge's length
preference and its agreement with human pairwise labels.

Per model and example the judge is asked twice, ``judge(instruction, model, reference)`` and
``judge(instruction, reference, model)``; each call gives the model a score in [0, 1] (win 1,
tie 0.5, loss 0, or the judge's probability) and the example's score is their mean, which
cancels a judge that prefers one position.  The win rate is the mean example score.

Length control follows AlpacaEval 2 (Dubois et al. 2024, ``glm_winrate``): a logistic GLM of
the per-call preference on ``tanh(length difference / its standard deviation)`` (statsmodels
``GLM``, binomial family, fractional outcomes); the length-controlled win rate is the
model's predicted preference with the length term set to zero, ``sigmoid(intercept)``.  The
instruction-difficulty term of AlpacaEval's GLM needs many models per instruction and is
left out.  All functions take ``model name -> ...`` mappings, so N models work the same way.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.05


def verdict_score(value) -> float | None:
    """The score of the FIRST answer ``a`` from a judge's return: ``"a"`` 1, ``"b"`` 0,
    ``"tie"`` 0.5, or a number in [0, 1] (the probability that ``a`` is better); None if
    it is none of these."""
    if isinstance(value, str):
        return {"a": 1.0, "b": 0.0, "tie": 0.5, "1": 1.0, "2": 0.0}.get(value.strip().lower())
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
        return float(value)
    return None


def human_score(value) -> float | None:
    """A human preference for ``output_1`` as a score: AlpacaEval's ``preference`` 1 (output_1
    better) -> 1, 2 -> 0, 1.5 -> 0.5 (tie), or ``"a"`` / ``"b"`` / ``"tie"``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1.0 <= float(value) <= 2.0:
        return 2.0 - float(value)
    if isinstance(value, str):
        return verdict_score(value)
    return None


@dataclass(frozen=True)
class Judged:
    """One example of one model: the model's score with its output first / second."""
    id: str
    first: float           # judge(instruction, model, reference) -> the model's score
    second: float          # judge(instruction, reference, model) -> the model's score
    model_chars: int
    reference_chars: int

    @property
    def score(self) -> float:
        return (self.first + self.second) / 2

    @property
    def consistent(self) -> bool:
        """The judge picked the same answer in both orders (both ties count as consistent)."""
        return _side(self.first) == _side(self.second)


def _side(s: float) -> int:
    return 0 if s == 0.5 else (1 if s > 0.5 else -1)


@dataclass(frozen=True)
class WinrateData:
    judge: str                                         # the judge hook, in words
    judged: Mapping[str, Sequence[Judged]]             # model -> its examples
    errors: Mapping[str, str] = field(default_factory=dict)   # "model/id" -> the judge's failure
    human: Sequence[tuple[str, float, float]] = ()     # (pair id, human score, judge score) of output_1
    human_errors: Mapping[str, str] = field(default_factory=dict)


def win_rate(judged: Sequence[Judged]) -> float:
    return float(np.mean([j.score for j in judged])) if judged else math.nan


def bootstrap_mean_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap 95 % interval of a mean (scipy, fixed seed)."""
    from scipy.stats import bootstrap

    arr = np.asarray(values, dtype=float)
    if len(arr) < 2:
        return None
    if np.all(arr == arr[0]):
        return (float(arr[0]), float(arr[0]))
    res = bootstrap((arr,), np.mean, n_resamples=2000, method="percentile", random_state=seed)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass(frozen=True)
class LengthControl:
    lc_win_rate: float            # sigmoid(intercept): the win rate at equal length
    length_coef: float            # coefficient of tanh(length difference / sd)
    length_p: float               # its Wald p-value (nan when not estimable)
    separated: bool               # the verdicts are perfectly explained by length (no finite fit)
    note: str = ""


def length_controlled(judged: Sequence[Judged]) -> LengthControl:
    """AlpacaEval-2-style length-controlled win rate of one model (see the module doc)."""
    # the modules themselves, not statsmodels.api (which imports every model: +0.25 CPU-s)
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning
    from statsmodels.tools.tools import add_constant

    y = np.array([s for j in judged for s in (j.first, j.second)], dtype=float)
    diff = np.array([j.model_chars - j.reference_chars for j in judged for _ in (0, 1)], dtype=float)
    if len(y) < 4:
        return LengthControl(math.nan, math.nan, math.nan, False, "fewer than 2 examples")
    sd = float(np.std(diff))
    if sd == 0:
        return LengthControl(float(np.mean(y)), 0.0, math.nan, False, "no length difference varies")
    x = add_constant(np.tanh(diff / sd), has_constant="add")
    family = families.Binomial()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PerfectSeparationWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            fit = GLM(y, x, family=family).fit()
        b0, b1, p = float(fit.params[0]), float(fit.params[1]), float(fit.pvalues[1])
        if abs(b1) < 20 and math.isfinite(b0):
            return LengthControl(_sigmoid(b0), b1, p if math.isfinite(p) else math.nan, False)
    except (PerfectSeparationError, PerfectSeparationWarning, np.linalg.LinAlgError, ValueError):
        pass
    # the verdicts are (close to) perfectly separated by length: the GLM has no finite
    # maximum; a small ridge penalty keeps the intercept finite (no p-value then)
    fit = GLM(y, x, family=family).fit_regularized(alpha=1e-2, L1_wt=0.0)
    return LengthControl(_sigmoid(float(fit.params[0])), float(fit.params[1]), math.nan, True,
                         "the verdicts are separated by length: ridge fit (alpha 0.01), no p-value")


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + math.exp(-z))) if z > -700 else 0.0


@dataclass(frozen=True)
class LongerWins:
    longer: int       # decisive calls won by the longer answer
    decisive: int     # decisive calls between answers of different length
    share: float
    pvalue: float     # exact binomial test of share = 0.5


def longer_wins(judged: Sequence[Judged]) -> LongerWins:
    """How often the judge's decisive call (not a tie) went to the longer answer."""
    from scipy.stats import binomtest

    k = n = 0
    for j in judged:
        d = j.model_chars - j.reference_chars
        for s in (j.first, j.second):
            if d == 0 or s == 0.5:
                continue
            n += 1
            k += (s > 0.5) == (d > 0)
    return LongerWins(k, n, k / n if n else math.nan, float(binomtest(k, n).pvalue) if n else 1.0)


def paired_scores(judged: Mapping[str, Sequence[Judged]], a: str, b: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Example ids both models were judged on, and their example scores."""
    sa, sb = ({j.id: j.score for j in judged.get(m, ())} for m in (a, b))
    ids = sorted(set(sa) & set(sb))
    return ids, np.array([sa[i] for i in ids]), np.array([sb[i] for i in ids])


def paired_pvalue(x: np.ndarray, y: np.ndarray) -> float:
    """Wilcoxon signed-rank (scipy, zero differences split) of paired example scores."""
    from scipy.stats import wilcoxon

    if not len(x) or np.all(x == y):
        return 1.0
    return float(wilcoxon(y, x, zero_method="zsplit").pvalue)


def paired_diff_ci(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    """Paired bootstrap 95 % interval of mean(y - x)."""
    return bootstrap_mean_ci(list(y - x), seed)


def agreement(human: Sequence[tuple[str, float, float]]) -> tuple[float, list[list[int]]]:
    """Cohen's kappa (statsmodels) of the judge's pick vs the human's over output_1 / tie /
    output_2, and the 3x3 table (rows human, columns judge)."""
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.zeros((3, 3))
    for _, h, j in human:
        table[1 - _side(h), 1 - _side(j)] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        k = float(cohens_kappa(table, return_results=False)) if table.sum() else math.nan
    return k, table.astype(int).tolist()


MAX_LONGER_SHARE = 0.8   # the judge gave more than this share of its decisive calls to the longer answer
MAX_LC_GAP = 0.1         # raw minus length-controlled win rate


def tracks_length(judged: Sequence[Judged], max_longer_share: float = MAX_LONGER_SHARE,
                  max_lc_gap: float = MAX_LC_GAP, alpha: float = ALPHA) -> str | None:
    """Why one model's win rate tracks length (None when it does not): the longer answer won
    more than ``max_longer_share`` of the decisive calls (binomial p < ``alpha``), or the raw
    win rate exceeds the length-controlled one by more than ``max_lc_gap`` with a significant
    positive length coefficient."""
    if not judged:
        return None
    lw = longer_wins(judged)
    if lw.decisive and lw.share > max_longer_share and lw.pvalue < alpha:
        return f"the longer answer won {lw.longer} of {lw.decisive} decisive calls, binomial p = {lw.pvalue:.2g}"
    lc = length_controlled(judged)
    raw = win_rate(judged)
    if math.isfinite(lc.lc_win_rate) and raw - lc.lc_win_rate > max_lc_gap and lc.length_coef > 0 and \
            (lc.separated or lc.length_p < alpha):
        return (f"raw {raw:.3f} vs length-controlled {lc.lc_win_rate:.3f}, length coefficient "
                f"{lc.length_coef:+.2f}" + (f", p = {lc.length_p:.2g}" if math.isfinite(lc.length_p) else ""))
    return None
