"""Base-vs-tuned gates: does fine-tuning measurably help, on a base that was really a base?

A published evaluation protocol gates a fine-tune on four numbers: the base scores at most
30 %, the tuned model at least 80 %, the paired improvement is significant (exact McNemar
p < 0.01 on the examples where the two models disagree) and large (Cohen's h >= 0.5).
Unparsable output counts as not correct.  Every gate pairs the two models by example id;
missing or duplicate ids fail loudly rather than being silently dropped.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePath

from sftcheck.checks.support import plots, stats
from sftcheck.checks.support.base_identity import BaseInfo, match_base
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, SideBySide, Status, Table
from sftcheck.checks.support.samples import FinishReason, GenerationSet, Outcome, Scored

_STAT_FIX = ("Make sure both models are scored on the same eval rows with unique ids: "
             "de-duplicate the `id` field of [data] eval (or set [data] id_field to a unique "
             "column), then rerun.")


def _unpaired(exc: stats.PairingError) -> CheckResult:
    return CheckResult(
        status=Status.FAIL, value="unpaired", threshold="unique ids shared by both models",
        explanation=(f"The base and tuned results cannot be paired by example id: {exc}. A paired "
                     "test on mismatched examples would give a wrong verdict, so the gate refuses "
                     "to compute one. Likely causes: duplicate ids in the eval file (copied or "
                     "concatenated data), a generation pass that dropped examples (wall-time cap), "
                     "or base and tuned evaluated on different files."),
        fix=_STAT_FIX)


def _summary(base, tuned, eval_ids, seed: int = 0) -> stats.PairedSummary:
    return stats.summarize(stats.pair(base, tuned, eval_ids), seed=seed)


def _ci(c: tuple[float, float]) -> str:
    return f"[{c[0]:.3f}, {c[1]:.3f}]"


def _stats_table(s: stats.PairedSummary) -> Table:
    return Table("paired statistics", ("statistic", "value"), s.rows())


# --------------------------------------------------------------------------- accuracy gates


@check("gate.base_ceiling", stage="gate", title="Base model accuracy is low enough to measure fine-tuning")
def base_ceiling(base: Sequence[Scored], eval_ids: Sequence[str] | None = None, *,
                 max_accuracy: float = 0.30) -> CheckResult:
    """Base (adapter disabled) accuracy <= ``max_accuracy``; a base that already solves the
    task cannot show what fine-tuning added."""
    try:
        if eval_ids is not None:
            stats.require_unique(eval_ids, "the eval data")
        vec = stats.correct_vector(base, "the base model's scores")
    except stats.PairingError as exc:
        return _unpaired(exc)
    n, k = len(vec), sum(vec.values())
    if n == 0:
        return CheckResult(Status.FAIL, 0, f"<= {max_accuracy}",
                           "No base results: the eval set is empty.",
                           "Point [data] eval at a file with rows (and [generation] n_examples = 0 or more).")
    acc, ci = k / n, stats.wilson(k, n)
    unparsable = sum(s.outcome is Outcome.UNPARSABLE for s in base)
    metrics = {"accuracy": acc, "wilson_95": list(ci), "n": n, "correct": k, "unparsable": unparsable}
    if acc <= max_accuracy:
        return CheckResult(Status.PASS, acc, f"<= {max_accuracy}",
                           f"The base answers {k}/{n} correctly ({acc:.1%}, Wilson 95 % {_ci(ci)}), "
                           "low enough that a gain from fine-tuning is measurable.", metrics=metrics)
    return CheckResult(
        Status.FAIL, acc, f"<= {max_accuracy}",
        f"The base model (adapter disabled) already answers {k}/{n} correctly ({acc:.1%}, Wilson 95 % "
        f"{_ci(ci)}), above the ceiling {max_accuracy:.0%}. The eval cannot show what fine-tuning "
        "added. Most likely causes, in order: the declared base is an instruct/chat model or already "
        f"contains the tuned weights (see {see('gate.contamination')}); the eval questions leaked into "
        "pre-training; the task is too easy or the scorer too lenient.",
        fix="Use the true pre-trained base ([model] base / base_id), a held-out eval set the base "
            "cannot solve, or a stricter answer pattern / scorer; or raise "
            '[gates."gate.base_ceiling"] max_accuracy if the base is meant to be strong.',
        metrics=metrics)


def _rates(scored: Sequence[Scored], gen: GenerationSet | None) -> dict[str, float]:
    n = len(scored)
    out: dict[str, float] = {}
    if n:
        out["answer rate"] = sum(s.outcome is not Outcome.UNPARSABLE for s in scored) / n
    if gen is not None and gen.items:
        out["stop rate"] = sum(g.finish_reason in (FinishReason.EOS, FinishReason.STOP)
                               for g in gen.items) / len(gen.items)
    return out


def _speed(gen: GenerationSet | None) -> dict[str, float]:
    if gen is None or not gen.items or gen.wall_seconds <= 0:
        return {}
    return {"examples/s": len(gen.items) / gen.wall_seconds,
            "tokens/s": sum(g.new_tokens for g in gen.items) / gen.wall_seconds}


def summary(base: Sequence[Scored], tuned: Sequence[Scored], s: stats.PairedSummary,
            base_gen: GenerationSet | None = None, tuned_gen: GenerationSet | None = None,
            benchmark: str = "eval") -> tuple[Table, dict]:
    """The report's summary table (benchmark, metric, base, tuned, change) and its data."""
    rb, rt = _rates(base, base_gen), _rates(tuned, tuned_gen)
    sb, st = _speed(base_gen), _speed(tuned_gen)
    data: dict[str, dict] = {"accuracy": {
        "base": s.acc_base, "tuned": s.acc_tuned, "change": s.diff,
        "base_ci": list(s.ci_base), "tuned_ci": list(s.ci_tuned), "change_ci": list(s.diff_ci)}}
    rows = [(benchmark, "accuracy (95 % CI)", f"{s.acc_base:.3f} {_ci(s.ci_base)}",
             f"{s.acc_tuned:.3f} {_ci(s.ci_tuned)}", f"{s.diff:+.3f} {_ci(s.diff_ci)}")]
    for name in ("answer rate", "stop rate"):
        if name in rb and name in rt:
            data[name] = {"base": rb[name], "tuned": rt[name], "change": rt[name] - rb[name]}
            rows.append((benchmark, name, f"{rb[name]:.3f}", f"{rt[name]:.3f}",
                         f"{rt[name] - rb[name]:+.3f}"))
    for name in ("examples/s", "tokens/s"):
        if name in sb and name in st:
            ratio = st[name] / sb[name] if sb[name] else math.nan
            data[name] = {"base": sb[name], "tuned": st[name], "change_ratio": ratio}
            rows.append((benchmark, f"{name} (generation pass)", f"{sb[name]:.1f}", f"{st[name]:.1f}",
                         f"×{ratio:.2f}"))
    return Table("summary: base vs tuned", ("benchmark", "metric", "base", "tuned", "change"),
                 tuple(rows)), data


def summary_plots(s: stats.PairedSummary, base: Sequence[Scored], tuned: Sequence[Scored],
                  base_gen: GenerationSet | None, tuned_gen: GenerationSet | None, *,
                  floor: float | None = None, ceiling: float | None = None) -> list:
    images = [plots.accuracy_ci({"base": s.acc_base, "tuned": s.acc_tuned},
                                {"base": s.ci_base, "tuned": s.ci_tuned}, floor=floor, ceiling=ceiling)]
    rates = {"base": _rates(base, base_gen), "tuned": _rates(tuned, tuned_gen)}
    if any(rates.values()):
        images.append(plots.rate_bars(rates))
    if base_gen is not None and tuned_gen is not None:
        images.append(plots.histogram({"base": [g.new_tokens for g in base_gen.items],
                                       "tuned": [g.new_tokens for g in tuned_gen.items]},
                                      title="output length", xlabel="generated tokens"))
    rewards = {"base": [x.score for x in base if x.score is not None],
               "tuned": [x.score for x in tuned if x.score is not None]}
    if any(rewards.values()):
        images.append(plots.histogram(rewards, title="scorer reward", xlabel="reward"))
    return images


@check("gate.tuned_floor", stage="gate", title="Tuned model accuracy reaches the floor")
def tuned_floor(base: Sequence[Scored], tuned: Sequence[Scored], eval_ids: Sequence[str] | None = None,
                base_gen: GenerationSet | None = None, tuned_gen: GenerationSet | None = None, *,
                min_accuracy: float = 0.80) -> CheckResult:
    """Tuned accuracy >= ``min_accuracy`` (unparsable = not correct).  Carries the report's
    summary table (accuracy with CIs, answer rate, stop rate, examples/s, tokens/s) and plots."""
    try:
        s = _summary(base, tuned, eval_ids)
    except stats.PairingError as exc:
        return _unpaired(exc)
    if s.n == 0:
        return CheckResult(Status.FAIL, 0, f">= {min_accuracy}",
                           "No tuned results: the eval set is empty.", "Point [data] eval at a file with rows.")
    table, data = summary(base, tuned, s, base_gen, tuned_gen)
    evidence = (table, _stats_table(s), *summary_plots(s, base, tuned, base_gen, tuned_gen,
                                                          floor=min_accuracy))
    metrics = {**s.as_metrics(), "summary": data}
    counts = {o.value: sum(x.outcome is o for x in tuned) for o in Outcome}
    k = counts["correct"]
    if s.acc_tuned >= min_accuracy:
        return CheckResult(Status.PASS, s.acc_tuned, f">= {min_accuracy}",
                           f"The tuned model answers {k}/{s.n} correctly ({s.acc_tuned:.1%}, Wilson 95 % "
                           f"{_ci(s.ci_tuned)}); base {s.acc_base:.1%}.", metrics=metrics, evidence=evidence)
    unp = counts["unparsable"]
    if unp >= counts["incorrect"] and unp > 0:
        cause = (f"{unp} of the {s.n - k} misses are unparsable (no answer matched the pattern): the "
                 "model does not produce the trained answer format at inference - most often the "
                 "inference prompt differs from the training prompt (see pretrain prompt-parity "
                 "checks), the model never learned to stop, or the answer pattern is wrong")
        fix = ("Compare the inference prompt with the training prompt token by token, check "
               f"{see('behaviour.answer_rate')} / {see('behaviour.stop_rate')}, "
               "and fix [format] answer_pattern.")
    else:
        cause = (f"{counts['incorrect']} of the {s.n - k} misses are parsed but wrong: the model "
                 "learned the format but not the task - too few steps or examples, a learning rate "
                 "too low, labels masking the answer, or an eval set unlike the training data")
        fix = ("Train longer or on more/cleaner data, check the pretrain label-mask checks and the "
               "training loss curve; lower [gates.\"gate.tuned_floor\"] min_accuracy only if the "
               "task is known to be harder.")
    return CheckResult(
        Status.FAIL, s.acc_tuned, f">= {min_accuracy}",
        f"The tuned model answers {k}/{s.n} correctly ({s.acc_tuned:.1%}, Wilson 95 % {_ci(s.ci_tuned)}), "
        f"below the floor {min_accuracy:.0%}. {cause}.", fix=fix, metrics=metrics, evidence=evidence)


# --------------------------------------------------------------------------- paired tests


def _discordant_examples(paired: stats.Paired, base_gen: GenerationSet | None,
                         tuned_gen: GenerationSet | None, limit: int = 8,
                         gold: Mapping[str, str] | None = None) -> list[SideBySide]:
    if base_gen is None or tuned_gen is None:
        return []
    bg, tg = base_gen.by_id(), tuned_gen.by_id()
    regressions = [i for i, b, t in zip(paired.ids, paired.base, paired.tuned) if b and not t]
    gains = [i for i, b, t in zip(paired.ids, paired.base, paired.tuned) if t and not b]
    out = []
    for kind, ids in (("regression", regressions), ("gain", gains)):
        for i in ids[: limit // 2]:
            if i in bg and i in tg:
                context = (("prompt", tg[i].prompt),) + ((("gold", gold[i]),) if gold and i in gold else ())
                out.append(SideBySide(f"{kind}: {i}", "base", bg[i].text, "tuned", tg[i].text, context))
    return out


@check("gate.mcnemar", stage="gate", title="Tuned beats base significantly (exact McNemar, paired)")
def mcnemar(base: Sequence[Scored], tuned: Sequence[Scored], eval_ids: Sequence[str] | None = None,
            base_gen: GenerationSet | None = None, tuned_gen: GenerationSet | None = None, *,
            max_p: float = 0.01) -> CheckResult:
    """Exact McNemar test on the discordant pairs: p < ``max_p`` with the tuned model ahead."""
    try:
        paired = stats.pair(base, tuned, eval_ids)
    except stats.PairingError as exc:
        return _unpaired(exc)
    s = stats.summarize(paired, alpha=max_p)
    b, c = s.b, s.c
    metrics = s.as_metrics()
    evidence = (_stats_table(s), Table("paired outcomes (rows: base, columns: tuned)",
                                       ("", "tuned correct", "tuned wrong"),
                                       (("base correct", *paired.table()[0]),
                                        ("base wrong", *paired.table()[1]))),
                *_discordant_examples(paired, base_gen, tuned_gen, gold={x.id: x.gold for x in tuned}))
    thr = f"< {max_p} with c > b"
    need = stats.min_discordant(max_p)
    if s.pvalue < max_p and c > b:
        return CheckResult(Status.PASS, s.pvalue, thr,
                           f"Of {s.n} paired examples the tuned model alone is right on c = {c}, the base "
                           f"alone on b = {b}; exact McNemar p = {s.pvalue:.3g}.",
                           metrics=metrics, evidence=evidence)
    small = s.n < need or b + c < need
    if small:
        head = (f"Only {s.n} paired examples ({b + c} discordant" if s.n < need else
                f"Only {b + c} of {s.n} paired examples differ between the models (")
        tail = ("the eval set is too small to show significance" if s.n < need else
                "the fine-tune changes too few answers for this eval size")
        why = (f"{head}: b = {b}, c = {c}); p = {s.pvalue:.3g}. "
               f"Even if every discordant pair favoured the tuned model, p < {max_p} needs at least "
               f"{need} discordant pairs: {tail}. At the "
               f"observed effect (h = {s.h:.2f}) about {_fmt_n(s.n_needed)} examples per model give "
               "80 % power.")
        more = max(need, math.ceil(s.n_needed)) if math.isfinite(s.n_needed) else need
        fix = f"Evaluate on more examples: [generation] n_examples = 0 (all) or >= {more}, or add eval rows."
    if b + c == 0:
        why = (f"The two models agree on every one of the {s.n} examples (b = c = 0): there is no "
               "evidence of any difference. Most likely the adapter is not applied at inference "
               f"(see {see('behaviour.adapter_effect')}) or it is untrained (lora_B all zero)."
               + (f" Also: {why}" if small and s.n < need else ""))
        fix = ("Check that the adapter loads and changes the logits; then retrain if it is inert."
               + (f" {fix}" if small and s.n < need else ""))
    elif c <= b:
        why = (f"The tuned model is not ahead: it loses b = {b} examples the base got right and wins "
               f"only c = {c} (p = {s.pvalue:.3g}). Fine-tuning made the model worse or no better - "
               "catastrophic forgetting, a prompt mismatch at inference, or a broken adapter.")
        fix = "Read the regressions below; check prompt parity and the training loss."
    elif not small:
        why = (f"The improvement is not significant: c = {c} vs b = {b} discordant pairs of {s.n}, "
               f"p = {s.pvalue:.3g}. The gain is small relative to the noise; about "
               f"{_fmt_n(s.n_needed)} examples per model would give 80 % power at h = {s.h:.2f}.")
        fix = "Evaluate on more examples or improve training so the gain is larger."
    return CheckResult(Status.FAIL, s.pvalue, thr, why, fix=fix,
                       metrics=metrics, evidence=evidence)


def _fmt_n(n: float) -> str:
    return str(math.ceil(n)) if math.isfinite(n) else "infinitely many"


@check("gate.effect_size", stage="gate", title="The improvement is large (Cohen's h)")
def effect_size(base: Sequence[Scored], tuned: Sequence[Scored], eval_ids: Sequence[str] | None = None, *,
                min_h: float = 0.5) -> CheckResult:
    """Cohen's h of tuned vs base accuracy >= ``min_h`` (0.2 small, 0.5 medium, 0.8 large)."""
    try:
        s = _summary(base, tuned, eval_ids)
    except stats.PairingError as exc:
        return _unpaired(exc)
    metrics = s.as_metrics()
    ev = (_stats_table(s),)
    if s.n and s.h >= min_h:
        return CheckResult(Status.PASS, s.h, f">= {min_h}",
                           f"Cohen's h = {s.h:.2f} (accuracy {s.acc_base:.1%} -> {s.acc_tuned:.1%}).",
                           metrics=metrics, evidence=ev)
    return CheckResult(
        Status.FAIL, s.h, f">= {min_h}",
        f"Cohen's h = {s.h:.2f} for accuracy {s.acc_base:.1%} (base) -> {s.acc_tuned:.1%} (tuned), below "
        f"{min_h}: the fine-tune changes accuracy by {s.diff:+.1%} (paired bootstrap 95 % "
        f"{_ci(s.diff_ci)}), too little to matter. Likely causes: an under-trained or inert adapter, a "
        "prompt mismatch at inference, or a base that already solves the task "
        f"(see {see('gate.base_ceiling')}).",
        fix=f"Check {see('behaviour.adapter_effect')} and the prompt parity "
            f"({see('format.train_infer_aligned')}); train longer or on "
            "more data.", metrics=metrics, evidence=ev)


# --------------------------------------------------------------------------- contamination

_INSTRUCT = re.compile(r"instruct|(?:^|[-_./ ])(?:chat|it|sft|rlhf|dpo|orpo|kto|hf-chat)(?=$|[-_./ \d])",
                       re.IGNORECASE)


def instruct_markers(name: str | None) -> list[str]:
    """Instruct / chat markers in the last path component or hub-id name."""
    if not name:
        return []
    last = PurePath(name.rstrip("/")).name or name
    return [m.group(0).strip("-_./ ") for m in _INSTRUCT.finditer(last)]


@check("gate.contamination", stage="gate", title="The declared base is a plain base model, and the one the adapter was trained on")
def contamination(info: BaseInfo, base_accuracy: float | None = None, *,
                  max_base_accuracy: float = 0.30) -> CheckResult:
    """The declared base is not an instruct/chat model (name markers, a chat template shipped
    with the base, base accuracy above the ceiling), and the adapter's recorded base equals
    the configured one."""
    signals: list[tuple[str, str, str]] = []   # (signal, what was seen, verdict)
    fails, warns = [], []
    for label, name in (("[model] base_id", info.declared_id), ("[model] base", info.configured),
                        ("base config.json _name_or_path", info.config_name)):
        marks = instruct_markers(name)
        if marks:
            fails.append(f"{label} {name!r} carries instruct/chat marker(s) {', '.join(sorted(set(marks)))}")
            signals.append((f"name marker in {label}", str(name), "fail"))
        elif name:
            signals.append((f"name marker in {label}", str(name), "ok"))
    if info.chat_template:
        warns.append(f"the base ships a chat template ({info.chat_template})")
        signals.append(("chat template shipped with the base", info.chat_template, "warn"))
    else:
        signals.append(("chat template shipped with the base", "none", "ok"))
    if base_accuracy is not None:
        ok = base_accuracy <= max_base_accuracy
        signals.append(("base accuracy (adapter disabled)", f"{base_accuracy:.3f}", "ok" if ok else "fail"))
        if not ok:
            fails.append(f"the base already scores {base_accuracy:.1%} with the adapter disabled "
                         f"(ceiling {max_base_accuracy:.0%})")
    configured = [x for x in (info.configured, info.declared_id) if x]
    recorded = info.recorded
    if recorded:
        if configured and match_base(recorded, info, config_name=False) is None:
            fails.append(f"the adapter records base {recorded!r} but the config uses "
                         f"{' / '.join(configured)}")
            signals.append(("adapter's recorded base", recorded, "fail"))
        else:
            signals.append(("adapter's recorded base", recorded, "ok"))
        marks = instruct_markers(recorded)
        if marks:
            fails.append(f"the adapter's recorded base {recorded!r} carries marker(s) "
                         f"{', '.join(sorted(set(marks)))}: it was trained on an instruct model")
    else:
        signals.append(("adapter's recorded base", "not recorded (base_model_name_or_path = null)", "ok"))
    table = Table("base provenance signals", ("signal", "seen", "verdict"), tuple(signals))
    metrics = {"fails": fails, "warnings": warns, "base_accuracy": base_accuracy}
    value = len(fails)
    threshold = "0 contamination signals"
    if fails:
        return CheckResult(
            Status.FAIL, value, threshold,
            "The declared base does not look like a plain pre-trained base: " + "; ".join(fails + warns)
            + ". An instruct/chat model (or one that already contains the tuned weights) used as the "
              "'base' makes the base-vs-tuned comparison meaningless: the base already follows the "
              "format, so any gain or lack of one is not the fine-tune's.",
            fix="Point [model] base (and base_id) at the pre-trained model the adapter was trained on "
                "- the one named in adapter_config.json base_model_name_or_path - and evaluate with "
                "the adapter disabled on that model.", metrics=metrics, evidence=(table,))
    if warns:
        return CheckResult(
            Status.WARN, value, threshold,
            "No name marker or score points to an instruct base, but " + "; ".join(warns)
            + ". Some true base models ship a template (Qwen2.5 bases do); an instruct model always does.",
            fix="Confirm on the model card that the base is the pre-trained (not instruct) variant.",
            metrics=metrics, evidence=(table,))
    note = "" if recorded else (" The adapter does not record its base (base_model_name_or_path "
                                          "is null), so base identity could not be cross-checked.")
    return CheckResult(Status.PASS, value, threshold,
                       "No instruct/chat markers, no chat template in the base folder"
                       + ("" if base_accuracy is None else f", base accuracy {base_accuracy:.1%}") + "." + note,
                       metrics=metrics, evidence=(table,))
