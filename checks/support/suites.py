"""Plain data and pure arithmetic for evaluation suites (``[[suites]]``).

``SuiteRun`` is what the runtime (``sftcheck.suites.runner``) produces per suite: the rows it
could not read, one generation pass per variant, the scored outputs and (multiple choice)
the log-likelihood choice of each row.  ``metric_rows`` turns one run into the summary
table's rows (base, tuned, change, interval, significance, flags) with the statistics of
``sftcheck.checks.support.stats`` (Wilson, exact McNemar, Cohen's h) and scipy's Wilcoxon
signed-rank test for paired lengths.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sftcheck.checks.support.answers import normalise
from sftcheck.checks.support.samples import GenerationSet, Outcome, Scored
from sftcheck.checks.support.stats import Paired, bootstrap_diff_ci, cohens_h, mcnemar_exact, pair, wilson

VARIANTS = ("base", "tuned")
ALPHA = 0.05                 # significance level of the summary's "not significant" flag
SAME_RATE = (0.8, 1.25)      # a tokens/s ratio in here counts as "the same decoding speed"


@dataclass(frozen=True)
class RowProblem:
    row: int
    field: str
    problem: str


@dataclass(frozen=True)
class SuiteRun:
    """One suite, base and tuned: what was read, generated and scored."""
    name: str
    kind: str
    shape: str
    file: str
    answer_pattern: str
    n_rows: int = 0                                   # rows in the file that were read
    problems: tuple[RowProblem, ...] = ()             # rows left out (named)
    generations: Mapping[str, GenerationSet] = field(default_factory=dict)
    scored: Mapping[str, Sequence[Scored]] = field(default_factory=dict)
    loglik: Mapping[str, Sequence[Scored]] | None = None   # multiple_choice: the top choice by log-likelihood
    subjects: Mapping[str, str] = field(default_factory=dict)  # id -> subject (multiple_choice)
    error: str | None = None                          # why the suite could not run at all
    conversation: Any = None                          # kind conversation: the ``ConversationRun`` (per turn)

    @property
    def n_scored(self) -> int:
        return min((len(v) for v in self.scored.values()), default=0)


# ---------------------------------------------------------------- multiple choice parsing

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def choice_letter(text: str, choices: Sequence[str], pattern: str) -> tuple[str | None, str | None]:
    """Strict parse of a generated choice: ``(letter, extracted)``.

    Group 1 of ``pattern`` must be a letter of one of the choices (``A`` … ) or exactly the
    text of one choice (case / whitespace insensitive); anything else is unparsable (letter None).
    """
    m = re.search(pattern, text, flags=re.DOTALL)
    if not m or m.group(1) is None or not m.group(1).strip():
        return None, None
    got = m.group(1).strip()
    letters = LETTERS[:len(choices)]
    if len(got) == 1 and got.upper() in letters:
        return got.upper(), got
    same = [i for i, c in enumerate(choices) if normalise(str(c)) == normalise(got)]
    return (letters[same[0]], got) if len(same) == 1 else (None, got)


def score_choice(example_id: str, text: str, choices: Sequence[str], gold_letter: str,
                 pattern: str) -> Scored:
    letter, got = choice_letter(text, choices, pattern)
    if letter is None:
        rule = None if got is None else "strict:not_a_choice"
        return Scored(example_id, gold_letter, got, Outcome.UNPARSABLE, rule, 0.0)
    ok = letter == gold_letter
    return Scored(example_id, gold_letter, letter, Outcome.CORRECT if ok else Outcome.INCORRECT, "strict",
                  1.0 if ok else 0.0)


def score_loglik(example_id: str, logprobs: Sequence[float], gold_letter: str) -> Scored:
    """The choice with the highest summed log-probability (lm-eval's ``acc``)."""
    best = LETTERS[int(np.argmax(logprobs))]
    ok = best == gold_letter
    return Scored(example_id, gold_letter, best, Outcome.CORRECT if ok else Outcome.INCORRECT, "loglik",
                  1.0 if ok else 0.0)


# ---------------------------------------------------------------- summary rows

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


def _lengths(gs: GenerationSet, ids: Sequence[str], what: str) -> np.ndarray:
    by = gs.by_id()
    return np.array([by[i].new_tokens if what == "tokens" else len(by[i].text) for i in ids], dtype=float)


def length_row(suite: str, metric: str, base: np.ndarray, tuned: np.ndarray, how: str) -> MetricRow:
    from scipy.stats import wilcoxon

    f = np.mean if how == "mean" else np.median
    bv, tv = float(f(base)) if len(base) else math.nan, float(f(tuned)) if len(tuned) else math.nan
    p = None
    if len(base) and np.any(base != tuned):
        p = float(wilcoxon(tuned, base, zero_method="zsplit").pvalue)
    elif len(base):
        p = 1.0
    return _flag(MetricRow(suite, metric, bv, tv, tv - bv, pvalue=p, test="Wilcoxon signed-rank (paired)",
                           n=len(base)))


def _rate(gs: GenerationSet, what: str) -> float:
    n = len(gs.items)
    toks = sum(g.new_tokens for g in gs.items)
    s = gs.wall_seconds
    if not s or s <= 0:
        return math.nan
    return (n if what == "examples" else toks) / s


def _ratio(a: float, b: float) -> float:
    return a / b if b and b > 0 and math.isfinite(a) else math.nan


def throughput_rows(suite: str, base: GenerationSet, tuned: GenerationSet) -> list[MetricRow]:
    ex_b, ex_t = _rate(base, "examples"), _rate(tuned, "examples")
    tok_b, tok_t = _rate(base, "tokens"), _rate(tuned, "tokens")
    len_b = statistics.fmean([g.new_tokens for g in base.items]) if base.items else math.nan
    len_t = statistics.fmean([g.new_tokens for g in tuned.items]) if tuned.items else math.nan
    r_ex, r_tok, r_len = _ratio(ex_t, ex_b), _ratio(tok_t, tok_b), _ratio(len_t, len_b)
    flags: tuple[str, ...] = ()
    lo, hi = SAME_RATE
    if math.isfinite(r_ex) and not lo <= r_ex <= hi and lo <= r_tok <= hi:
        why = (f"throughput change explained by response length (tokens/s ×{r_tok:.2f}, "
               f"mean response ×{r_len:.2f} tokens)")
        flags = (why,)
    n = len(tuned.items)
    return [MetricRow(suite, "examples/s", ex_b, ex_t, r_ex, "ratio", n=n, flags=flags),
            MetricRow(suite, "tokens/s", tok_b, tok_t, r_tok, "ratio", n=n)]


def metric_rows(run: SuiteRun) -> list[MetricRow]:
    """The summary rows of one suite (empty when it could not run)."""
    if run.error or not all(v in run.scored for v in VARIANTS):
        return []
    if run.conversation is not None:
        from sftcheck.checks.support.conversations import summary_rows

        return summary_rows(run)
    base, tuned = run.scored["base"], run.scored["tuned"]
    label = "accuracy (generated letter)" if run.kind == "multiple_choice" else "accuracy"
    rows = [proportion_row(run.name, label, paired_outcomes(base, tuned, lambda s: s.outcome is Outcome.CORRECT))]
    if run.loglik:
        rows.append(proportion_row(run.name, "accuracy (log-likelihood)",
                                   paired_outcomes(run.loglik["base"], run.loglik["tuned"],
                                                 lambda s: s.outcome is Outcome.CORRECT)))
    rows.append(proportion_row(run.name, "unparsable rate",
                               paired_outcomes(base, tuned, lambda s: s.outcome is Outcome.UNPARSABLE)))
    gb, gt = run.generations.get("base"), run.generations.get("tuned")
    if gb is not None and gt is not None:
        ids = pair(base, tuned).ids
        for what, unit in (("tokens", "tokens"), ("chars", "characters")):
            b, t = _lengths(gb, ids, what), _lengths(gt, ids, what)
            rows.append(length_row(run.name, f"mean response length ({unit})", b, t, "mean"))
            rows.append(length_row(run.name, f"median response length ({unit})", b, t, "median"))
        rows.extend(throughput_rows(run.name, gb, gt))
    return rows


def per_subject(run: SuiteRun) -> list[tuple]:
    """(subject, n, base, tuned accuracy by letter, base, tuned by log-likelihood) per subject."""
    out = []
    subjects = sorted(set(run.subjects.values()))
    for subject in subjects:
        ids = {i for i, s in run.subjects.items() if s == subject}
        row: list = [subject, len(ids)]
        for table in (run.scored, run.loglik or {}):
            for v in VARIANTS:
                got = [s for s in table.get(v, ()) if s.id in ids]
                row.append(sum(s.outcome is Outcome.CORRECT for s in got) / len(got) if got else math.nan)
        out.append(tuple(row))
    return out
