"""Evaluation suites (``[[suites]]``): what fine-tuning changed, suite by suite, base vs tuned.

One test per suite and check (``test_accuracy[gsm8k]``); gates per suite by id
(``[gates."suite.gsm8k.accuracy"]``) or for every suite (``suite.<metric>`` as the gate id).
``suite.summary`` carries the table the report shows first: one row per suite x metric with
base, tuned, change, interval and significance, and a plot of the changes.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Image, Status, Table
from sftcheck.checks.support.samples import Outcome
from sftcheck.checks.support.suites import (
    MetricRow,
    SuiteRun,
    metric_rows,
    paired_outcomes,
    per_subject,
    proportion_row,
)

_NOT_RUN = "the suite could not be run ({why}); see " + see("suite.data")


def _skip_not_run(run: SuiteRun) -> CheckResult | None:
    if run.error:
        return CheckResult(Status.SKIP, None, None, f"Suite {run.name!r}: " + _NOT_RUN.format(why=run.error) + ".")
    if not run.n_scored:
        return CheckResult(Status.SKIP, 0, None, f"Suite {run.name!r}: no example was scored; see "
                           f"{see('suite.data')}.")
    return None


@check("suite.data", stage="gate", title="Suite data: every row read in its file shape")
def data(run: SuiteRun, *, max_bad_rows: int = 0) -> CheckResult:
    """Every row of the suite's file is read (shape, fields, gold answer); rows left out are named."""
    thr = f"rows left out <= {max_bad_rows}"
    if run.error:
        return CheckResult(Status.FAIL, None, thr, f"Suite {run.name!r} ({run.file}) could not be run: {run.error}",
                           fix="Fix the file or the [[suites]] block named above.")
    bad = run.problems
    table = Table(f"suite {run.name}: rows left out", ("row", "field", "problem"),
                  tuple((p.row, p.field, p.problem) for p in bad[:50]))
    metrics = {"suite": run.name, "shape": run.shape, "kind": run.kind, "rows_read": run.n_rows,
               "rows_left_out": len(bad), "examples": run.n_scored}
    head = f"Suite {run.name!r}: {run.n_rows} rows read as shape {run.shape!r}, {len(bad)} left out"
    if len(bad) <= max_bad_rows and run.n_scored:
        return CheckResult(Status.PASS, len(bad), thr, head + f"; {run.n_scored} examples scored.", metrics=metrics,
                           evidence=(table,) if bad else ())
    first = bad[0] if bad else None
    why = f" First: row {first.row}, {first.field}: {first.problem}." if first else " No row was usable."
    return CheckResult(Status.FAIL, len(bad), thr, head + "." + why,
                       fix=f"Correct those rows in {run.file}, or set the suite's shape / gold_pattern / "
                           "question_field / answer_field to match the file.",
                       metrics=metrics, evidence=(table,))


def _accuracy(run: SuiteRun, table, label: str, max_drop: float, alpha: float, min_accuracy: float,
              extra: tuple = ()) -> CheckResult:
    row = proportion_row(run.name, label, paired_outcomes(table["base"], table["tuned"],
                                                      lambda s: s.outcome is Outcome.CORRECT))
    thr = (f"tuned >= {min_accuracy:g}; not significantly below base (exact McNemar p < {alpha:g}) "
           f"by more than {max_drop:g}")
    metrics = row.as_dict()
    evidence = (_table((row,), f"suite {run.name}: {label}"), *extra)
    text = (f"Suite {run.name!r} {label}: base {row.base:.3f} [{row.base_ci[0]:.3f}, {row.base_ci[1]:.3f}], "
            f"tuned {row.tuned:.3f} [{row.tuned_ci[0]:.3f}, {row.tuned_ci[1]:.3f}] (Wilson 95 %), change "
            f"{row.change:+.3f}, exact McNemar p = {row.pvalue:.3g}, Cohen's h = {row.effect:.2f}, n = {row.n}")
    problems = []
    if row.tuned < min_accuracy:
        problems.append(f"tuned accuracy {row.tuned:.3f} is below the floor {min_accuracy:g}")
    if row.change < -max_drop and row.pvalue < alpha:
        problems.append(f"tuned is significantly worse than base ({row.change:+.3f}, p = {row.pvalue:.3g})")
    if not problems:
        sig = "" if row.pvalue < alpha or row.change == 0 else " (change not significant)"
        return CheckResult(Status.PASS, row.tuned, thr, text + sig + ".", metrics=metrics, evidence=evidence)
    return CheckResult(
        Status.FAIL, row.tuned, thr, "; ".join(problems).capitalize() + f". {text}. Likely causes: fine-tuning "
        f"overwrote what this suite measures (forgetting), the suite's prompt format differs from the one "
        f"tuned on, or its answers are not parsed (see {see('suite.unparsable')}).",
        fix="Compare the outputs in the evidence; mix some of this suite's kind of data into training, lower the "
            f'learning rate / epochs, or re-threshold [gates."suite.{run.name}.{_metric(label)}"].',
        metrics=metrics, evidence=evidence)


def _metric(label: str) -> str:
    return "loglik_accuracy" if "log-likelihood" in label else "accuracy"


@check("suite.accuracy", stage="gate", title="Suite accuracy (generated answers): tuned not worse than base")
def accuracy(run: SuiteRun, *, max_drop: float = 0.0, alpha: float = 0.05, min_accuracy: float = 0.0) -> CheckResult:
    """Accuracy of the generated answers (strict parse; unparsable counts as wrong): tuned is not
    significantly below base (paired exact McNemar) by more than ``max_drop``, and >= ``min_accuracy``."""
    skipped = _skip_not_run(run)
    if skipped:
        return skipped
    extra = ()
    if run.kind == "multiple_choice" and run.subjects:
        extra = (Table(f"suite {run.name}: accuracy per subject",
                       ("subject", "n", "base (letter)", "tuned (letter)", "base (log-lik.)", "tuned (log-lik.)"),
                       tuple(per_subject(run))),)
    label = "accuracy (generated letter)" if run.kind == "multiple_choice" else "accuracy"
    if run.conversation is not None:
        from sftcheck.checks.support.conversations import categories, category_cells

        label = "conversation success (every scored turn)"
        cells = {m: category_cells(run.conversation, m) for m in run.conversation.models}
        cats = categories(run.conversation)
        extra = (Table(f"suite {run.name}: conversation success per category (Wilson 95 %)",
                       ("category", *run.conversation.models),
                       tuple((c, *(cells[m][c].text() if c in cells[m] else "n/a" for m in run.conversation.models))
                             for c in cats)),)
    return _accuracy(run, run.scored, label, max_drop, alpha, min_accuracy, extra)


@check("suite.loglik_accuracy", stage="gate",
       title="Suite accuracy by choice log-likelihood (multiple choice): tuned not worse than base")
def loglik_accuracy(run: SuiteRun, *, max_drop: float = 0.0, alpha: float = 0.05,
                    min_accuracy: float = 0.0) -> CheckResult:
    """Multiple-choice accuracy by the highest summed log-probability of each choice's continuation
    (lm-eval's ``acc``): tuned is not significantly below base by more than ``max_drop``."""
    skipped = _skip_not_run(run)
    if skipped:
        return skipped
    if not run.loglik:
        return CheckResult(Status.SKIP, None, None, f"Suite {run.name!r} is of kind {run.kind!r}: only "
                           "multiple_choice suites are scored by log-likelihood.")
    return _accuracy(run, run.loglik, "accuracy (log-likelihood)", max_drop, alpha, min_accuracy)


@check("suite.unparsable", stage="gate", title="Suite answers parse (tuned unparsable rate)")
def unparsable(run: SuiteRun, *, max_unparsable: float = 0.1) -> CheckResult:
    """The tuned model's share of generations whose answer the suite's pattern cannot read
    (multiple choice: no choice letter / choice text) is <= ``max_unparsable``."""
    skipped = _skip_not_run(run)
    if skipped:
        return skipped
    if run.conversation is not None:
        return CheckResult(Status.SKIP, None, None, f"Suite {run.name!r} is a conversation suite: its replies are "
                           f"scored by rules and the judge, not parsed (see {see('conversation.turn_format')}).")
    row = proportion_row(run.name, "unparsable rate", paired_outcomes(run.scored["base"], run.scored["tuned"],
                                                                   lambda s: s.outcome is Outcome.UNPARSABLE))
    thr = f"tuned unparsable <= {max_unparsable:g}"
    gens = run.generations["tuned"].by_id() if "tuned" in run.generations else {}
    bad = [s for s in run.scored["tuned"] if s.outcome is Outcome.UNPARSABLE]
    sample = Table(f"suite {run.name}: unparsable tuned outputs (first 10)", ("id", "output", "extracted"),
                   tuple((s.id, gens[s.id].text if s.id in gens else "", s.extracted or "") for s in bad[:10]))
    text = (f"Suite {run.name!r}: {len(bad)} of {row.n} tuned outputs unparsable ({row.tuned:.1%}; base "
            f"{row.base:.1%}) with answer pattern {run.answer_pattern!r}")
    if row.tuned <= max_unparsable:
        return CheckResult(Status.PASS, row.tuned, thr, text + ".", metrics=row.as_dict(),
                           evidence=(sample,) if bad else ())
    mc = (" For multiple choice, group 1 must be a choice letter (A, B, …) or exactly one choice's text; "
          "a value that is neither counts as unparsable.") if run.kind == "multiple_choice" else ""
    return CheckResult(
        Status.FAIL, row.tuned, thr,
        text + ". The pattern does not find the answer the model writes: the suite's answer_pattern (or the "
        "run's [format] answer_pattern it defaults to) does not match this output format, or the model does "
        f"not follow the prompt's format.{mc}",
        fix=f"Compare the outputs below with the pattern and set answer_pattern in the [[suites]] block "
            f"{run.name!r} (or change its prompt_template so the model answers in that format).",
        metrics=row.as_dict(), evidence=(sample,))


def _ci(c) -> str:
    return f"[{c[0]:.3f}, {c[1]:.3f}]" if c else ""


def _num(v: float, kind: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"×{v:.2f}" if kind == "ratio" else (f"{v:+.3f}" if kind == "difference" else f"{v:.3f}")


def _table(rows: Sequence[MetricRow], title: str = "suites: base vs tuned") -> Table:
    out = []
    for r in rows:
        sig = "" if r.pvalue is None else f"p = {r.pvalue:.3g} ({r.test})"
        out.append((r.suite, r.metric, f"{_num(r.base)} {_ci(r.base_ci)}".strip(),
                    f"{_num(r.tuned)} {_ci(r.tuned_ci)}".strip(),
                    f"{_num(r.change, r.change_kind)} {_ci(r.change_ci)}".strip(), sig, "; ".join(r.flags)))
    return Table(title, ("suite", "metric", "base", "tuned", "change (95 % interval)", "significance", "flags"),
                 tuple(out), row_tags=tuple(tuple(r.flags and ("flagged",) or ()) for r in rows))


def _plot(rows: Sequence[MetricRow]) -> Image | None:
    from sftcheck.checks.support.plots import to_png

    shown = [r for r in rows if r.change_ci is not None]
    if not shown:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 0.45 * len(shown) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(shown)))[::-1]
    for yi, r in zip(y, shown, strict=True):
        colour = "#2f6fde" if r.significant else "#9aa5b1"
        ax.errorbar([r.change], [yi], xerr=[[r.change - r.change_ci[0]], [r.change_ci[1] - r.change]],
                    fmt="o", color=colour, capsize=3)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, [f"{r.suite}: {r.metric}" for r in shown])
    ax.set_xlabel("tuned − base (paired bootstrap 95 % interval; blue: p < 0.05)")
    ax.set_title("What fine-tuning changed, per suite")
    return Image("suites: changes with 95 % intervals", to_png(fig))


@check("suite.summary", stage="gate", title="Suites summary: base vs tuned, one row per suite and metric")
def summary(runs: Sequence[SuiteRun]) -> CheckResult:
    """The summary table of every configured suite (base, tuned, change, interval, significance,
    flags) and a plot of the changes; fails when a configured suite produced no scored example."""
    if not runs:
        return CheckResult(Status.SKIP, None, None, "No [[suites]] in the run config.")
    rows = [r for run in runs for r in metric_rows(run)]
    empty = [run.name for run in runs if run.error or not run.n_scored]
    plot = _plot(rows)
    evidence = (_table(rows), *((plot,) if plot else ()))
    metrics = {"rows": [r.as_dict() for r in rows], "suites": [run.name for run in runs]}
    flagged = sum(1 for r in rows if r.flags)
    text = f"{len(runs)} suite(s), {len(rows)} metric rows, {flagged} flagged"
    if empty:
        return CheckResult(Status.FAIL, len(empty), "every suite scored", text + f"; no scored example for "
                           f"{', '.join(empty)} (see {see('suite.data')}).",
                           fix=f"Fix the suites named above (their {see('suite.data')} row says why).",
                           metrics=metrics, evidence=evidence)
    return CheckResult(Status.PASS, len(rows), "every suite scored", text + ".", metrics=metrics, evidence=evidence)
