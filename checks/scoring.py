"""Is the configured judge / scorer trustworthy?  Agreement with human labels; and every
output scored, reward components base vs tuned.

An LLM-as-judge or a reward function is only as good as its agreement with people; a
common calibration rule asks Cohen's kappa >= 0.7 on a set of human-labelled outputs
before the judge's numbers are believed.  A multi-component scorer is calibrated per
component: the human labels judge the component ``[scoring] label_component`` names (or
carry a table of labels per component), each is binarised (numbers at
``label_threshold``; words such as correct/incorrect, yes/no) and kappa comes from
statsmodels (``checks.support.calibration``).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sftcheck.checks.support import score_length
from sftcheck.checks.support.calibration import (
    TOTAL,
    Agreement,
    agreement,
    binary_label,
    cause,
    human_parts,
    judge_parts,
    kappa,
)
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, SideBySide, Status, Table
from sftcheck.checks.support.score_length import LengthFlips

__all__ = ["binary_label", "judge_calibrated", "kappa", "length_flip", "reward_components"]


def _skip(judge, human, scorer, thr) -> CheckResult:
    have_scorer = bool(scorer) or judge is not None
    missing = [k for k, gone in (("[scoring] scorer", not have_scorer),
                                 ("[scoring] human_labels", human is None)) if gone]
    labels_help = ('human_labels is a JSONL of {"id", "output", "label"} lines: outputs a person '
                   "marked 1 (right) or 0 (wrong), about 40 or more")
    if have_scorer and human is None:
        served = bool(scorer) and scorer.startswith(("MCP tool", "HTTP scorer"))  # scorers.describe
        named = f"the scorer ({scorer})" if served else f"[scoring] scorer{f' = {scorer!r}' if scorer else ''}"
        why = (f"{named} is set, but there are no human labels to calibrate it against: set "
               f"[scoring] human_labels ({labels_help}).")
    else:
        why = (f"not configured: set {' and '.join(missing)} to calibrate the judge against human "
               f"labels{f' ({labels_help})' if human is None else ''}.")
    return CheckResult(Status.SKIP, None, thr, why, metrics={"missing": missing})


def _kappa_table(rows: list[tuple[Agreement, bool]], min_kappa: float) -> Table:
    out = []
    for a, judged in rows:
        k = f"{a.kappa:.3f}" if math.isfinite(a.kappa) else "undefined"
        verdict = ("judged by the labels: " + ("ok" if math.isfinite(a.kappa) and a.kappa >= min_kappa
                                                else "below" if math.isfinite(a.kappa) else "undefined")
                   if judged else "information only (not what the labels judge)")
        out.append((a.component, a.n, k, f"{a.agree:.1%}" if a.n else "", verdict))
    return Table("Cohen's kappa per reward component vs the human labels", ("component", "n", "kappa",
                 "raw agreement", "verdict"), tuple(out))


@check("scoring.judge_calibrated", stage="gate", title="The judge / scorer agrees with human labels")
def judge_calibrated(judge: Mapping[str, Any] | None, human: Mapping[str, Any] | None,
                     source: str = "human labels", scorer: str | None = None,
                     label_component: str | None = None, *, min_kappa: float = 0.7,
                     label_threshold: float = 0.5) -> CheckResult:
    """Cohen's kappa between the judge's verdicts (``judge[id]``: a score, a label, or a
    reward with components) and the human labels (``human[id]``: one label, judging
    ``label_component`` -- the ``[scoring] label_component`` key, default the total reward --
    or a table ``{component: label}``) >= ``min_kappa`` for every component the labels
    judge; kappa is reported for every component.  SKIP when either is not configured
    (``scorer``: the configured scorer, so the reason names what is missing)."""
    thr = f">= {min_kappa}"
    if judge is None or human is None:
        return _skip(judge, human, scorer, thr)
    jparts = {str(k): judge_parts(v) for k, v in judge.items()}
    hparts = {str(k): human_parts(v, label_component) for k, v in human.items()}
    judged = list(dict.fromkeys(c for parts in hparts.values() for c in parts))
    offered = list(dict.fromkeys(c for parts in jparts.values() for c in parts))
    shared_ids = [k for k in hparts if k in jparts]
    metrics: dict[str, Any] = {"unmatched_human_ids": len(hparts) - len(shared_ids),
                               "label_component": label_component or TOTAL, "judged": judged}
    absent = [c for c in judged if c not in offered]
    if shared_ids and absent:
        return CheckResult(
            Status.FAIL, None, thr,
            f"The human labels in {source} judge the component{'s' if len(absent) > 1 else ''} "
            f"{', '.join(repr(c) for c in absent)}, but the judge returns no such component (it returns: "
            f"{', '.join(offered)}): nothing to calibrate.",
            fix="Set [scoring] label_component to the component your human labels judge (one of "
                f"{', '.join(offered)}), or name the components in the labels (\"labels\": "
                "{\"correctness\": 1}).", metrics=metrics)
    results = {c: agreement(c, jparts, {k: p[c] for k, p in hparts.items() if c in p}, label_threshold)
               for c in judged}
    primary = judged[0] if judged else TOTAL
    primary_labels = {k: p[primary] for k, p in hparts.items() if primary in p}
    info = {c: agreement(c, jparts, primary_labels, label_threshold) for c in offered if c not in results}
    metrics["components"] = {c: a.to_dict() | {"judged_by_labels": c in results}
                             for c, a in (results | info).items()}
    worst = min(results.values(), key=lambda a: (a.kappa if math.isfinite(a.kappa) else math.inf))
    metrics.update({"n": worst.n, "unreadable": len(worst.unreadable),
                    "kappa": worst.kappa if math.isfinite(worst.kappa) else "nan",
                    "raw_agreement": worst.agree if worst.n else "nan",
                    "confusion_human_by_judge": worst.confusion})
    if not any(a.n for a in results.values()):
        bad = next((a for a in results.values() if a.unreadable), None)
        why = (f"{len(bad.unreadable)} label(s) could not be read as 0/1, e.g. {bad.unreadable[0]!r} = "
               f"{human.get(bad.unreadable[0], judge.get(bad.unreadable[0]))!r}" if bad else
               f"None of the {len(human)} labelled ids in {source} has a judge verdict")
        return CheckResult(Status.FAIL, None, thr, f"{why}: nothing to compare, so the judge is uncalibrated.",
                           fix=f"Label the same example ids the judge scores (the `id` of each line of "
                               f"{source} must match an eval id) with 1/0 or correct/incorrect.",
                           metrics=metrics)
    multi = len(offered) > 1
    evidence: list[Any] = []
    if multi:
        evidence.append(_kappa_table([(a, True) for a in results.values()] + [(a, False) for a in info.values()],
                                     min_kappa))
    for a in results.values():
        t = a.confusion
        name = f"'{a.component}': " if multi else ""
        evidence.append(Table(f"{name}human (rows) vs judge (columns)", ("", "judge 1", "judge 0"),
                              (("human 1", t[1][1], t[1][0]), ("human 0", t[0][1], t[0][0]))))
        if a.disagreements:
            evidence.append(Table(f"{name}disagreements (first 20)", ("id", "judge", "human"),
                                  tuple(a.disagreements[:20])))

    def what(a: Agreement) -> str:
        return f"the judge's {a.component!r}" if multi else "the judge"

    low = [a for a in results.values() if math.isfinite(a.kappa) and a.kappa < min_kappa]
    undefined = [a for a in results.values() if not math.isfinite(a.kappa)]
    ok = [a for a in results.values() if math.isfinite(a.kappa) and a.kappa >= min_kappa]
    passed = "; ".join(f"{what(a)} agrees on {a.agree:.1%} of {a.n} (kappa {a.kappa:.2f})" for a in ok)
    if low:
        texts = []
        for a in low:
            texts.append(f"Cohen's kappa between {what(a)} and {source} is {a.kappa:.2f} on {a.n} outputs "
                         f"(raw agreement {a.agree:.1%}), below {min_kappa}: {cause(a, label_threshold)}")
        better = [b for b in info.values() if math.isfinite(b.kappa) and b.kappa >= min_kappa]
        hint = (f" Component {better[0].component!r} does agree with these labels (kappa "
                f"{better[0].kappa:.2f}): if that is what the humans judged, set [scoring] label_component = "
                f"{better[0].component!r}." if better and len(results) == 1 else "")
        also = f" (Agreeing: {passed}.)" if passed else ""
        return CheckResult(
            Status.FAIL, min(a.kappa for a in low), thr,
            ". ".join(texts) + f". Its scores cannot stand in for human judgement.{hint}{also}",
            fix="Read the disagreements below; fix the judge's prompt/rubric or scale, point [scoring] "
                "label_component at the component the labels judge, or set "
                '[gates."scoring.judge_calibrated"] label_threshold to the score that means "good".',
            metrics=metrics, evidence=tuple(evidence))
    if undefined:
        a = undefined[0]
        return CheckResult(Status.WARN, a.kappa, thr,
                           f"Kappa of {what(a)} is undefined on {a.n} labels: every human label and every "
                           f"judge verdict falls in one class (raw agreement {a.agree:.1%}). A "
                           "calibration set needs both good and bad outputs.",
                           fix=f"Add outputs the humans judged the other way to {source}.",
                           metrics=metrics, evidence=tuple(evidence))
    first = ok[0]
    text = (f"Judge and humans agree on {first.agree:.1%} of {first.n} labelled outputs (Cohen's kappa "
            f"{first.kappa:.2f})." if not multi else
            f"Per component: {passed} ({source}); kappa for every component is in the table below.")
    return CheckResult(Status.PASS, min(a.kappa for a in ok), thr, text, metrics=metrics,
                       evidence=tuple(evidence))


MAX_PLOTTED = 8


@check("scoring.reward_components", stage="gate",
       title="Every output is scored; reward components base vs tuned")
def reward_components(runs: Mapping[str, Any] | None, scorer_name: str | None = None, *,
                      max_unscored_share: float = 0.0) -> CheckResult:
    """Each model's outputs scored by the configured scorer (function, HTTP server or MCP
    tool; ``runs = {"base": ScoringRun, "tuned": ...}``): per reward component mean,
    median, std, 95 % interval and the share at each value, base vs tuned, with a radar
    chart and a histogram + box plot per component.  Fails when more than
    ``max_unscored_share`` of the outputs got no score (server down, timeout, malformed
    reply, died mid-run); the scores received are still reported (partial).  SKIP when no
    scorer is configured (exact match is then the reward)."""
    from sftcheck.checks.support import reward_plots
    from sftcheck.checks.support.rewards import all_stats, comparison_table, component_values, stats_table

    if not runs:
        return CheckResult(Status.SKIP, None, None,
                           "No scorer configured ([scoring] scorer, server or an mcp table under [scoring]): the "
                           f"reward is exact-match correctness, reported by {see('behaviour.accuracy')}.")
    backend = next(iter(runs.values())).backend
    requested = sum(r.requested for r in runs.values())
    unscored = {m: dict(r.errors) | {k: "no score" for k in _missing(r)} for m, r in runs.items()}
    n_unscored = sum(len(v) for v in unscored.values())
    share = n_unscored / requested if requested else 0.0
    stats = all_stats({m: r.rewards for m, r in runs.items()})
    fatal = next((r.fatal for r in runs.values() if r.fatal), None)
    metrics: dict[str, Any] = {
        "backend": backend, "requested": requested, "scored": requested - n_unscored,
        "unscored": {m: len(v) for m, v in unscored.items()}, "partial": n_unscored > 0, "fatal": fatal,
        "seconds": max((r.seconds for r in runs.values()), default=0.0),
        "components": {name: {m: st.to_dict() for m, st in by.items()} for name, by in stats.items()}}
    evidence: list[Any] = []
    if stats:
        evidence += [comparison_table(stats), stats_table(stats)]
        values = {m: component_values(r.rewards) for m, r in runs.items()}
        names = list(stats)[:MAX_PLOTTED]
        lo_hi = {}
        for name in names:
            allv = [v for m in values for v in values[m].get(name, {}).values()]
            lo_hi[name] = (0.0, 1.0) if set(allv) <= {0.0, 1.0} else (min(allv), max(allv))
        means = {m: {n: st.mean for n, by in stats.items() if n in names for mm, st in by.items() if mm == m}
                 for m in runs}
        evidence.append(reward_plots.radar(means, lo_hi))
        evidence.append(reward_plots.components_grid(
            {name: {m: list(values[m].get(name, {}).values()) for m in runs} for name in names}))
    messages = Counter(r.message for run in runs.values() for r in run.rewards.values() if r.message)
    if messages:
        evidence.append(Table("the scorer's messages (commonest first)", ("message", "outputs"),
                              tuple(messages.most_common(10))))
    if n_unscored:
        rows = tuple((m, k, e.splitlines()[0][:300]) for m, errs in unscored.items() for k, e in errs.items())
        evidence.insert(0, Table(f"outputs not scored ({n_unscored}; first 20)", ("model", "id", "error"),
                                 rows[:20]))
    scorer = scorer_name or backend
    thr = f"unscored share <= {max_unscored_share:g}"
    tuned = stats.get("reward", {}).get("tuned")
    base = stats.get("reward", {}).get("base")
    means = (f" Mean reward: base {base.mean:.4g}, tuned {tuned.mean:.4g}." if base and tuned else "")
    if share > max_unscored_share:
        first = next(((m, k, e) for m, errs in unscored.items() for k, e in errs.items()), None)
        where = f" First: {first[0]} {first[1]}: {first[2].splitlines()[0]}." if first else ""
        stop = f" The run stopped on: {fatal}." if fatal else ""
        return CheckResult(
            Status.FAIL, share, thr,
            f"{n_unscored} of {requested} outputs got no score from {scorer}.{where}{stop} The "
            f"{requested - n_unscored} scores received are kept and reported below (partial).{means}",
            "Make the scorer reachable and answer every record: start the server at the configured "
            "address, raise [scoring] timeout for a slow scorer, check that the reply is "
            "{\"scores\": [...]} JSON (HTTP) or the tool returns a number / table (MCP); then re-run.",
            metrics=metrics, evidence=tuple(evidence))
    comps = [n for n in stats if n != "reward"]
    return CheckResult(Status.PASS, share, thr,
                       f"All {requested} outputs scored by {scorer} "
                       f"({len(comps)} component{'s' if len(comps) != 1 else ''}"
                       f"{': ' + ', '.join(comps) if comps else ''}).{means}",
                       metrics=metrics, evidence=tuple(evidence))


def _missing(run: Any) -> list[str]:
    """Ids neither scored nor errored (a backend that lost track of records)."""
    return [] if len(run.rewards) + len(run.errors) >= run.requested else \
        [f"<{run.requested - len(run.rewards) - len(run.errors)} unaccounted records>"]


@check("scoring.length_flip", stage="gap", title="The scorer's verdict does not flip on length alone (every model, every eval set)")
def length_flip(flips: Sequence[LengthFlips], *, max_flip_rate: float = 0.05) -> CheckResult:
    """Every model's outputs on every eval set, rescored cut right after their answer and padded
    past 600 characters with neutral filler: the share of verdicts that change (the answer did not)
    is at most ``max_flip_rate`` for each model and eval set: the intervention behind the
    correlation ``behaviour.length_bias`` reports for the tuned model."""
    if not flips:
        return CheckResult(Status.SKIP, None, None, f"No model outputs to rescore (see {see('models.table')}: fewer "
                           "than two models ran).")
    thr = f"flip rate <= {max_flip_rate:g} per model and eval set"
    rows = tuple((f.model, f.eval_set, f.n, f.count("padded"), f.n_truncated, f.count("truncated"), f"{f.rate:.3f}",
                  f.error or "") for f in flips)
    table = Table("verdicts that flip on length alone", ("model", "eval set", "padded", "flipped", "truncated",
                                                         "flipped", "flip rate", "error"), rows,
                  row_tags=tuple(("flagged",) if f.rate > max_flip_rate or f.error else () for f in flips))
    metrics = {"by_model": [{"model": f.model, "set": f.eval_set, "scorer": f.scorer, "padded": f.n,
                             "padded_flips": f.count("padded"), "truncated": f.n_truncated,
                             "truncated_flips": f.count("truncated"), "flip_rate": f.rate, "error": f.error}
                            for f in flips], "pad_to_chars": score_length.PAD_TO}
    broken = [f for f in flips if f.error]
    bad = [f for f in flips if f.rate > max_flip_rate]
    worst = max(flips, key=lambda f: f.rate)
    if not bad and not broken:
        return CheckResult(Status.PASS, worst.rate, thr, f"{sum(f.n + f.n_truncated for f in flips)} rescorings of "
                           f"{len(flips)} model x eval-set runs: the verdict never flips on length alone beyond "
                           f"{max_flip_rate:g} (largest: {worst.model} on {worst.eval_set}, {worst.rate:.1%}).",
                           metrics=metrics, evidence=(table,))
    if broken and not bad:
        f = broken[0]
        return CheckResult(Status.ERROR, None, thr, f"Rescoring {f.model} on {f.eval_set} failed: {f.error}.",
                           fix="Fix the scorer error named above.", metrics=metrics, evidence=(table,))
    f = max(bad, key=lambda x: x.rate)
    example = next((x for x in f.flips if x.how == "padded"), f.flips[0])
    shown = SideBySide(f"{f.model} on {f.eval_set}: one output, {example.how}", f"as generated ({example.before})",
                       f"{example.length_before} characters", f"{example.how} ({example.after})", example.text_after,
                       context=(("id", example.id),))
    return CheckResult(
        Status.FAIL, f.rate, thr,
        f"The verdict flips on length alone: {f.model} on {f.eval_set}: {f.count('padded')} of {f.n} outputs change "
        f"verdict when padded to {score_length.PAD_TO}+ characters, {f.count('truncated')} of {f.n_truncated} when cut "
        f"right after the answer ({f.rate:.1%} of rescorings; scorer: {f.scorer}). The answer did not change, so the "
        "scorer judges length: a rule such as 'over 500 characters = failure' (which voided a reported evaluation), "
        "a length penalty, or a judge that prefers short / long answers. Every accuracy computed with it is biased.",
        fix="Score the extracted answer, not the raw length; if length matters, make it a separate, explicit "
            'criterion; or re-threshold [gates."scoring.length_flip"] max_flip_rate.',
        metrics=metrics, evidence=(table, shown))
