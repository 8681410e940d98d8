"""Adapter artifact checks (stage ``artifact``): files, headers, config, base, payloads.

Inputs are the adapter folder, its parsed ``adapter_config.json``, its safetensors
``Header`` (or the ``HeaderError`` / ``Unreadable`` that explains why there is none) and
a ``BaseInfo`` with the base's weight shapes from headers.  Only the small LoRA factor
payloads are ever read (``lora_b_nonzero``, ``finite``), one tensor at a time.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sftcheck.checks.support import lora_fit
from sftcheck.checks.support.adapter_folder import CONFIG, PICKLE, WEIGHTS, file_sizes, missing_or_empty
from sftcheck.checks.support.artifact_inputs import base_not_found, unavailable
from sftcheck.checks.support.base_identity import BaseInfo, match_base
from sftcheck.checks.support.lora_config import config_problems
from sftcheck.checks.support.lora_layout import Unreadable, strip_prefix
from sftcheck.checks.support.lora_payload import nonfinite_counts, scan_updates, summarise_updates
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table
from sftcheck.checks.support.safetensors_header import Header, HeaderError
from sftcheck.checks.support.tokenizer_files import TOKENIZER_FILES, SavedTokenizer, find_saved_tokenizer


def _r(status: Status, value: Any, threshold: str | None, explanation: str,
       fix: str = "", **kw: Any) -> CheckResult:
    return CheckResult(status, value, threshold, explanation, fix, **kw)


@check("artifact.adapter_files", stage="artifact", title="Adapter config and weights exist")
def adapter_files(adapter_dir: str | Path | None, allow_pickle: bool = False) -> CheckResult:
    """``adapter_config.json`` + ``adapter_model.safetensors`` exist and are non-empty."""
    if adapter_dir is None:
        return _r(Status.SKIP, None, None, "No [model] adapter configured (not a LoRA run).")
    d = Path(adapter_dir)
    if not d.is_dir():
        return _r(Status.FAIL, "missing folder", "folder exists", f"{d} is not a folder.",
                  "Point [model] adapter at the folder save_pretrained wrote.")
    sizes = file_sizes(d)
    listing = Table("files in the adapter folder", ("file", "bytes"), tuple(sizes.items()))
    metrics = {"files": sizes}
    if WEIGHTS not in sizes and PICKLE in sizes and not allow_pickle:
        return _r(Status.FAIL, f"{PICKLE} only", f"{WEIGHTS} present",
                  f"Only the legacy pickle file {PICKLE} ({sizes[PICKLE]} bytes) is present; "
                  "sftcheck never unpickles by default (a pickle can run code when loaded).",
                  "Convert to safetensors: load the adapter with PeftModel.from_pretrained in a "
                  "trusted environment and save_pretrained(..., safe_serialization=True); or, if "
                  "you trust the file, set [model] allow_pickle = true (read with "
                  "torch.load(weights_only=True)).", metrics=metrics, evidence=(listing,))
    problems = missing_or_empty(sizes)
    if problems:
        return _r(Status.FAIL, "; ".join(problems), "config + weights present, non-empty",
                  f"Adapter folder {d}: {'; '.join(problems)}. Most likely the training run "
                  "crashed or was killed before save_pretrained finished, or the wrong folder "
                  "(e.g. a checkpoint-N folder of a full fine-tune) is configured.",
                  "Re-run model.save_pretrained(folder) at the end of training (with DeepSpeed "
                  "ZeRO-3 gather the weights first) and point [model] adapter at that folder.",
                  metrics=metrics, evidence=(listing,))
    used = WEIGHTS if WEIGHTS in sizes else PICKLE
    note = "" if used == WEIGHTS else " Read with torch.load(weights_only=True) ([model] allow_pickle)."
    return _r(Status.PASS, f"{used} {sizes[used]} bytes", "config + weights present, non-empty",
              f"{CONFIG} and {used} are present and non-empty.{note}", metrics=metrics,
              evidence=(listing,))


@check("artifact.safetensors_valid", stage="artifact", title="Safetensors header is consistent")
def safetensors_valid(weights: Header | HeaderError | Unreadable | None) -> CheckResult:
    """Header parses; offsets match dtype x shape and the file size; no zero-numel tensor."""
    threshold = "0 header problems"
    if isinstance(weights, Unreadable) and weights.broken:
        return _r(Status.FAIL, "unreadable", "readable weights", weights.reason,
                  "Re-save the adapter with save_pretrained(..., safe_serialization=True).")
    if weights is None or isinstance(weights, Unreadable):
        return unavailable(weights)  # type: ignore[return-value]
    if isinstance(weights, HeaderError):
        value = weights.problem
        if weights.expected_bytes is not None:
            value = f"expected >= {weights.expected_bytes} bytes, found {weights.actual_bytes}"
        return _r(Status.FAIL, value, threshold,
                  f"{weights.path} is not a valid safetensors file: {weights.problem}. Most likely "
                  "the save was interrupted (disk full, killed job, partial copy/upload) or the file "
                  "is not safetensors at all.",
                  "Re-save the adapter (model.save_pretrained(folder)) or re-copy it and compare "
                  "its size/sha256 with the source.",
                  metrics={"expected_bytes": weights.expected_bytes, "actual_bytes": weights.actual_bytes})
    if weights.is_pickle:
        return _r(Status.SKIP, None, None, f"{weights.path.name} is a pickle file read with "
                  "explicit opt-in; there is no safetensors header to validate.")
    problems = weights.problems()
    metrics = {"tensors": len(weights.tensors), "file_bytes": weights.file_size,
               "expected_bytes": weights.expected_file_size, "header_bytes": weights.header_bytes}
    if not problems:
        return _r(Status.PASS, 0, threshold,
                  f"{len(weights.tensors)} tensors; offsets, dtypes and the file size "
                  f"({weights.file_size} bytes) agree.", metrics=metrics)
    table = Table("header problems", ("tensor", "problem"), tuple(problems[:200]))
    zero = [n for n, p in problems if "zero-numel" in p]
    cause = ("Zero-numel tensors mean the weights were saved while sharded (DeepSpeed ZeRO-3 / "
             "FSDP without gathering) or after merge_and_unload." if zero else
             "The file was cut short or corrupted after saving (interrupted copy, disk full).")
    return _r(Status.FAIL, len(problems), threshold,
              f"{weights.path}: {problems[0][0]}: {problems[0][1]}"
              + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "") + f". {cause}",
              "Re-save the adapter from the trained model (gather ZeRO-3 / FSDP parameters first: "
              "accelerator.get_state_dict or the trainer's save_model) and copy it again.",
              metrics=metrics, evidence=(table,))


@check("artifact.config_valid", stage="artifact", title="adapter_config.json is a sane LoRA config")
def config_valid(adapter_config: Mapping[str, Any] | Unreadable | None, *, max_rank: int = 1024,
                 min_alpha_ratio: float = 0.0625, max_alpha_ratio: float = 16.0) -> CheckResult:
    """Required keys, supported ``peft_type``, positive r / alpha in a sane ratio."""
    if adapter_config is None:
        return _r(Status.SKIP, None, None, "No adapter configured.")
    if isinstance(adapter_config, Unreadable):
        return _r(Status.FAIL, "unreadable", "valid JSON object", adapter_config.reason,
                  f"Re-save the adapter; {CONFIG} must be the JSON object peft writes.")
    c = adapter_config
    problems = config_problems(c, max_rank=max_rank)
    r, alpha = c.get("r"), c.get("lora_alpha")
    threshold = f"peft_type LORA, 0 < r <= {max_rank}, {min_alpha_ratio} <= alpha/r <= {max_alpha_ratio}"
    if problems:
        return _r(Status.FAIL, "; ".join(problems), threshold,
                  f"{CONFIG}: {'; '.join(problems)}. Most likely the file was hand-edited, written by "
                  "another tool, or belongs to a non-LoRA method.",
                  "Re-save the adapter with peft's save_pretrained; for a non-LoRA method skip the "
                  "artifact stage ([gates] skip).", metrics={"r": r, "lora_alpha": alpha})
    ratio = alpha / r
    metrics = {"r": r, "lora_alpha": alpha, "alpha_over_r": ratio, "use_dora": bool(c.get("use_dora")),
               "use_rslora": bool(c.get("use_rslora"))}
    if not min_alpha_ratio <= ratio <= max_alpha_ratio:
        return _r(Status.WARN, ratio, threshold,
                  f"lora_alpha / r = {alpha}/{r} = {ratio:.4g}: the LoRA update is scaled by that "
                  "factor, so an extreme ratio makes training unstable (large) or the adapter inert "
                  "(small). Usually alpha was meant as a multiple of r.",
                  "Use lora_alpha = r or 2*r, or raise the threshold in "
                  '[gates."artifact.config_valid"] if this is deliberate.', metrics=metrics)
    return _r(Status.PASS, ratio, threshold,
              f"LORA adapter, r = {r}, lora_alpha = {alpha} (alpha/r = {ratio:.3g}), targets "
              f"{c.get('target_modules') or c.get('target_parameters')}.", metrics=metrics)


@check("artifact.base_match", stage="artifact", title="Adapter fits the configured base")
def base_match(adapter_config: Mapping[str, Any] | Unreadable | None,
               weights: Header | HeaderError | Unreadable | None,
               base: BaseInfo | None) -> CheckResult:
    """``base_model_name_or_path`` vs the configured base; lora_A [r, in] / lora_B [out, r]
    against the base weight shapes."""
    skip = unavailable(adapter_config, weights, base)
    if skip:
        return skip
    assert isinstance(adapter_config, Mapping) and isinstance(weights, Header) and base is not None
    threshold = "0 shape mismatches; recorded base == configured base"
    not_found = base_not_found(base, threshold)
    if not_found:
        return not_found
    rows, checked = lora_fit.shape_mismatches(adapter_config, weights, base)
    metrics = {"checked_tensors": checked, "mismatches": len(rows), "recorded_base":
               adapter_config.get("base_model_name_or_path"), "configured_base": base.configured,
               "base_id": base.declared_id, "base_config_name": base.config_name,
               "base_shapes_from": base.shapes_source}
    if rows:
        return _r(Status.FAIL, f"{len(rows)} of {checked} tensors mismatch", threshold,
                  f"{len(rows)} LoRA tensors do not fit the configured base {base.configured} "
                  f"(first: {rows[0][0]} is {rows[0][1]}, expected {rows[0][2]}). The adapter was "
                  f"trained on a different base (recorded: "
                  f"{adapter_config.get('base_model_name_or_path')!r}); loading it raises a size mismatch.",
                  "Point [model] base at the model the adapter was trained on (the one named by "
                  "base_model_name_or_path), or retrain the adapter on this base.",
                  metrics=metrics, evidence=(Table("mismatching tensors", ("tensor", "shape", "expected",
                                                                           "why"), tuple(rows[:200])),))
    shapes_note = (f"all {checked} LoRA tensors fit the base shapes ({base.shapes_source})"
                   if base.shapes is not None else "base shapes unavailable: shapes not checked")
    recorded = adapter_config.get("base_model_name_or_path")
    unchecked = (f"The base's weight shapes could not be read ({base.shapes_source or 'no source'}), so no "
                 "LoRA tensor was checked against it")
    unchecked_fix = ("Point [model] base at a local copy of the base (config.json + *.safetensors), or a hub "
                     "id present in the local cache, and run again.")
    if not recorded:
        if base.shapes is None:
            return _r(Status.SKIP, None, threshold,
                      f"{unchecked}, and the adapter records no base_model_name_or_path: nothing checked.",
                      unchecked_fix, metrics=metrics)
        return _r(Status.PASS, "no recorded base", threshold,
                  f"The adapter records no base_model_name_or_path; {shapes_note}.", metrics=metrics)
    match = match_base(str(recorded), base)
    if (match is not None and match.confirmed) or not base.names():
        if base.shapes is None:
            named = (f"the recorded base {recorded!r} is only the configured name itself"
                     if match is not None else "there is no base name to compare with")
            return _r(Status.SKIP, None, threshold,
                      f"{unchecked}, and {named}: nothing about the base was verified.",
                      unchecked_fix, metrics=metrics)
        return _r(Status.PASS, str(recorded), threshold,
                  f"Recorded base {recorded!r} is the configured base; {shapes_note}.", metrics=metrics)
    if Path(str(recorded)).is_absolute() and not Path(str(recorded)).exists():
        return _r(Status.WARN, str(recorded), threshold,
                  f"The adapter records its base as the local path {recorded!r}, which does not exist "
                  f"on this machine, so it cannot be compared with the configured base "
                  f"{base.configured!r} by name; {shapes_note}.",
                  f"Make sure [model] base points at a copy of that model, and set [model] base_id to "
                  f"its hub id (e.g. the base's config.json _name_or_path "
                  f"{base.config_name or '<id>'!r}) to record the identity.", metrics=metrics)
    if not base.identity_known():
        return _r(Status.WARN, str(recorded), threshold,
                  f"The adapter was trained on {recorded!r}; the configured base is the local folder "
                  f"{base.configured!r}, which does not say which model it is, so the identity cannot "
                  f"be confirmed; {shapes_note}.",
                  f"Set [model] base_id = {recorded!r} if that folder is a copy of it (or point [model] "
                  "base at the model the adapter was trained on).", metrics=metrics)
    return _r(Status.FAIL, str(recorded), threshold,
              f"The adapter was trained on {recorded!r} but the configured base is "
              f"{' / '.join(map(str, base.names()))}; {shapes_note}. Same shapes do not make the same "
              "weights: an adapter on the wrong base (e.g. an instruct model used as 'base') gives "
              "silently wrong results.",
              f"Set [model] base to {recorded!r} (or a local copy of it and [model] base_id = "
              f"{recorded!r}); if the recorded name is merely stale, correct base_model_name_or_path.",
              metrics=metrics)


@check("artifact.target_coverage", stage="artifact", title="Every target module adapted in every layer")
def target_coverage(adapter_config: Mapping[str, Any] | Unreadable | None,
                    weights: Header | HeaderError | Unreadable | None,
                    base: BaseInfo | None, *, min_coverage: float = 1.0) -> CheckResult:
    """Per target kind: adapted modules / base modules of that kind (from the base headers)."""
    skip = unavailable(adapter_config, weights)
    if skip:
        return skip
    assert isinstance(adapter_config, Mapping) and isinstance(weights, Header)
    shapes = base.shapes if base is not None else None
    rows, worst = lora_fit.coverage_by_target(adapter_config, weights, shapes)
    table = Table("coverage per target", ("target", "adapted", "in base", "coverage", "missing layers"),
                  tuple(rows))
    metrics = {r[0]: r[3] for r in rows}
    threshold = f"coverage >= {min_coverage} for every target"
    if not rows:
        return _r(Status.FAIL, 0.0, threshold, "No adapted module was found in the adapter weights.",
                  "Check target_modules against the base's module names and re-train.")
    if worst + 1e-12 < min_coverage:
        low = [r for r in rows if r[3] + 1e-12 < min_coverage]
        why = (f"layers_to_transform = {adapter_config.get('layers_to_transform')} restricts LoRA to "
               "those layers" if adapter_config.get("layers_to_transform") is not None else
               "target_modules (a regex or a name list) matched only some layers, or the save "
               "dropped some modules")
        return _r(Status.FAIL, round(worst, 4), threshold,
                  f"Target {low[0][0]!r} is adapted in {low[0][1]} of {low[0][2]} base modules "
                  f"(missing layers {low[0][4] or '-'}); {len(low)} target(s) below {min_coverage}. "
                  f"Cause: {why}.",
                  "Use plain module names in target_modules (e.g. ['q_proj', 'v_proj']) or fix the regex "
                  "so it matches every layer, and drop layers_to_transform; if partial coverage is "
                  'intended, lower [gates."artifact.target_coverage"] min_coverage.',
                  metrics=metrics, evidence=(table,))
    note = "" if shapes is not None else " (base shapes unavailable: counted against the adapter's own layers)"
    return _r(Status.PASS, round(worst, 4), threshold,
              f"{len(rows)} targets, each adapted in every layer{note}.", metrics=metrics, evidence=(table,))

@check("artifact.lora_b_nonzero", stage="artifact", title="lora_B was trained (not all zero)")
def lora_b_nonzero(weights: Header | HeaderError | Unreadable | None,
                   adapter_config: Mapping[str, Any] | Unreadable | None,
                   base_tensor: Callable[[str], Any] | None = None, *, fail_share: float = 1.0,
                   warn_share: float = 0.10, max_norm_modules: int = 64) -> CheckResult:
    """Share of all-zero lora_B (peft initialises B = 0, so zero means never updated);
    reports the relative update norm ‖(α/r)BA‖/‖W‖."""
    skip = unavailable(weights, adapter_config, payload=True)
    if skip:
        return skip
    assert isinstance(weights, Header) and isinstance(adapter_config, Mapping)
    updates = scan_updates(weights, adapter_config, base_tensor, max_norm_modules)
    if not updates:
        return _r(Status.FAIL, "no lora_B", "at least one lora_B tensor",
                  "The adapter has no lora_B tensors at all.", "Re-save the trained PEFT model.")
    summary = summarise_updates(updates)
    zero, share, metrics, norm_txt = summary.zero, summary.share, summary.metrics, summary.norm_text
    threshold = f"fail at share >= {fail_share}, warn above {warn_share}"
    evidence = (Table("all-zero lora_B", ("module",), tuple((m,) for m in zero[:200])),) if zero else ()
    cause = ("lora_B starts at zero and only moves with gradient: most likely no gradient reached "
             "the adapter (gradient checkpointing without enable_input_require_grads / "
             "use_reentrant=False, learning rate 0, frozen LoRA parameters, zero optimizer steps), or "
             "the weights were saved before training.")
    if share >= fail_share:
        return _r(Status.FAIL, share, threshold,
                  f"All {len(updates)} lora_B matrices are exactly zero: the adapter is inert (output "
                  f"identical to the base). {cause}",
                  "Check that loss.backward() reaches LoRA params (model.enable_input_require_grads() "
                  "with gradient checkpointing; print_trainable_parameters() > 0; lr > 0), then retrain.",
                  metrics=metrics, evidence=evidence)
    if share > warn_share:
        return _r(Status.WARN, share, threshold,
                  f"{len(zero)} of {len(updates)} lora_B matrices ({share:.0%}) are exactly zero: those "
                  f"modules were never updated.{norm_txt} {cause} With only some modules zero, look for "
                  "modules whose gradient is cut (frozen layers, layers_to_transform, a detach).",
                  "Find why those modules got no gradient (listed below) and retrain; or drop them "
                  "from target_modules.", metrics=metrics, evidence=evidence)
    return _r(Status.PASS, share, threshold,
              f"{len(updates) - len(zero)} of {len(updates)} lora_B matrices are non-zero.{norm_txt}",
              metrics=metrics, evidence=evidence)


@check("artifact.finite", stage="artifact", title="No NaN / Inf in adapter tensors")
def finite(weights: Header | HeaderError | Unreadable | None) -> CheckResult:
    """Every floating adapter tensor is finite (read one tensor at a time)."""
    skip = unavailable(weights, payload=True)
    if skip:
        return skip
    assert isinstance(weights, Header)
    bad = nonfinite_counts(weights)
    total = sum(n + i for _, n, i, _ in bad)
    if bad:
        return _r(Status.FAIL, total, "0 non-finite values",
                  f"{len(bad)} adapter tensors hold {total} NaN/Inf values (first: {bad[0][0]}). Any "
                  "forward pass through them yields NaN logits. Most likely causes: fp16 overflow "
                  "(fp16 training of a bf16 model family), a too-high learning rate, or a NaN loss "
                  "step that the optimizer applied.",
                  "Retrain from the last finite checkpoint with bf16 (or fp32), a lower learning rate "
                  f"and gradient clipping; check {see('training.log_sane')} for the first NaN step.",
                  metrics={"tensors_bad": len(bad)},
                  evidence=(Table("non-finite tensors", ("tensor", "nan", "inf", "numel"),
                                  tuple(bad[:200])),))
    return _r(Status.PASS, 0, "0 non-finite values",
              f"All {len(weights.tensors)} adapter tensors are finite.")


@check("artifact.tokenizer_saved", stage="artifact", title="Tokenizer and chat template saved")
def tokenizer_saved(adapter_dir: str | Path | None, tokenizer_path: str | None = None,
                    chat: bool = False, saved_in: Callable[[str], SavedTokenizer] = find_saved_tokenizer
                    ) -> CheckResult:
    """The tokenizer and chat template training used are saved with the checkpoint (or
    ``[model] tokenizer`` points at them); the template's sha256 is recorded."""
    where = tokenizer_path if tokenizer_path else (str(adapter_dir) if adapter_dir else None)
    if where is None:
        return _r(Status.SKIP, None, None, "No adapter or [model] tokenizer configured.")
    if not Path(where).is_dir():
        return _r(Status.WARN, where, "local tokenizer folder",
                  f"[model] tokenizer = {where!r} is not a local folder (a hub id?): sftcheck cannot "
                  "verify that it is the tokenizer and chat template training used.",
                  "Save the training tokenizer next to the adapter (tokenizer.save_pretrained(folder)).")
    saved = saved_in(where)
    metrics = {"folder": where, "tokenizer_files": list(saved.tokenizer_files),
               "chat_template_source": saved.template_source, "chat_template_sha256": saved.template_sha256}
    threshold = "tokenizer files + chat template present"
    fix = ("Call tokenizer.save_pretrained(output_dir) with the tokenizer used in training (with its "
           "chat template) next to model.save_pretrained(output_dir), or set [model] tokenizer to it.")
    if not saved.tokenizer_files:
        return _r(Status.FAIL, "no tokenizer files", threshold,
                  f"{where} has no tokenizer ({', '.join(TOKENIZER_FILES)} all missing): inference "
                  "falls back to the base model's tokenizer, which may lack tokens or the chat "
                  "template added for training.", fix, metrics=metrics)
    if saved.template is None:
        status = Status.FAIL if chat else Status.WARN
        return _r(status, "no chat template", threshold,
                  f"{where} has a tokenizer but no chat template (chat_template.jinja or "
                  "tokenizer_config.json 'chat_template'): a server using apply_chat_template falls "
                  "back to a default or the base's template, not training's"
                  + ("; this config uses chat prompts." if chat else "."), fix, metrics=metrics)
    return _r(Status.PASS, saved.template_sha256[:12], threshold,
              f"Tokenizer ({', '.join(saved.tokenizer_files)}) and chat template ({saved.template_source}, "
              f"sha256 {saved.template_sha256}) are saved in {where}.", metrics=metrics)


@check("artifact.vocab_consistent", stage="artifact", title="Tokenizer, embeddings and saved heads agree")
def vocab_consistent(tokenizer_len: int | Unreadable | None,
                     weights: Header | HeaderError | Unreadable | None,
                     base: BaseInfo | None) -> CheckResult:
    """len(tokenizer) <= embedding rows; saved embedding / head rows (modules_to_save) ==
    base rows and >= len(tokenizer); warns when a tied base has one side saved."""
    skip = unavailable(tokenizer_len, weights, base)
    if skip:
        return skip
    assert isinstance(weights, Header) and base is not None and isinstance(tokenizer_len, int)
    rows_base = lora_fit.embedding_rows(base)
    saved = lora_fit.saved_vocab_matrices(weights)
    threshold = "len(tokenizer) <= embedding rows == saved embedding/head rows"
    metrics = {"tokenizer_len": tokenizer_len, "embedding_rows": rows_base,
               "saved": {n: list(s) for n, s in saved}}
    rows = [("tokenizer", tokenizer_len, ""), ("base embedding", rows_base, base.shapes_source)]
    rows += [(strip_prefix(n), s[0], "saved in adapter") for n, s in saved]
    table = (Table("vocabulary sizes", ("what", "rows", "source"), tuple(rows)),)
    problems = lora_fit.vocab_problems(tokenizer_len, rows_base, saved)
    if problems:
        return _r(Status.FAIL, "; ".join(problems), threshold,
                  "; ".join(problems) + ". Most likely the vocabulary was resized (tokens added) during "
                  "training with modules_to_save on the embedding / head, or a different tokenizer is "
                  "configured.",
                  "Save and use the training tokenizer; before loading the adapter call "
                  "base.resize_token_embeddings(len(tokenizer)); for serving, merge the adapter "
                  "(merge_and_unload) and save the resized model.",
                  metrics=metrics, evidence=table)
    if rows_base is None and not saved:
        return _r(Status.SKIP, None, threshold,
                  f"The base's embedding size is unknown (no shapes: {base.shapes_source or 'no source'}; no "
                  f"vocab_size in its config) and the adapter saves no embedding: the tokenizer's "
                  f"{tokenizer_len} tokens were compared with nothing.",
                  "Point [model] base at a local copy of the base (config.json + *.safetensors), or a hub "
                  "id present in the local cache.", metrics=metrics, evidence=table)
    tied = bool(base.config.get("tie_word_embeddings"))
    if tied and saved:
        return _r(Status.WARN, "tied + modules_to_save", threshold,
                  f"The base ties input and output embeddings but the adapter saves "
                  f"{', '.join(strip_prefix(n) for n, _ in saved)} as modules_to_save: the tie is broken "
                  "in the adapter, and merging may keep only one side's training (peft#2018).",
                  "Train both sides together (ensure_weight_tying=True in LoraConfig) or neither, "
                  f"and verify the merged model against the adapter ({see('behaviour.merge_parity')}).",
                  metrics=metrics, evidence=table)
    return _r(Status.PASS, tokenizer_len, threshold,
              f"Tokenizer ({tokenizer_len}) fits the embedding ({rows_base} rows)"
              + (f"; saved {len(saved)} embedding/head matrices match." if saved else "."),
              metrics=metrics, evidence=table)
