"""Behaviour checks on probe logits: the adapter (or fine-tune) changes the model, and
merged weights agree with the adapter."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from sftcheck.checks.behaviour.generations import MAX_ROWS, _examples, _rate
from sftcheck.checks.support.example_tables import clip as _clip
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table
from sftcheck.checks.support.samples import GenerationSet


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
