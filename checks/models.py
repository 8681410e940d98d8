"""N models side by side (``[models.<name>]``): the N-way table per eval set and the gates
on the pairs that matter (tuned vs base, tuned vs reference).

Every pair of models is compared on the items both were scored on with the exact McNemar
test; within an eval set the p-values are Holm-corrected (statsmodels ``multipletests``), so
adding models does not add false "significant" differences.  Unparsable output counts as
not correct, as in every gate.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from sftcheck.checks.support import plots
from sftcheck.checks.support.nway import (
    MAIN,
    PAIR_COLUMNS,
    TABLE_COLUMNS,
    ModelRuns,
    PairRow,
    find_pair,
    fmt,
    nway_row,
    pair_rows,
    pairwise,
    table_rows,
)
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table

_HOW = ("Add [models.<name>] tables (role = base / tuned / reference / alternative; path, adapter or "
        "served) to compare more models in one run (README 'N models in one run').")


def _errors(runs: ModelRuns) -> Table | None:
    if not runs.errors:
        return None
    return Table("models that could not be run", ("model", "why"), tuple(runs.errors.items()))


def set_evidence(runs: ModelRuns, eval_set: str) -> tuple[list, list[PairRow], tuple]:
    """(N-way rows, pairwise rows, evidence tables) of one eval set."""
    members = runs.in_set(eval_set)
    rows = [nway_row(r) for r in members]
    pairs = pairwise(members)
    ev = (Table(f"{eval_set}: {len(rows)} models", TABLE_COLUMNS, table_rows(rows)),
          Table(f"{eval_set}: pairwise exact McNemar, Holm-corrected over {len(pairs)} pairs", PAIR_COLUMNS,
                pair_rows(pairs)))
    return rows, pairs, ev


@check("models.table", stage="gap", title="N models side by side: accuracy, length, throughput, pairwise tests")
def table(runs: ModelRuns) -> CheckResult:
    """Every configured model (``[models.<name>]`` and the ``[model]`` section's base / tuned) on
    every eval set: accuracy with a Wilson interval, response length and throughput, and every
    pair's exact McNemar test, Holm-corrected per set.  Fails when a model could not be run."""
    if len(runs.models) < 2:
        return CheckResult(Status.SKIP, len(runs.models), None,
                           f"{len(runs.models)} model(s) configured: an N-way comparison needs two or more. " + _HOW)
    evidence: list = []
    metrics: dict = {"models": [{"name": m.name, "role": m.role, "source": m.described} for m in runs.models],
                     "sets": {}, "errors": dict(runs.errors), "sets_left_out": dict(runs.set_notes)}
    for eval_set in runs.sets:
        rows, pairs, ev = set_evidence(runs, eval_set)
        evidence.extend(ev)
        metrics["sets"][eval_set] = {"models": [r.as_dict() for r in rows], "pairs": [p.as_dict() for p in pairs]}
        if eval_set == MAIN and rows:
            evidence.append(plots.accuracy_ci({r.model: r.accuracy for r in rows}, {r.model: r.ci for r in rows},
                                              title=f"{MAIN}: accuracy per model (Wilson 95 %)"))
    if runs.set_notes:
        evidence.append(Table("eval sets not in the table", ("set", "why"), tuple(runs.set_notes.items())))
    err = _errors(runs)
    n_ok = len(runs.models) - len(runs.errors)
    text = (f"{len(runs.models)} models ({', '.join(f'{m.name}: {m.role}' for m in runs.models)}) on "
            f"{len(runs.sets)} eval set(s): {', '.join(runs.sets) or 'none'}")
    if err is not None:
        first = next(iter(runs.errors.items()))
        return CheckResult(Status.FAIL, n_ok, "every model runs",
                           f"{len(runs.errors)} of {len(runs.models)} models could not be run; first: {first[0]}: "
                           f"{first[1]}. {text}.", fix="Correct the [models.<name>] table named above (path, adapter "
                           "+ base, or served name), or remove it.", metrics=metrics, evidence=(err, *evidence))
    return CheckResult(Status.PASS, n_ok, "every model runs", text + ".", metrics=metrics, evidence=tuple(evidence))


def _pair_text(p: PairRow) -> str:
    return (f"{p.first} {fmt(p.acc_first)} vs {p.second} {fmt(p.acc_second)} on {p.n} shared items "
            f"({p.first_only} only {p.first} right, {p.second_only} only {p.second} right; exact McNemar "
            f"p = {p.pvalue:.3g}, Holm p = {p.p_holm:.3g}, Cohen's h = {fmt(p.h, 2)})")


def _pairs_for(runs: ModelRuns, first_role: str, second_role: str, eval_sets: Sequence[str]) -> list[PairRow]:
    out = []
    for eval_set in eval_sets:
        pairs = pairwise(runs.in_set(eval_set))
        for a in runs.with_role(first_role):
            for b in runs.with_role(second_role):
                p = find_pair(pairs, a.name, b.name)
                if p is not None and p.n:
                    out.append(p)
    return out


def _missing(runs: ModelRuns, roles: tuple[str, str]) -> CheckResult | None:
    absent = [r for r in roles if not runs.with_role(r)]
    if absent:
        return CheckResult(Status.SKIP, None, None, f"No model of role {' / '.join(absent)} is configured "
                           f"(models: {', '.join(f'{m.name}: {m.role}' for m in runs.models) or 'none'}). " + _HOW)
    broken = [m.name for m in runs.models if m.role in roles and m.name in runs.errors]
    if broken:
        return CheckResult(Status.SKIP, None, None, f"{', '.join(broken)} could not be run; see {see('models.table')}.")
    return None


@check("models.tuned_vs_base", stage="gate", title="Each tuned model beats the base (exact McNemar, Holm-corrected)")
def tuned_vs_base(runs: ModelRuns, *, alpha: float = 0.01, min_effect: float = 0.5) -> CheckResult:
    """On the eval file, every tuned model is better than the base with Holm-adjusted exact
    McNemar p < ``alpha`` and Cohen's h >= ``min_effect``."""
    skipped = _missing(runs, ("tuned", "base"))
    if skipped:
        return skipped
    pairs = _pairs_for(runs, "tuned", "base", [MAIN])
    thr = f"tuned > base, Holm p < {alpha:g}, Cohen's h >= {min_effect:g}"
    ev = (Table("tuned vs base (eval file)", PAIR_COLUMNS, pair_rows(pairs)),)
    metrics = {"pairs": [p.as_dict() for p in pairs]}
    if not pairs:
        return CheckResult(Status.SKIP, None, thr, f"No tuned / base pair was scored on {MAIN}.")
    bad = [p for p in pairs if not (p.difference > 0 and p.p_holm < alpha and p.h >= min_effect)]
    worst = min(pairs, key=lambda p: p.h if math.isfinite(p.h) else -9)
    if not bad:
        return CheckResult(Status.PASS, worst.h, thr, "Every tuned model beats the base: "
                           + "; ".join(_pair_text(p) for p in pairs) + ".", metrics=metrics, evidence=ev)
    p = bad[0]
    why = ("it is not better" if p.difference <= 0 else
           f"the gain is not significant after Holm's correction (p = {p.p_holm:.3g} >= {alpha:g})"
           if p.p_holm >= alpha else f"the gain is small (h = {fmt(p.h, 2)} < {min_effect:g})")
    return CheckResult(
        Status.FAIL, p.h, thr, f"{p.first} does not measurably beat {p.second}: {why}. {_pair_text(p)}. Likely causes: "
        "the adapter is inert or undertrained, the eval format differs from the trained one, or the eval set is "
        f"too small to show the gain (see {see('models.table')}).",
        fix="Read the tuned outputs (behaviour.* checks); train longer / on more data, or enlarge the eval set; "
            'or re-threshold [gates."models.tuned_vs_base"].', metrics=metrics, evidence=ev)


@check("models.tuned_vs_reference", stage="gate",
       title="Each tuned model is not significantly behind the reference (Holm-corrected)")
def tuned_vs_reference(runs: ModelRuns, *, alpha: float = 0.05, max_gap: float = 0.05) -> CheckResult:
    """On every eval set, no tuned model is behind a reference model by more than ``max_gap``
    with Holm-adjusted exact McNemar p < ``alpha``."""
    skipped = _missing(runs, ("tuned", "reference"))
    if skipped:
        return skipped
    pairs = _pairs_for(runs, "tuned", "reference", runs.sets)
    thr = f"reference - tuned <= {max_gap:g} or not significant (Holm p >= {alpha:g})"
    ev = (Table("tuned vs reference (every eval set)", ("set", *PAIR_COLUMNS),
                tuple((p.eval_set, *row) for p, row in zip(pairs, pair_rows(pairs), strict=True))),)
    metrics = {"pairs": [p.as_dict() for p in pairs]}
    if not pairs:
        return CheckResult(Status.SKIP, None, thr, "No tuned / reference pair was scored on a shared eval set.")
    behind = [p for p in pairs if -p.difference > max_gap and p.p_holm < alpha]
    gap = max(-p.difference for p in pairs)
    if not behind:
        return CheckResult(Status.PASS, gap, thr, "No tuned model is significantly behind a reference: "
                           + "; ".join(f"{p.eval_set}: {_pair_text(p)}" for p in pairs) + ".",
                           metrics=metrics, evidence=ev)
    p = max(behind, key=lambda x: -x.difference)
    return CheckResult(
        Status.FAIL, -p.difference, thr, f"On {p.eval_set}, {p.first} is behind the reference {p.second} by "
        f"{-p.difference:.3f}: {_pair_text(p)}. The capability is attainable (the reference has it) but tuning did "
        "not reach it: too little or too narrow training data, too few steps, or a format the reference was not "
        "held to.", fix="Compare the two models' outputs on the items only the reference gets right; train on more "
        'or broader data; or re-threshold [gates."models.tuned_vs_reference"].', metrics=metrics, evidence=ev)
