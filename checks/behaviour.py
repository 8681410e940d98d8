"""Behaviour checks: what the tuned model actually generates (stage ``behaviour``).

Inputs are the session's one generation pass (``{"base": GenerationSet, "tuned": ...}``),
the scored answers (``{"base": [Scored], "tuned": [...]}``), role-leak markers and probe
logits; no model is loaded here.  Failing examples are shown base vs tuned side by side.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sftcheck.checks.support import outputs, score_length
from sftcheck.checks.support.example_tables import clip as _clip
from sftcheck.checks.support.example_tables import every_example
from sftcheck.checks.support.outputs import CLASSES, class_counts, class_notes, find_leak, is_empty
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, SideBySide, Status, Table
from sftcheck.checks.support.samples import FinishReason, GenerationSet, Outcome, Scored
from sftcheck.checks.support.stops import run_on_note

MAX_ROWS = 20


def _examples(ids: Sequence[str], generations: Mapping[str, GenerationSet],
              scored: Mapping[str, Sequence[Scored]] | None = None, title: str = "examples",
              note: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """A table of the given examples (base vs tuned) and side-by-side views of the first 3."""
    tuned = generations["tuned"].by_id()
    base = generations["base"].by_id() if "base" in generations else {}
    tscored = {s.id: s for s in (scored or {}).get("tuned", ())}
    rows = []
    for i in ids[:MAX_ROWS]:
        g = tuned[i]
        s = tscored.get(i)
        rows.append((i, _clip(g.prompt), _clip(base[i].raw_text) if i in base else "",
                     _clip(g.raw_text), s.extracted if s else "", (s.rule or "") if s else "",
                     s.outcome.value if s else "",
                     g.finish_reason.value, g.new_tokens, (note or {}).get(i, "") or (
                         f"ran on past {g.missed_stop!r}: {_clip(g.run_on, 60)!r}" if g.missed_stop else "")))
    out: list[Any] = [Table(f"{title} ({len(ids)}; first {min(len(ids), MAX_ROWS)} shown)",
                            ("id", "prompt", "base output", "tuned output", "extracted", "rule", "outcome",
                             "finish", "new tokens", "note"), tuple(rows))]
    for i in ids[:3]:
        context = (("prompt", tuned[i].prompt),) + ((("gold", tscored[i].gold),) if i in tscored else ())
        out.append(SideBySide(f"{i}: {_clip(tuned[i].prompt, 80)}", "base", base[i].raw_text
                              if i in base else "(no base output)", "tuned", tuned[i].raw_text, context))
    return tuple(out)


def _rate(k: int, n: int) -> float:
    return k / n if n else 0.0


@check("behaviour.answer_rate", stage="behaviour", title="Tuned outputs contain a parsable answer")
def answer_rate(generations: Mapping[str, GenerationSet], scored: Mapping[str, Sequence[Scored]],
                lenient: Mapping[str, Sequence[Scored]] | None = None, *,
                min_rate: float = 0.9) -> CheckResult:
    """Share of tuned outputs where the configured pattern / parser finds an answer."""
    tuned = scored["tuned"]
    n = len(tuned)
    bad = [s.id for s in tuned if s.outcome is Outcome.UNPARSABLE]
    rate = 1 - _rate(len(bad), n)
    metrics: dict[str, Any] = {"n": n, "unparsable": len(bad)}
    rows = []
    for variant in ("base", "tuned"):
        if variant in scored:
            strict = sum(s.outcome is not Outcome.UNPARSABLE for s in scored[variant]) / max(1, n)
            metrics[f"{variant}_strict"] = strict
            row = [variant, round(strict, 4)]
            if lenient and variant in lenient:
                lr = sum(s.outcome is not Outcome.UNPARSABLE for s in lenient[variant]) / max(1, n)
                metrics[f"{variant}_lenient"] = lr
                row.append(round(lr, 4))
            rows.append(tuple(row))
    cols = ("model", "strict answer rate") + (("lenient answer rate",) if lenient else ())
    evidence: tuple[Any, ...] = (Table("answer rate, strict vs lenient extraction", cols, tuple(rows)),)
    if n == 0:
        return CheckResult(Status.FAIL, 0.0, f">= {min_rate}",
                           "No eval examples were generated.",
                           "Set [data] eval to a file with examples and [generation] n_examples >= 1.")
    if rate >= min_rate:
        return CheckResult(Status.PASS, rate, f">= {min_rate}",
                           f"{n - len(bad)}/{n} tuned outputs contain a parsable answer.",
                           metrics=metrics, evidence=evidence)
    lenient_note = ""
    if lenient and "tuned_lenient" in metrics and metrics["tuned_lenient"] > rate + 0.2:
        lenient_note = (f" Lenient extraction finds an answer in {metrics['tuned_lenient']:.0%}: the model "
                        "often answers but not in the trained format.")
    stopped = Counter(generations["tuned"].by_id()[i].finish_reason.value for i in bad)
    return CheckResult(
        Status.FAIL, rate, f">= {min_rate}",
        f"Only {n - len(bad)}/{n} tuned outputs ({rate:.1%}) match the answer pattern; "
        f"{len(bad)} are unparsable (finish reasons: {dict(stopped)}).{lenient_note} Most likely: the "
        f"inference prompt differs from the training prompt ({see('format.train_infer_aligned')}), the "
        f"adapter is not applied ({see('behaviour.adapter_effect')}), the model never stops "
        f"({see('behaviour.stop_rate')}), or the answer "
        "pattern does not match the trained completion format." + run_on_note(generations["tuned"], bad),
        "Serve with the exact training prompt builder, check the adapter loads, and make "
        "[format] answer_pattern match the completion template.",
        metrics=metrics, evidence=evidence + _examples(bad, generations, scored, "unparsable outputs"))


@check("behaviour.accuracy", stage="behaviour", title="Tuned accuracy, with a Wilson interval")
def accuracy(generations: Mapping[str, GenerationSet], scored: Mapping[str, Sequence[Scored]], *,
             min_accuracy: float = 0.5, confidence: float = 0.95) -> CheckResult:
    """Share of correct tuned answers (unparsable counts as not correct), Wilson CI."""
    from statsmodels.stats.proportion import proportion_confint

    metrics: dict[str, Any] = {}
    rows = []
    for variant in ("base", "tuned"):
        if variant not in scored:
            continue
        s = scored[variant]
        k = sum(x.outcome is Outcome.CORRECT for x in s)
        n = len(s)
        lo, hi = proportion_confint(k, n, alpha=1 - confidence, method="wilson") if n else (0.0, 0.0)
        unp = sum(x.outcome is Outcome.UNPARSABLE for x in s)
        metrics[variant] = {"correct": k, "n": n, "accuracy": _rate(k, n), "ci_low": float(lo),
                            "ci_high": float(hi), "unparsable": unp}
        rows.append((variant, k, n - k - unp, unp, n, round(_rate(k, n), 4),
                     f"[{lo:.3f}, {hi:.3f}]"))
    t = metrics["tuned"]
    table = Table(f"accuracy ({confidence:.0%} Wilson interval)",
                  ("model", "correct", "incorrect", "unparsable", "n", "accuracy", "interval"), tuple(rows))
    where = f"{t['correct']}/{t['n']} correct, {confidence:.0%} Wilson interval [{t['ci_low']:.3f}, " \
            f"{t['ci_high']:.3f}]"
    if t["n"] and t["accuracy"] >= min_accuracy:
        return CheckResult(Status.PASS, t["accuracy"], f">= {min_accuracy}",
                           f"Tuned accuracy {t['accuracy']:.1%} ({where}).", metrics=metrics,
                           evidence=(table, every_example(generations, scored)))
    wrong = [x.id for x in scored["tuned"] if x.outcome is not Outcome.CORRECT]
    cause = (f"most outputs are unparsable: fix the format first ({see('behaviour.answer_rate')})"
             if t["unparsable"] > t["n"] / 2 else
             "the answers parse but are wrong: too little training (steps, lr), a task too hard for "
             "the model, or eval data from another distribution than train")
    return CheckResult(
        Status.FAIL, t["accuracy"], f">= {min_accuracy}",
        f"Tuned accuracy {t['accuracy']:.1%} ({where}) is below {min_accuracy:.0%}; {cause}."
        + run_on_note(generations["tuned"], wrong),
        "Read the failing examples below; if the format is right, train longer or on more data; "
        "re-threshold with [gates.\"behaviour.accuracy\"] min_accuracy if the bar is wrong for this task.",
        metrics=metrics, evidence=(table,) + _examples(wrong, generations, scored, "not correct")
        + (every_example(generations, scored),))


@check("behaviour.stop_rate", stage="behaviour", title="Tuned outputs end by EOS / a stop string")
def stop_rate(generations: Mapping[str, GenerationSet], *, min_rate: float = 0.9) -> CheckResult:
    """Share of tuned outputs that finished by EOS / stop token / stop string."""
    items = generations["tuned"].items
    n = len(items)
    reasons = Counter(g.finish_reason.value for g in items)
    stopped = reasons.get("eos", 0) + reasons.get("stop", 0)
    rate = _rate(stopped, n)
    base_items = generations["base"].items if "base" in generations else ()
    base_rate = _rate(sum(g.finish_reason in (FinishReason.EOS, FinishReason.STOP) for g in base_items),
                      len(base_items))
    metrics = {"n": n, "finish_reasons": dict(reasons), "base_stop_rate": base_rate,
               "max_new_tokens": generations["tuned"].settings.get("max_new_tokens"),
               "stop_ids": generations["tuned"].settings.get("stop_ids")}
    table = Table("finish reasons (tuned)", ("reason", "count"), tuple(sorted(reasons.items())))
    if n and rate >= min_rate:
        return CheckResult(Status.PASS, rate, f">= {min_rate}",
                           f"{stopped}/{n} tuned outputs ended by EOS/stop.", metrics=metrics,
                           evidence=(table,))
    open_ids = [g.id for g in items if g.finish_reason not in (FinishReason.EOS, FinishReason.STOP)]
    missed = run_on_note(generations["tuned"], open_ids)
    if missed:
        return CheckResult(
            Status.FAIL, rate, f">= {min_rate}",
            f"Only {stopped}/{n} tuned outputs ({rate:.1%}) ended by a stop token or string.{missed} "
            "The model learned to stop; generation (and your server, with this stop set) does not.",
            f"Put the end token(s) above in the stop set your server uses (generation_config.json "
            f"eos_token_id, saved with the checkpoint) and name it with [format] generation_config or "
            f"[format] stop_ids ({see('format.stop_tokens')}); no retraining needed.",
            metrics=metrics, evidence=(table,) + _examples(open_ids, generations, None, "outputs that ran on"))
    timed = reasons.get("time", 0)
    time_note = (f" {timed} were cut by the wall-time cap ([generation] max_time), not by length."
                 if timed else "")
    return CheckResult(
        Status.FAIL, rate, f">= {min_rate}",
        f"Only {stopped}/{n} tuned outputs ({rate:.1%}) ended by EOS/stop; the rest ran to "
        f"max_new_tokens={metrics['max_new_tokens']}.{time_note} The model never learned to stop. "
        "Most likely causes: EOS was never appended to the training completions (trl#1623); "
        "pad_token == eos_token with a collator that masks labels by pad id (unsloth#416); "
        f"or inference stops on another token than the one training ended with (stop ids {metrics['stop_ids']}).",
        "Append EOS (or the template's turn-end token) to every completion and keep it trained "
        f"({see('labels.eos_trained')}), use a pad token distinct from EOS, and put the trained end token in "
        "generation_config.eos_token_id; then retrain.",
        metrics=metrics, evidence=(table,) + _examples(open_ids, generations, None, "outputs that never stopped"))


@check("behaviour.no_role_leak", stage="behaviour", title="Outputs contain no role headers / template tokens")
def no_role_leak(generations: Mapping[str, GenerationSet], markers: Sequence[str],
                 stop_tokens: Sequence[str] = (), *, max_rate: float = 0.0) -> CheckResult:
    """Share of tuned outputs containing a role header or template token (other than the
    stop token that ends them).  Markers that are special tokens are searched only when the
    backend's text carries special tokens (``outputs.searchable_markers``)."""
    items = generations["tuned"].items
    n = len(items)
    markers, unseen = outputs.searchable_markers(generations["tuned"], markers)
    if not markers:
        return CheckResult(Status.SKIP, None, f"<= {max_rate}", f"Nothing to search: {unseen}")
    leaks = {g.id: m for g in items if (m := find_leak(g, markers, stop_tokens))}
    rate = _rate(len(leaks), n)
    metrics = {"n": n, "leaking": len(leaks), "markers": list(markers),
               "by_marker": dict(Counter(leaks.values())), **({"not_searched": unseen} if unseen else {})}
    if rate <= max_rate:
        return CheckResult(Status.PASS, rate, f"<= {max_rate}",
                           (f"No tuned output contains a role header or template token "
                            f"({len(markers)} markers searched)." if not leaks else
                            f"{len(leaks)}/{n} outputs leak, within the threshold.") + (f" {unseen}" if unseen else ""),
                           metrics=metrics)
    top = Counter(leaks.values()).most_common(3)
    return CheckResult(
        Status.FAIL, rate, f"<= {max_rate}",
        f"{len(leaks)}/{n} tuned outputs ({rate:.1%}) contain role headers / template tokens "
        f"(most common: {', '.join(f'{m!r} x{c}' for m, c in top)}): the model writes the next turn "
        "instead of stopping. Most likely: the turn-end token is not trained or not a stop token "
        "(multi-turn rows packed without masks, EOT given to the next turn — axolotl#3754), or training "
        "targets contained the following turn's header." + (f" {unseen}" if unseen else ""),
        "Train the turn-end token as the last label of each answer, add it to "
        "generation_config.eos_token_id / [format] stop_strings, and mask everything after it.",
        metrics=metrics,
        evidence=_examples(list(leaks), generations, None, "leaking outputs", note=leaks))


@check("behaviour.not_empty", stage="behaviour", title="Outputs are not empty")
def not_empty(generations: Mapping[str, GenerationSet], *, max_rate: float = 0.02) -> CheckResult:
    """Share of tuned outputs that are empty or whitespace-only (special tokens removed)."""
    items = generations["tuned"].items
    n = len(items)
    empty = [g.id for g in items if is_empty(g)]
    rate = _rate(len(empty), n) if n else 1.0
    metrics = {"n": n, "empty": len(empty)}
    if n and rate <= max_rate:
        return CheckResult(Status.PASS, rate, f"<= {max_rate}",
                           f"{len(empty)}/{n} tuned outputs are empty.", metrics=metrics)
    first = Counter(generations["tuned"].by_id()[i].raw_text[:20] for i in empty).most_common(2)
    return CheckResult(
        Status.FAIL, rate, f"<= {max_rate}",
        f"{len(empty)}/{n} tuned outputs ({rate:.1%}) are empty or whitespace (raw starts: {first}). "
        "Most likely: the model emits EOS at once (EOS over-trained, or the prompt ends where the "
        "training prompt put the EOS), only special tokens, or the wall-time cap cut the pass.",
        f"Compare the inference prompt with training's ({see('format.train_infer_aligned')}); "
        "make sure training "
        "labels hold the answer before EOS; raise [generation] max_time if outputs were cut.",
        metrics=metrics, evidence=_examples(empty, generations, None, "empty outputs"))


def _max_abs(a, b) -> float:
    return float((a.float() - b.float()).abs().max()) if a.numel() else 0.0


@check("behaviour.adapter_effect", stage="behaviour", title="The adapter changes the model")
def adapter_effect(tuned_logits, base_logits, generations: Mapping[str, GenerationSet],
                   notes: Sequence[str] = (), subject: str = "adapter", *, min_logit_delta: float = 1e-3,
                   max_identical_rate: float = 0.99) -> CheckResult:
    """Max |Δ logit| between the adapter and ``disable_adapter()`` on probe sequences must
    exceed ``min_logit_delta``, and not (nearly) every generation may equal the base's.
    For a fully fine-tuned model (``subject = "fine-tuned model"``) ``base_logits`` are
    the configured base's: the same evidence, the same thresholds."""
    threshold = f"max |Δlogit| > {min_logit_delta:g} and identical rate <= {max_identical_rate}"
    if base_logits is None:
        return CheckResult(Status.SKIP, None, threshold,
                           "Nothing to compare: no adapter, and no [model] base next to a fully "
                           "fine-tuned model (set [model] base to the model it was tuned from).")
    delta = _max_abs(tuned_logits, base_logits)
    tuned, base = generations["tuned"].items, generations["base"].by_id()
    same = [g.id for g in tuned if g.id in base and base[g.id].raw_text == g.raw_text]
    identical = _rate(len(same), len(tuned))
    metrics = {"max_abs_logit_delta": delta, "identical_to_base": identical, "n": len(tuned),
               "probe_tokens": int(tuned_logits.shape[0]), "load_notes": list(notes), "compared": subject}
    if delta > min_logit_delta and identical <= max_identical_rate:
        return CheckResult(Status.PASS, delta, threshold,
                           f"The {subject} moves logits by up to {delta:.3g} against the base; {identical:.0%} "
                           "of outputs equal the base's.", metrics=metrics)
    load = (" Loading reported: " + " | ".join(_clip(n, 300) for n in notes) + ".") if notes else ""
    what = (f"max |Δlogit| = {delta:.3g} (≤ {min_logit_delta:g})" if delta <= min_logit_delta
            else f"{identical:.0%} of generations are identical to the base's")
    if subject != "adapter":
        return CheckResult(
            Status.FAIL, delta, threshold,
            f"The {subject} behaves like its base: {what}; {len(same)}/{len(tuned)} outputs equal the "
            f"base's.{load} Most likely the saved checkpoint holds the base weights (saved before "
            "training or from another copy of the model, a merge whose result was never assigned — "
            "peft#2321), or training never updated the weights (learning rate 0, zero optimizer steps).",
            "Check that the folder you serve is the one the trainer wrote after training (compare its "
            "weights' sha256 with the base's), and that the training log shows the loss falling.",
            metrics=metrics, evidence=_examples(same, generations, None, "outputs identical to base"))
    return CheckResult(
        Status.FAIL, delta, threshold,
        f"The adapter has no effect: {what}; {len(same)}/{len(tuned)} outputs equal the base's.{load} "
        "Most likely: the adapter's keys did not match the model so peft loaded nothing (renamed "
        "modules, adapter from another base or peft version — peft#2787), lora_B is still all zeros "
        f"(trained with lr 0 or without input grads — {see('artifact.lora_b_nonzero')}), "
        "or the serving code never "
        "attached the adapter (unsloth#2142).",
        "Load with PeftModel.from_pretrained and read its missing/unexpected-key warnings; run the "
        "artifact.* checks on the adapter; retrain if lora_B is zero.",
        metrics=metrics, evidence=_examples(same, generations, None, "outputs identical to base"))


@check("behaviour.merge_parity", stage="behaviour", title="Merged weights agree with the adapter")
def merge_parity(tuned_logits, merged_logits, merged_source: str = "the merged model", *,
                 min_agreement: float = 0.99) -> CheckResult:
    """Top-1 next-token agreement between adapter and merged weights on probe sequences."""
    if merged_logits is None:
        return CheckResult(Status.SKIP, None, None,
                           "No adapter configured: nothing to merge.")
    if tuned_logits.shape != merged_logits.shape:
        return CheckResult(Status.FAIL, 0.0, f">= {min_agreement}",
                           f"The merged model's logits have shape {tuple(merged_logits.shape)}, the "
                           f"adapter's {tuple(tuned_logits.shape)}: the merged model has another vocabulary.",
                           "Merge into the same base the adapter was trained on (resize embeddings first).")
    top_t, top_m = tuned_logits.argmax(-1), merged_logits.argmax(-1)
    agree = float((top_t == top_m).float().mean()) if top_t.numel() else 1.0
    delta = _max_abs(tuned_logits, merged_logits)
    metrics = {"probe_tokens": int(top_t.numel()), "max_abs_logit_delta": delta, "merged_source": merged_source}
    if agree >= min_agreement:
        return CheckResult(Status.PASS, agree, f">= {min_agreement}",
                           f"Merged ({merged_source}) and adapter top-1 agree on {agree:.2%} of "
                           f"{top_t.numel()} probe tokens (max |Δlogit| {delta:.3g}).", metrics=metrics)
    diff = (top_t != top_m).nonzero().flatten()[:MAX_ROWS].tolist()
    return CheckResult(
        Status.FAIL, agree, f">= {min_agreement}",
        f"Merged weights ({merged_source}) agree with the adapter on only {agree:.2%} of "
        f"{top_t.numel()} next tokens "
        f"(max |Δlogit| {delta:.3g}). Most likely: merged into a quantized (4/8-bit) base and "
        "rounded away (peft#1043), merge_and_unload()'s result not assigned / not saved (peft#2321), "
        "or merged into another base than the one the adapter was trained on.",
        "Merge into the base in bf16/fp32 (not 4-bit), assign model = model.merge_and_unload(), save "
        "that, and serve the saved folder.", metrics=metrics,
        evidence=(Table("disagreeing probe positions", ("position", "adapter top-1", "merged top-1"),
                        tuple((p, int(top_t[p]), int(top_m[p])) for p in diff)),))


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
        f"separate criterion; check {see('behaviour.stop_rate')}.", metrics=metrics, evidence=evidence)


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
