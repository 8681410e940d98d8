"""Behaviour checks on the scores: rewards spread, scores do not just track length, and the
format cue alone does not make the base answer (sentinel)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sftcheck.checks.behaviour.generations import _examples, _rate
from sftcheck.checks.support import score_length
from sftcheck.checks.support.outputs import CLASSES, class_counts, class_notes
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table
from sftcheck.checks.support.samples import GenerationSet, Outcome, Scored


@check("behaviour.reward_spread", stage="behaviour", title="Rewards / scores are not all the same")
def reward_spread(generations: Mapping[str, GenerationSet], scored: Mapping[str, Sequence[Scored]],
                  markers: Sequence[str] = (), stop_tokens: Sequence[str] = (),
                  scorer_name: str | None = None, rewards: Mapping[str, Any] | None = None,
                  scorer_markers: Sequence[str] = (), *, min_std: float = 0.0,
                  max_top_share: float = 0.9) -> CheckResult:
    """The tuned outputs' scores must spread: std > ``min_std`` and no single value held by
    ``max_top_share`` of them (unless that value is the top score and the base scores lower:
    a model at the ceiling).  When they collapse, the usual causes are tested with counts
    (``checks.support.reward_causes``): the marker the scorer parses is missing from the
    outputs (in none of them, or only in the prompt template), the model refuses, outputs
    are empty or truncated, or the base's different outputs score the same (the scorer is
    insensitive); the first that holds is named, with the offending outputs and the scorer's
    messages.  Without a scorer the score is exact-match correctness (1 / 0)."""
    import statistics

    from sftcheck.checks.support.reward_causes import FIXES, cause_table, diagnose

    tuned = scored["tuned"]
    values = [s.score for s in tuned if s.score is not None]
    scorer = scorer_name or "exact match (1 correct / 0 otherwise; no [scoring] scorer configured)"
    if len(values) < 2:
        return CheckResult(Status.SKIP, None, None,
                           f"Fewer than 2 scored outputs (scorer: {scorer}).")
    std = statistics.pstdev(values)
    top, top_n = Counter(values).most_common(1)[0]
    share = top_n / len(values)
    by_id = {s.id: s for s in tuned}
    base = generations["base"].by_id() if "base" in generations else {}
    base_values = [s.score for s in scored.get("base", ()) if s.score is not None]
    counts = class_counts(generations["tuned"].items, by_id, base, markers, stop_tokens)
    metrics: dict[str, Any] = {"std": std, "mean": statistics.fmean(values), "min": min(values),
                               "max": max(values), "n": len(values), "scorer": scorer, "classes": counts,
                               "top_value": top, "top_share": share}
    table = Table("tuned outputs by class", ("class", "count"), tuple((c, counts[c]) for c in CLASSES))
    thr = f"std > {min_std} and no value held by >= {max_top_share:.0%} (unless the top score, base lower)"
    if std > min_std and share < max_top_share:
        return CheckResult(Status.PASS, std, thr,
                           f"Scores vary (std {std:.4g}, range {min(values):.4g}..{max(values):.4g}, commonest "
                           f"value {top:.4g} on {share:.0%}; scorer: {scorer}).", metrics=metrics, evidence=(table,))
    if scorer_name is None and all(s.outcome is Outcome.CORRECT for s in tuned):
        return CheckResult(Status.PASS, std, thr,
                           "Every output is correct, so exact-match scores are all 1: no spread "
                           "needed.", metrics=metrics, evidence=(table,))
    if base_values and top >= max(values + base_values) and statistics.fmean(base_values) < top:
        return CheckResult(Status.PASS, std, thr,
                           f"{top_n} of {len(values)} tuned outputs ({share:.0%}) get the top score {top:.4g}; the "
                           f"base averages {statistics.fmean(base_values):.4g}: the tuned model is at the "
                           f"scorer's ceiling, not stuck (scorer: {scorer}).", metrics=metrics, evidence=(table,))
    ids = [s.id for s in tuned if s.score == top]
    run = (rewards or {}).get("tuned")
    messages = {k: r.message for k, r in run.rewards.items() if r.message} if run is not None else {}
    causes = diagnose(ids, generations["tuned"].by_id(), scored, base, scorer_markers, messages)
    metrics["causes"] = [{"cause": c.name, "count": c.count, "of": c.of, "detail": c.detail} for c in causes]
    notes = class_notes(generations["tuned"].items, by_id, base, markers, stop_tokens, messages)
    evidence: list[Any] = [cause_table(causes)] if causes else []
    evidence.append(table)
    if messages:
        evidence.append(Table("the scorer's messages on these outputs (commonest first)", ("message", "outputs"),
                              tuple(Counter(messages[i] for i in ids if i in messages).most_common(10))))
    shown = (causes[0].ids if causes else []) or list(notes) or ids
    evidence.extend(_examples(shown, generations, scored, "offending outputs", note=notes))
    same = (f"Every one of {len(values)} tuned outputs got the same score {top:.4g}" if std <= min_std else
            f"{top_n} of {len(values)} tuned outputs ({share:.0%}) got the same score {top:.4g}")
    if causes:
        primary = causes[0]
        also = "; ".join(f"{c.name}: {c.count} of {c.of}" for c in causes[1:])
        return CheckResult(
            Status.FAIL, std, thr,
            f"{same} (scorer: {scorer}): no learning signal, no ranking. Cause: {primary.name} — "
            f"{primary.detail}.{' Also holds: ' + also + '.' if also else ''}",
            FIXES[primary.name], metrics=metrics | {"cause": primary.name}, evidence=tuple(evidence))
    main = max(CLASSES, key=lambda c: counts[c]) if any(counts.values()) else None
    cls = (f" The outputs: {', '.join(f'{c} {counts[c]}' for c in CLASSES if counts[c])}; the "
           f"commonest problem is '{main}'." if main else
           " No output falls into a problem class and no usual cause holds (marker, refusal, empty / "
           "truncated, insensitive scorer).")
    return CheckResult(
        Status.FAIL if std <= min_std else Status.WARN, std, thr,
        f"{same} (scorer: {scorer}): there is little or no learning signal and no ranking.{cls} A format "
        "penalty applied to every sample (e.g. all -10.00) means the outputs never match the expected "
        "format; a scorer that returns a constant whatever the input is broken.",
        "Fix the class named above first (no stop → train EOS; role leak → train the turn end; missing "
        "tags → use the training prompt at inference); then check that the scorer reads the output "
        "it is given (call it on a correct and a wrong answer); name the strings it parses in "
        "[scoring] markers.", metrics=metrics, evidence=tuple(evidence))


@check("behaviour.length_bias", stage="behaviour", title="Scores do not just track output length")
def length_bias(generations: Mapping[str, GenerationSet], scored: Mapping[str, Sequence[Scored]], *,
                warn_rho: float = 0.3, fail_rho: float = 0.8, min_examples: int = 10) -> CheckResult:
    """|Spearman ρ| between the tuned outputs' scores and their lengths (characters) *among
    outputs with the same correctness* (correct / incorrect / unparsable): what length
    explains beyond being right.  The overall ρ is reported too, but it also reflects which
    questions were answered correctly (hard questions can have longer answers), so it is
    not the verdict.  The largest |ρ| over classes with ``min_examples`` outputs decides."""
    tuned = generations["tuned"].by_id()
    rows = [(s.score, len(tuned[s.id].text), s.outcome.value, tuned[s.id].finish_reason.value)
            for s in scored["tuned"] if s.score is not None and s.id in tuned]
    if len(rows) < min_examples:
        return CheckResult(Status.SKIP, None, None,
                           f"Only {len(rows)} scored outputs (need {min_examples}).")
    scores, lengths = [r[0] for r in rows], [r[1] for r in rows]
    metrics: dict[str, Any] = {"n": len(rows), "mean_score_by_finish": score_length.mean_by_finish(rows)}
    overall = score_length.overall_rho(scores, lengths)
    if overall is not None:
        metrics.update(overall_rho=overall[0], overall_p=overall[1])
    per_class = score_length.rho_within_class(rows, min_examples)
    metrics["within_class"] = {c: {"n": n, "rho": r, "p": p} for c, n, r, p in per_class}
    threshold = f"|rho| within a correctness class < {warn_rho} (warn), < {fail_rho} (fail)"
    evidence = (Table("Spearman ρ of score vs length within each correctness class",
                      ("outputs", "n", "rho", "p"), tuple((c, n, round(r, 3), f"{p:.3g}") for c, n, r, p in per_class)),
                Table("mean score by output-length quartile (all outputs)", ("length (chars)", "n", "mean score"),
                      tuple(score_length.mean_by_length_quartile(scores, lengths))))
    overall_note = (f" Overall ρ = {metrics['overall_rho']:.3f} (it also reflects which questions were "
                    "answered correctly)." if "overall_rho" in metrics else "")
    if not per_class:
        return CheckResult(Status.PASS, 0.0, threshold,
                           "Within each correctness class the scores do not vary (or too few outputs to "
                           f"measure): the score depends on correctness, not on length.{overall_note}",
                           metrics=metrics, evidence=evidence)
    cls, n, rho, p = max(per_class, key=lambda x: abs(x[2]))
    metrics.update(rho=rho, p_value=p, worst_class=cls)
    if abs(rho) < warn_rho:
        return CheckResult(Status.PASS, rho, threshold,
                           f"Among outputs of equal correctness, score and length are weakly related "
                           f"(largest |ρ|: {rho:.3f} among {n} {cls} outputs, p = {p:.3g}).{overall_note}",
                           metrics=metrics, evidence=evidence)
    status = Status.FAIL if abs(rho) >= fail_rho else Status.WARN
    direction = "longer outputs score higher" if rho > 0 else "shorter outputs score higher"
    return CheckResult(
        status, rho, threshold,
        f"Scores track output length: among {n} {cls} outputs Spearman ρ = {rho:.3f} (p = {p:.3g}); "
        f"{direction} although they are equally right.{overall_note} Most likely: the scorer rewards or "
        "penalises length rather than correctness (a reported '> 500 chars = failure' heuristic "
        "invalidated a whole evaluation), or long outputs are the ones that never stopped (see mean "
        "score by finish reason in the metrics).",
        "Score the extracted answer, not the raw text length; if length matters, make it an explicit, "
        f"separate criterion; check {see('behaviour.stop_rate')}; {see('scoring.length_flip')} rescores every "
        "model's outputs at another length.", metrics=metrics, evidence=evidence)


@check("behaviour.sentinel", stage="behaviour", title="Sentinel: format cue alone vs tuning")
def sentinel(scored: Mapping[str, Sequence[Scored]], raw_scored: Mapping[str, Sequence[Scored]], *,
             max_base_rate: float = 0.3) -> CheckResult:
    """Answer rate with the formatted prompt vs the raw question, base and tuned.  The base
    must not already answer in the trained format from the prompt's format cue alone."""
    def rate(xs: Sequence[Scored]) -> float:
        return _rate(sum(s.outcome is not Outcome.UNPARSABLE for s in xs), len(xs))

    rates = {("base", "formatted"): rate(scored["base"]), ("tuned", "formatted"): rate(scored["tuned"]),
             ("base", "raw"): rate(raw_scored["base"]), ("tuned", "raw"): rate(raw_scored["tuned"])}
    metrics = {f"{m}_{p}": v for (m, p), v in rates.items()}
    metrics["n_raw"] = len(raw_scored["tuned"])
    table = Table("answer rate: formatted prompt vs raw question",
                  ("model", "formatted prompt", "raw question"),
                  tuple((m, round(rates[(m, "formatted")], 4), round(rates[(m, "raw")], 4))
                        for m in ("base", "tuned")))
    base_rate = rates[("base", "formatted")]
    if base_rate <= max_base_rate:
        note = ""
        if rates[("tuned", "raw")] < 0.5 * rates[("tuned", "formatted")]:
            note = " The tuned model needs the formatted prompt (raw-question answer rate " \
                   f"{rates[('tuned', 'raw')]:.0%}): serve it with the same prompt builder."
        return CheckResult(Status.PASS, base_rate, f"<= {max_base_rate}",
                           f"The base answers in the trained format on {base_rate:.0%} of formatted "
                           f"prompts: the format is learned by tuning, not cued by the prompt.{note}",
                           metrics=metrics, evidence=(table,))
    return CheckResult(
        Status.FAIL, base_rate, f"<= {max_base_rate}",
        f"The base, with the adapter disabled, already answers in the trained format on {base_rate:.0%} "
        f"of formatted prompts (raw question: {rates[('base', 'raw')]:.0%}). The format cue alone makes "
        "it follow the task, so the tuned score does not measure what tuning added. Most likely: the "
        "declared base is an instruct/chat model or already contains the tuned weights (a merged "
        "checkpoint declared as base), or the prompt itself contains the answer format.",
        "Point [model] base at the true pre-trained base (not an -Instruct/-Chat or merged model) and "
        "report tuned vs base gains (gate.* checks).", metrics=metrics, evidence=(table,))
