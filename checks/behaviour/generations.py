"""Behaviour checks on the tuned outputs themselves: answers parsed, accuracy, stops, role
leaks, empty outputs (and the base-vs-tuned example tables every behaviour check shows)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from sftcheck.checks.support import outputs
from sftcheck.checks.support.example_tables import clip as _clip
from sftcheck.checks.support.example_tables import every_example
from sftcheck.checks.support.outputs import find_leak, is_empty
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
