"""The gap before training: is there something to train for, and can this eval measure it?

A real project evaluated base 81 % vs fine-tuned 99.3 % (McNemar p = 2e-12) and passed its
gate; the result was void: with an ``Instruction: …\\nResponse:`` cue the base already did
the task.  Their rule, checked here on the models of ``[models.<name>]`` (no adapter needed):
the base scores at most a ceiling, a reference model (an instruct model, a model trained on
more data) reaches a floor, the reference's lead over the base is significant (exact McNemar
on the paired items) and large (Cohen's h), the base does not pass with a plain format cue
(the sentinel), and the eval has enough items for that difference (a power analysis).
``gap.verdict`` says it in one line: the gap is real / is not real / is too small to measure.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

from sftcheck.checks.support import stats
from sftcheck.checks.support.nway import CUED, MAIN, ModelEval, ModelRuns, fmt, paired_counts
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, SideBySide, Status, Table
from sftcheck.checks.support.samples import Outcome

_HOW = ("Describe the models in [models.<name>] tables: role = \"base\" (or [model] base) and role = "
        "\"reference\" (an instruct model or one trained on more data), path = its folder or id.")


def _acc(run: ModelEval) -> tuple[int, int, float, tuple[float, float]]:
    n = len(run.scored)
    k = sum(s.outcome is Outcome.CORRECT for s in run.scored)
    return k, n, (k / n if n else math.nan), stats.wilson(k, n)


def _show(run: ModelEval) -> str:
    k, n, a, ci = _acc(run)
    return f"{run.model} {k}/{n} ({a:.1%}, Wilson 95 % [{ci[0]:.3f}, {ci[1]:.3f}])"


def _need(runs: ModelRuns, *roles: str) -> CheckResult | None:
    for role in roles:
        models = runs.with_role(role)
        if not models:
            return CheckResult(Status.SKIP, None, None, f"No model of role {role} is configured. " + _HOW)
        if not any(runs.get(m.name, MAIN) for m in models):
            if not any(m.name in runs.errors for m in models):
                return CheckResult(Status.SKIP, None, None, f"Only {len(runs.models)} model configured: nothing is "
                                   "generated for fewer than two models. " + _HOW)
            why = "; ".join(runs.errors.get(m.name, "not generated") for m in models)
            return CheckResult(Status.SKIP, None, None, f"The {role} model could not be run ({why}); see "
                               f"{see('models.table')}.")
    return None


def _base(runs: ModelRuns) -> ModelEval:
    return next(runs.get(m.name, MAIN) for m in runs.with_role("base") if runs.get(m.name, MAIN))


def _references(runs: ModelRuns) -> list[ModelEval]:
    return [r for m in runs.with_role("reference") if (r := runs.get(m.name, MAIN))]


def _acc_table(title: str, evals: list[ModelEval], limit: str) -> Table:
    return Table(title, ("model", "role", "correct / n", "accuracy (Wilson 95 %)", "threshold"),
                 tuple((r.model, r.role, f"{_acc(r)[0]}/{_acc(r)[1]}",
                        f"{fmt(_acc(r)[2])} [{fmt(_acc(r)[3][0])}, {fmt(_acc(r)[3][1])}]", limit) for r in evals))


@check("gap.base_ceiling", stage="gap", title="Before training: the base does not already pass")
def base_ceiling(runs: ModelRuns, *, max_accuracy: float = 0.30) -> CheckResult:
    """The base (role ``base``) scores at most ``max_accuracy`` on the eval file; alternatives
    are shown next to it, and one that already passes is a WARN (the base's gap stands, but
    training that alternative would have nothing to close)."""
    skipped = _need(runs, "base")
    if skipped:
        return skipped
    base = _base(runs)
    k, n, acc, ci = _acc(base)
    alts = [r for m in runs.with_role("alternative") if (r := runs.get(m.name, MAIN))]
    ev = (_acc_table("base and alternative bases on the eval file", [base, *alts], f"<= {max_accuracy:g}"),)
    metrics = {"model": base.model, "accuracy": acc, "wilson_95": list(ci), "n": n, "correct": k,
               "alternatives": {r.model: _acc(r)[2] for r in alts}}
    thr = f"base accuracy <= {max_accuracy:g}"
    strong = [r for r in alts if _acc(r)[2] > max_accuracy]
    if acc <= max_accuracy and strong:
        return CheckResult(
            Status.WARN, acc, thr, f"The base does not already pass: {_show(base)}. But the alternative base(s) "
            + "; ".join(_show(r) for r in strong) + f" already do, above the ceiling {max_accuracy:g}: they already "
            "have the capability (an instruct / chat model, or one that contains tuned weights), so training one of "
            "them would have no gap to close, and comparing the tuned model with them says little about training.",
            fix="Keep alternatives that are true pre-trained bases (the same kind of model as the base), or drop the "
                "[models.<name>] entry named above if it is really a reference (role = \"reference\").",
            metrics=metrics, evidence=ev)
    if acc <= max_accuracy:
        return CheckResult(Status.PASS, acc, thr, f"The base does not already pass: {_show(base)}.",
                           metrics=metrics, evidence=ev)
    return CheckResult(
        Status.FAIL, acc, thr, f"The base already passes: {_show(base)}, above the ceiling {max_accuracy:g}. "
        "There is no gap for fine-tuning to close on this eval. Most likely: the base already has the capability "
        "(an instruct / chat model, or one that already contains tuned weights), the eval leaked into its "
        "pre-training, or the task or the scorer is too lenient.",
        fix="Pick a base that lacks the capability (the true pre-trained base), a harder held-out eval or a stricter "
            'scorer; or, if a strong base is intended, raise [gates."gap.base_ceiling"] max_accuracy.',
        metrics=metrics, evidence=ev)


@check("gap.reference_floor", stage="gap", title="Before training: a reference model shows the capability is attainable")
def reference_floor(runs: ModelRuns, *, min_accuracy: float = 0.80) -> CheckResult:
    """Every reference model (role ``reference``) scores at least ``min_accuracy`` on the eval file."""
    skipped = _need(runs, "reference")
    if skipped:
        return skipped
    refs = _references(runs)
    low = [r for r in refs if _acc(r)[2] < min_accuracy]
    ev = (_acc_table("reference models on the eval file", refs, f">= {min_accuracy:g}"),)
    metrics = {r.model: {"accuracy": _acc(r)[2], "n": _acc(r)[1]} for r in refs}
    thr = f"reference accuracy >= {min_accuracy:g}"
    worst = min(_acc(r)[2] for r in refs)
    if not low:
        return CheckResult(Status.PASS, worst, thr, "The capability is attainable: "
                           + "; ".join(_show(r) for r in refs) + ".", metrics=metrics, evidence=ev)
    return CheckResult(
        Status.FAIL, worst, thr, f"The reference does not reach the floor {min_accuracy:g}: "
        + "; ".join(_show(r) for r in low) + ". A model that should have the capability does not show it here, so "
        "the eval cannot show what training could reach. Most likely: the scorer or answer pattern rejects right "
        f"answers (see {see('models.table')}), the prompt format does not suit the reference, or the "
        "reference is not what it is declared to be.",
        fix="Read the reference's outputs in the models table; fix the scorer / answer pattern or the prompt; or "
            'point [models.<name>] at a stronger reference; or re-threshold [gates."gap.reference_floor"].',
        metrics=metrics, evidence=ev)


def _ref_pairs(runs: ModelRuns) -> list[tuple[ModelEval, tuple[int, float, float, int, int], float]]:
    """(reference, paired counts vs base, Holm-adjusted exact McNemar p over the references)."""
    base = _base(runs)
    rows = [(r, paired_counts(r, base)) for r in _references(runs)]
    ps = [stats.mcnemar_exact(c[3], c[4]).pvalue for _, c in rows]
    holm = stats.holm(ps)
    return [(r, c, float(p)) for (r, c), p in zip(rows, holm, strict=True)]


def _pair_table(runs: ModelRuns) -> Table:
    base = _base(runs)
    return Table(f"reference vs base on the eval file ({base.model})",
                 ("reference", "n paired", "reference", "base", "only reference right", "only base right",
                  "exact McNemar p (Holm)", "Cohen's h"),
                 tuple((r.model, c[0], fmt(c[1]), fmt(c[2]), c[3], c[4], f"{p:.3g}", fmt(stats.cohens_h(c[1], c[2]), 2))
                       for r, c, p in _ref_pairs(runs)))


@check("gap.significance", stage="gap", title="Before training: the reference beats the base significantly (exact McNemar)")
def significance(runs: ModelRuns, *, alpha: float = 0.01) -> CheckResult:
    """On the items both were scored on, every reference beats the base with exact McNemar
    p < ``alpha`` (Holm-corrected over the references)."""
    skipped = _need(runs, "base", "reference")
    if skipped:
        return skipped
    pairs = _ref_pairs(runs)
    thr = f"reference > base, exact McNemar p < {alpha:g}"
    worst = max(p for _, _, p in pairs)
    metrics = {r.model: {"n": c[0], "reference": c[1], "base": c[2], "reference_only": c[3], "base_only": c[4],
                         "p_holm": p} for r, c, p in pairs}
    bad = [(r, c, p) for r, c, p in pairs if not (c[1] > c[2] and p < alpha)]
    ev = (_pair_table(runs),)
    if not bad:
        return CheckResult(Status.PASS, worst, thr, "The reference's lead is significant: " + "; ".join(
            f"{r.model} right on {c[3]} items the base misses, the base on {c[4]} (p = {p:.3g})" for r, c, p in pairs)
            + ".", metrics=metrics, evidence=ev)
    r, c, p = bad[0]
    return CheckResult(
        Status.FAIL, p, thr, f"{r.model} vs the base is not a significant difference: {fmt(c[1])} vs {fmt(c[2])} on "
        f"{c[0]} paired items ({c[3]} only the reference right, {c[4]} only the base right; exact McNemar p = "
        f"{p:.3g} >= {alpha:g}). Either the two models do the task equally well (no gap), or the eval has too "
        f"few items to tell (see {see('gap.power')}).",
        fix="Add eval items (the power analysis says how many), or reconsider the base / reference pair.",
        metrics=metrics, evidence=ev)


@check("gap.effect_size", stage="gap", title="Before training: the gap is large (Cohen's h)")
def effect_size(runs: ModelRuns, *, min_effect: float = 0.5) -> CheckResult:
    """Cohen's h of every reference's accuracy over the base's is at least ``min_effect``."""
    skipped = _need(runs, "base", "reference")
    if skipped:
        return skipped
    pairs = _ref_pairs(runs)
    hs = {r.model: stats.cohens_h(c[1], c[2]) for r, c, _ in pairs}
    worst = min(hs.values())
    thr = f"Cohen's h >= {min_effect:g}"
    ev = (_pair_table(runs),)
    text = "; ".join(f"{m}: h = {h:.2f}" for m, h in hs.items())
    if worst >= min_effect:
        return CheckResult(Status.PASS, worst, thr, f"The gap is large: {text}.", metrics={"cohens_h": hs}, evidence=ev)
    return CheckResult(
        Status.FAIL, worst, thr, f"The gap is small: {text} (below {min_effect:g}). Even a significant difference "
        "this small is not worth a fine-tuning run: the base nearly does what the reference does.",
        fix='Choose a task the base really lacks, or re-threshold [gates."gap.effect_size"] min_effect.',
        metrics={"cohens_h": hs}, evidence=ev)


def _cue_example(raw: ModelEval, cued: ModelEval) -> SideBySide | None:
    r, c = raw.generations.by_id(), cued.generations.by_id()
    won = [s.id for s in cued.scored if s.outcome is Outcome.CORRECT and s.id in r]
    pick = won[0] if won else next(iter(c), None)
    if pick is None or pick not in r:
        return None
    return SideBySide(f"{raw.model}: the same item, run prompt vs cue", "run prompt + output",
                      r[pick].prompt + r[pick].text, "cue prompt + output", c[pick].prompt + c[pick].text,
                      context=(("id", pick),))


@check("gap.sentinel", stage="gap", title="Before training: a plain format cue does not unlock the base (sentinel)")
def sentinel(runs: ModelRuns, *, max_accuracy: float = 0.30) -> CheckResult:
    """The base, on the same items written into ``[gap] cue_template`` (e.g. ``Instruction: …
    Response:``), still scores at most ``max_accuracy``: the capability is not one a cue unlocks."""
    skipped = _need(runs, "base")
    if skipped:
        return skipped
    raw = _base(runs)
    cued = runs.get(raw.model, CUED)
    if cued is None:
        return CheckResult(Status.SKIP, None, None, f"The base was not run on the cued prompts ({CUED}).")
    n, acc_raw, _, raw_only, cue_only = paired_counts(raw, cued)
    p = stats.mcnemar_exact(raw_only, cue_only).pvalue
    rows = [(raw.model, "run prompt", *_acc(raw)[:3]), (raw.model, "cue", *_acc(cued)[:3])]
    for m in runs.with_role("alternative"):
        for name, es in (("run prompt", MAIN), ("cue", CUED)):
            if (r := runs.get(m.name, es)):
                rows.append((r.model, name, *_acc(r)[:3]))
    ev = [Table("run prompt vs format cue (sentinel)", ("model", "prompt", "correct", "n", "accuracy"),
                tuple((a, b, k, nn, fmt(x)) for a, b, k, nn, x in rows))]
    example = _cue_example(raw, cued)
    if example is not None:
        ev.append(example)
    _, _, acc, ci = _acc(cued)
    metrics = {"accuracy_run_prompt": acc_raw, "accuracy_cue": acc, "wilson_95_cue": list(ci), "n": n,
               "cue_only_right": cue_only, "run_prompt_only_right": raw_only, "mcnemar_p": p}
    thr = f"base accuracy with the cue <= {max_accuracy:g}"
    text = (f"The base scores {fmt(acc_raw)} with the run's prompt and {fmt(acc)} [{fmt(ci[0])}, {fmt(ci[1])}] with "
            f"the cue ({cue_only} items right only with the cue, {raw_only} only without; exact McNemar p = {p:.3g})")
    if acc <= max_accuracy:
        note = (f" (the base passes with the run's prompt already: {see('gap.base_ceiling')})" if acc_raw > max_accuracy
                else "")
        return CheckResult(Status.PASS, acc, thr, text + ": no capability a format cue unlocks" + note + ".",
                           metrics=metrics, evidence=tuple(ev))
    return CheckResult(
        Status.FAIL, acc, thr, f"A format cue unlocks the base: {text[0].lower() + text[1:]}, above {max_accuracy:g}. The base already has "
        "the capability; the run's prompt only hides it, so a fine-tune would teach a prompt format, not the task "
        "(the case of a base at 81 % that, cued, answered 300/300).",
        fix="Evaluate the base with the cue (or the format you will serve) before deciding to train; if the format "
            "is all that is missing, serve the cue instead of training.", metrics=metrics, evidence=tuple(ev))


@check("gap.power", stage="gap", title="Before training: the eval has enough items to measure the gap")
def power(runs: ModelRuns, *, alpha: float = 0.01, power: float = 0.8) -> CheckResult:
    """The number of paired items is at least what a power analysis asks for the measured
    rates (base vs the weakest reference): statsmodels ``NormalIndPower`` at Cohen's h, and at
    least the exact McNemar test's minimum number of discordant items at ``alpha``."""
    skipped = _need(runs, "base", "reference")
    if skipped:
        return skipped
    pairs = _ref_pairs(runs)
    r, c, _ = min(pairs, key=lambda x: x[1][1])
    n, acc_ref, acc_base = c[0], c[1], c[2]
    h = stats.cohens_h(acc_ref, acc_base) if n else math.nan
    need = max(stats.n_for_power(h, alpha, power), float(stats.min_discordant(alpha)))
    shown = "∞ (no difference to detect)" if not math.isfinite(need) else str(math.ceil(need))
    metrics = {"n": n, "n_needed": math.ceil(need) if math.isfinite(need) else "inf", "cohens_h": h,
               "accuracy_reference": acc_ref, "accuracy_base": acc_base, "alpha": alpha, "power": power}
    thr = f"n >= items needed for power {power:g} at alpha {alpha:g}"
    ev = (Table("power analysis", ("quantity", "value"),
                (("paired items", n), (f"accuracy {r.model} (reference)", fmt(acc_ref)),
                 ("accuracy base", fmt(acc_base)), ("Cohen's h", fmt(h, 2)),
                 ((f"items needed (NormalIndPower, power {power:g}, alpha {alpha:g}; >= exact test minimum "
                  f"{stats.min_discordant(alpha)})"), shown))),)
    if math.isfinite(need) and n >= need:
        return CheckResult(Status.PASS, n, thr, f"{n} items are enough: a difference of {fmt(acc_ref)} vs "
                           f"{fmt(acc_base)} (h = {h:.2f}) needs {shown}.", metrics=metrics, evidence=ev)
    return CheckResult(
        Status.FAIL, n, thr, f"Too few items to measure this gap: {n} paired items, {shown} needed for power "
        f"{power:g} at alpha {alpha:g} to detect {fmt(acc_ref)} vs {fmt(acc_base)} (h = {fmt(h, 2)}).",
        fix=f"Evaluate on at least {shown} items ([data] eval, [generation] n_examples = 0), or accept a lower power "
            'by re-thresholding [gates."gap.power"].', metrics=metrics, evidence=ev)


# the checks gap.verdict weighs, with the function of each
COMPONENTS = {see("gap.base_ceiling"): base_ceiling, see("gap.sentinel"): sentinel,
              see("gap.reference_floor"): reference_floor, see("gap.significance"): significance,
              see("gap.effect_size"): effect_size, see("gap.power"): power}
# what a failed component means for the gap, in words
NOT_REAL = {see("gap.base_ceiling"): "the base already passes", see("gap.sentinel"): "a plain format cue unlocks "
            "the base", see("gap.reference_floor"): "the reference does not reach the floor (the capability is not "
            "shown to be attainable on this eval)", see("gap.effect_size"): "the difference is too small"}
SIGNIFICANCE, POWER, SENTINEL = see("gap.significance"), see("gap.power"), see("gap.sentinel")


@check("gap.verdict", stage="gap", title="Before training: the gap is real / not real / too small to measure")
def verdict(runs: ModelRuns, thresholds: Mapping[str, Mapping | None] | None = None) -> CheckResult:
    """One line: the gap is real (every gap check passes), is not real (the base already passes,
    a cue unlocks it, the reference does not reach the floor or the effect is small: named), or
    is too small to measure with this many items (not significant or under-powered).
    ``thresholds``: each component's ``[gates]`` overrides; None = that component is skipped."""
    thresholds = thresholds or {}
    skipped = _need(runs, "base", "reference")
    if skipped:
        return skipped
    results = {cid: fn(runs, **(thresholds.get(cid) or {})) for cid, fn in COMPONENTS.items()
               if not (cid in thresholds and thresholds[cid] is None)}
    table = Table("the gap, check by check", ("check", "status", "measured", "threshold"),
                  tuple((cid, r.status.value, r.value if not isinstance(r.value, float) else fmt(r.value), r.threshold)
                        for cid, r in results.items()))
    failed = [cid for cid, r in results.items() if r.status in (Status.FAIL, Status.ERROR)]
    metrics = {"components": {cid: r.status.value for cid, r in results.items()}}
    n = len(_base(runs).scored)
    causes = [cid for cid in failed if cid in NOT_REAL and not (COMPONENTS[cid] is effect_size and SIGNIFICANCE in failed)]
    if causes:
        words = "; ".join(f"{NOT_REAL[c]} ({c}: {results[c].explanation.split('. ')[0]})" for c in causes)
        return CheckResult(Status.FAIL, "not real", "every gap check passes", f"The gap is not real: {words}.",
                           fix=results[causes[0]].fix, metrics=metrics | {"verdict": "not real", "causes": causes},
                           evidence=(table,))
    if failed:
        need = results.get(POWER)
        needed = need.metrics.get("n_needed") if need is not None else None
        return CheckResult(Status.FAIL, "too small to measure", "every gap check passes",
                           f"The gap is too small to measure with {n} items"
                           + (f" ({needed} needed)" if needed is not None else "") + ": "
                           + "; ".join(f"{c}: {results[c].explanation.split('. ')[0]}" for c in failed) + ".",
                           fix=results[failed[0]].fix, metrics=metrics | {"verdict": "too small to measure",
                                                                          "n": n, "n_needed": needed},
                           evidence=(table,))
    base = _base(runs)
    refs = "; ".join(f"{_show(r)} (exact McNemar p = {p:.3g}, Cohen's h = {stats.cohens_h(c[1], c[2]):.2f})"
                     for r, c, p in _ref_pairs(runs))
    cue = results.get(SENTINEL)
    cue_text = f", with the cue {fmt(cue.value)}" if cue is not None and isinstance(cue.value, float) else ""
    need = results.get(POWER)
    need_text = f" ({need.metrics.get('n_needed')} needed)" if need is not None else ""
    return CheckResult(Status.PASS, "real", "every gap check passes",
                       f"The gap is real: the base {_show(base)}{cue_text}; the reference {refs}; {n} items are "
                       f"enough to measure it{need_text}.", metrics=metrics | {"verdict": "real"}, evidence=(table,))
