"""Label-mask checks: what the trainer will actually train on each row.

Inputs are the rows after the user's own formatter and collator (``TrainSet``), so the
masks checked are the masks trained.
"""
from __future__ import annotations

from collections import Counter

from sftcheck.checks.support.hook_failures import hook_failed
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table
from sftcheck.checks.support.rows import PromptSet, TrainRow, TrainSet
from sftcheck.checks.support.spans import first_trained, last_trained, trained_positions, trained_runs
from sftcheck.checks.support.token_strip import strips


def _total(train: TrainSet) -> int:
    return len(train.rows) + len(train.failures)


def _trained_text(row: TrainRow, tokenizer, skip_special: bool = True) -> str:
    return tokenizer.decode([row.labels[i] for i in trained_positions(row.labels)],
                            skip_special_tokens=skip_special)


def _ws(s: str) -> str:
    return " ".join(s.split())


@check("labels.not_all_masked", stage="pretrain", title="Every row has trainable tokens")
def not_all_masked(train: TrainSet, tokenizer, *, max_zero_share: float = 0.05) -> CheckResult:
    """Rows with 0 trainable labels: warn on any, fail above ``max_zero_share`` or when all are 0."""
    failed = hook_failed(train.failures, _total(train))
    if failed:
        return failed
    n = len(train.rows)
    counts = [len(trained_positions(r.labels)) for r in train.rows]
    zero = [r for r, c in zip(train.rows, counts) if c == 0]
    share = len(zero) / n if n else 1.0
    metrics = {"rows": n, "rows_all_masked": len(zero),
               "mean_trained_tokens": sum(counts) / n if n else 0.0, "min_trained_tokens": min(counts, default=0)}
    evidence = strips(train.rows, zero, tokenizer, train.end_ids)
    threshold = f"<= {max_zero_share:g} of rows with 0 trained tokens (and not all)"
    if not n:
        return CheckResult(Status.FAIL, 1.0, threshold,
                           "No training rows were produced.", fix=f"Fix {see('data.schema')} first.")
    if zero and (len(zero) == n or share > max_zero_share):
        return CheckResult(
            Status.FAIL, share, threshold,
            f"{len(zero)} of {n} rows ({share:.1%}) have every label = -100: "
            f"{'NOTHING is trained (loss 0, the adapter learns nothing)' if len(zero) == n else 'those rows train nothing'}. "
            "Most likely the response marker your collator searches for never matches the rendered "
            "text (it tokenizes differently with left context, or differs from the template), or the "
            "prompt alone fills max_length.",
            fix="Make the response marker match the template as tokenized inside a row (compare the "
                "strips below), tokenize prompt and completion separately and mask the prompt by "
                "length, or raise max_length.",
            metrics=metrics, evidence=evidence)
    if zero:
        return CheckResult(Status.WARN, share, threshold,
                           f"{len(zero)} of {n} rows have no trainable token (below the threshold).",
                           fix="Inspect the failing rows' strips; drop or repair them.",
                           metrics=metrics, evidence=evidence)
    return CheckResult(Status.PASS, share, threshold,
                       f"All {n} rows train at least one token (mean {metrics['mean_trained_tokens']:.1f}).",
                       metrics=metrics, evidence=evidence)


@check("labels.prompt_masked", stage="pretrain", title="Prompt tokens are not trained")
def prompt_masked(train: TrainSet, tokenizer, *, max_bad_share: float = 0.01,
                  max_trained_share: float = 0.95) -> CheckResult:
    """A row trains its prompt when its first token is trained, its trained share exceeds
    ``max_trained_share``, or the trained text contains the question."""
    failed = hook_failed(train.failures, _total(train))
    if failed:
        return failed
    bad: list[tuple[TrainRow, str]] = []
    shares = []
    for r in train.rows:
        pos = trained_positions(r.labels)
        if not pos:
            continue
        share = len(pos) / len(r.labels)
        shares.append(share)
        q = _ws(r.question)
        if first_trained(r.labels) <= 1 and len(r.labels) > 2:
            bad.append((r, f"trained from position {pos[0]} (the prompt's first token)"))
        elif share > max_trained_share:
            bad.append((r, f"{share:.0%} of tokens trained"))
        elif len(q) >= 3 and q not in _ws(r.answer) and q in _ws(_trained_text(r, tokenizer)):
            bad.append((r, "the question is inside the trained span"))
    n = len(train.rows)
    share_bad = len(bad) / n if n else 0.0
    metrics = {"rows": n, "rows_training_prompt": len(bad),
               "mean_trained_share": sum(shares) / len(shares) if shares else 0.0}
    threshold = f"<= {max_bad_share:g} of rows train their prompt"
    evidence = strips(train.rows, [r for r, _ in bad], tokenizer, train.end_ids)
    if share_bad > max_bad_share:
        r, why = bad[0]
        return CheckResult(
            Status.FAIL, share_bad, threshold,
            f"{len(bad)} of {n} rows ({share_bad:.1%}) train their prompt (first: row {r.row}: {why}; mean "
            f"trained share {metrics['mean_trained_share']:.0%}). Training on inputs wastes capacity on "
            "predicting questions and dilutes the answer loss; the usual cause is labels = input_ids "
            "(a plain LM collator, or a formatter that does not set the prompt labels to -100).",
            fix="Set the prompt's labels to -100 (completion-only loss: TRL completion_only_loss / "
                "assistant_only_loss, or mask len(prompt_ids) labels in your formatter) and do not let "
                "the collator rebuild labels from input_ids.",
            metrics=metrics,
            evidence=(Table("rows training the prompt", ("row", "why"), tuple((r.row, w) for r, w in bad[:20])),)
            + evidence)
    return CheckResult(Status.PASS, share_bad, threshold,
                       f"{n - len(bad)} of {n} rows mask their prompt (mean trained share "
                       f"{metrics['mean_trained_share']:.0%}).", metrics=metrics, evidence=evidence[:3])


def _served_overlap(row: TrainRow, served: tuple[int, ...] | None) -> int:
    """How many trained tokens at the start of the span the served prompt already contains:
    the served prompt is the row's first ``len(served)`` tokens and reaches past the mask."""
    first = first_trained(row.labels)
    if not served or first is None or len(served) <= first:
        return 0
    return len(served) - first if tuple(row.input_ids[:len(served)]) == tuple(served) else 0


def _template_markers(row: TrainRow, tokenizer, markers: frozenset[int]) -> list[str]:
    """Special tokens other than the end tokens among the trained labels (role headers)."""
    found = [row.labels[i] for i in trained_positions(row.labels) if row.labels[i] in markers]
    return list(dict.fromkeys(tokenizer.convert_ids_to_tokens(found)))


@check("labels.response_span", stage="pretrain", title="The trained span is the answer (+ EOS), nothing more or less")
def response_span(train: TrainSet, tokenizer, expected_completion: str | None = None,
                  prompts: PromptSet | None = None, *, max_bad_share: float = 0.0) -> CheckResult:
    """The decoded trainable span contains the whole answer, none of the question, and — when
    ``expected_completion`` (e.g. ``" <answer>{answer}</answer>"``) is given — equals it.
    Without a template it still holds the span to "nothing more than the answer": no
    template marker (a special token other than EOS / end-of-turn, e.g. a role header) is
    trained, and no trained token is one the served prompt (``prompts``) already holds."""
    failed = hook_failed(train.failures, _total(train))
    if failed:
        return failed
    bad: list[tuple[TrainRow, str, str]] = []
    wrappers: Counter[str] = Counter()
    rows = [r for r in train.rows if trained_positions(r.labels)]  # all-masked rows: labels.not_all_masked
    served = {p.id: p.input_ids for p in prompts.prompts} if prompts else {}
    markers = frozenset(getattr(tokenizer, "all_special_ids", []) or []) - train.end_ids
    for r in rows:
        text = _trained_text(r, tokenizer)
        ans, q = _ws(r.answer), _ws(r.question)
        why = ""
        overlap = _served_overlap(r, served.get(r.id))
        found = _template_markers(r, tokenizer, markers)
        if expected_completion is not None and _ws(text) != _ws(expected_completion.format(answer=r.answer)):
            why = f"expected {expected_completion.format(answer=r.answer)!r}"
        elif ans not in _ws(text):
            why = "the answer is not (entirely) trained"
        elif len(q) >= 3 and q not in ans and q in _ws(text):
            why = "the question is trained too"
        elif overlap:
            first = first_trained(r.labels)
            tail = tokenizer.decode(list(r.input_ids[first:first + overlap]))
            text = _trained_text(r, tokenizer, skip_special=False)
            why = (f"its first {overlap} trained tokens {tail!r} end the served prompt: a role header / "
                   "prompt tail is trained in front of the answer")
        elif found:
            text = _trained_text(r, tokenizer, skip_special=False)
            why = f"template marker(s) {', '.join(found)} are trained: a role header is trained with the answer"
        if why:
            bad.append((r, text, why))
        else:
            wrappers[_ws(text).replace(ans, "{answer}", 1)] += 1
    n = len(rows)
    share = len(bad) / n if n else 1.0
    threshold = f"<= {max_bad_share:g} of rows whose trained span is not the answer"
    metrics = {"rows": n, "bad_rows": len(bad), "trained_span_shapes": dict(wrappers.most_common(3)),
               "runs_per_row_max": max((len(trained_runs(r.labels)) for r in train.rows), default=0)}
    table = Table("rows whose trained span is not the answer", ("row", "gold answer", "trained text", "problem"),
                  tuple((r.row, r.answer, t, w) for r, t, w in bad[:20]))
    evidence = strips(train.rows, [r for r, _, _ in bad], tokenizer, train.end_ids)
    if not n:
        return CheckResult(Status.SKIP, None, threshold,
                           f"No training row has trained tokens; see {see('labels.not_all_masked')}.")
    if share > max_bad_share:
        r, t, w = bad[0]
        return CheckResult(
            Status.FAIL, share, threshold,
            f"In {len(bad)} of {n} rows ({share:.1%}) the trained tokens are not the answer: first row {r.row} "
            f"trains {t!r} ({w}; gold {r.answer!r}). Likely the prompt/answer boundary is computed "
            "on different tokens than the row (a marker or length that does not match), or the "
            "answer is truncated. A trained role header teaches the model to write again what the "
            "server already sent.",
            fix="Mask exactly the prompt tokens (-100) and train the completion + EOS: compute the "
                "boundary from len(tokenizer(prompt).input_ids) on the same text you train on.",
            metrics=metrics, evidence=(table,) + evidence)
    return CheckResult(Status.PASS, share, threshold,
                       f"All {n} rows train the answer and nothing of the prompt (span shape: "
                       f"{next(iter(wrappers), '?')!r}).", metrics=metrics, evidence=evidence[:3])


@check("labels.eos_trained", stage="pretrain", title="EOS / end-of-turn is the last trained label")
def eos_trained(train: TrainSet, tokenizer, *, min_share: float = 0.99) -> CheckResult:
    """The last trained label of each row is EOS/EOT in at least ``min_share`` of rows,
    measured after the user's collator (catches pad == eos masking)."""
    failed = hook_failed(train.failures, _total(train))
    if failed:
        return failed
    end_ids = train.end_ids
    with_labels = [r for r in train.rows if trained_positions(r.labels)]
    bad: list[tuple[TrainRow, str]] = []
    pad = getattr(tokenizer, "pad_token_id", None)
    for r in with_labels:
        last = last_trained(r.labels)
        if r.labels[last] in end_ids:
            continue
        after = r.input_ids[last + 1] if last + 1 < len(r.input_ids) else None
        if after is not None and after in end_ids and after == pad:
            bad.append((r, "pad == eos: the EOS is in input_ids but its label was masked as padding"))
        elif after is not None and after in end_ids:
            bad.append((r, "the EOS is in input_ids but its label is -100"))
        elif not any(t in end_ids for t in r.input_ids):
            bad.append((r, "no EOS/EOT in the row at all (never appended)"))
        else:
            bad.append((r, f"last trained token is {tokenizer.convert_ids_to_tokens(int(r.labels[last]))!r}"))
    n = len(with_labels)
    share = (n - len(bad)) / n if n else 0.0
    names = sorted(tokenizer.convert_ids_to_tokens(sorted(end_ids)))
    threshold = f">= {min_share:g} of rows end their labels with {', '.join(names)}"
    metrics = {"rows_with_labels": n, "rows_without_end_label": len(bad), "end_tokens": names,
               "pad_token_id": pad, "eos_token_id": getattr(tokenizer, "eos_token_id", None)}
    evidence = strips(train.rows, [r for r, _ in bad], tokenizer, end_ids)
    if n == 0 or share < min_share:
        causes = Counter(w for _, w in bad).most_common()
        cause = causes[0][0] if causes else "no row has any trained label"
        pad_eos = pad is not None and (pad == getattr(tokenizer, "eos_token_id", None) or pad in end_ids)
        return CheckResult(
            Status.FAIL, share, threshold,
            f"Only {n - len(bad)} of {n} rows train an end token as their last label ({share:.1%}); most "
            f"common cause here: {cause}. A model never trained to emit EOS/EOT does not stop: "
            "it runs to max_new_tokens and rambles past the answer."
            + (f" The tokenizer's pad_token ({tokenizer.convert_ids_to_tokens(int(pad))!r}) is its "
               "end token (pad == eos), and a collator that masks labels by pad id also masks every "
               "end label." if pad_eos else ""),
            fix=("Use a pad token distinct from EOS (tokenizer.pad_token = a reserved/unused token, or "
                 "add '<|pad|>'), or mask padding by attention_mask, not by pad id."
                 if pad_eos else "Append tokenizer.eos_token_id (or the template's end-of-turn token) to "
                 "every completion and keep its label."),
            metrics=metrics,
            evidence=(Table("rows not ending in EOS/EOT", ("row", "cause"), tuple((r.row, w) for r, w in bad[:20])),)
            + evidence)
    return CheckResult(Status.PASS, share, threshold,
                       f"{n - len(bad)} of {n} rows end their labels with an end token.",
                       metrics=metrics, evidence=evidence[:3])


@check("labels.padding_side", stage="pretrain", title="Training batches are padded on the right")
def padding_side(train: TrainSet, tokenizer, *, max_left_share: float = 0.0) -> CheckResult:
    """Rows your collator padded on the left (trl#1842: left padding in training gave 0
    loss / shifted positions), or, with no collator configured, a tokenizer whose
    ``padding_side`` is "left" (the stock HF / TRL collators pad on that side)."""
    failed = hook_failed(train.failures, _total(train))
    if failed:
        return failed
    n = len(train.rows)
    left = [r for r in train.rows if r.left_pad > 0]
    share = len(left) / n if n else 0.0
    side = getattr(tokenizer, "padding_side", "right")
    threshold = f"<= {max_left_share:g} of rows padded on the left"
    metrics = {"rows": n, "left_padded": len(left), "tokenizer_padding_side": side,
               "collator": train.source if train.collated else "none configured"}
    if share > max_left_share:
        table = Table("rows the collator padded on the left", ("row", "id", "padding before the row", "tokens"),
                      tuple((r.row, r.id, r.left_pad, len(r.input_ids)) for r in left[:20]))
        return CheckResult(
            Status.FAIL, share, threshold,
            f"{len(left)} of {n} training rows were padded on the LEFT by {train.source}. Training with left "
            "padding shifts every position id of the real tokens (HF models do not derive position ids "
            "from the attention mask in training) and, with some attention kernels, gives a zero or "
            "meaningless loss (trl#1842). Left padding belongs to batched generation, not to training.",
            "Pad on the right in training: tokenizer.padding_side = 'right' before building the training "
            "collator (set 'left' only on the copy used for generation).",
            metrics=metrics, evidence=(table,))
    if not train.collated and side == "left":
        return CheckResult(
            Status.WARN, share, threshold,
            "No collator is configured and the tokenizer's padding_side is 'left': the stock collators "
            "(DataCollatorWithPadding, DataCollatorForLanguageModeling, TRL's) pad on tokenizer.padding_side, "
            "so training batches would be left-padded (trl#1842). A tokenizer saved after setting 'left' "
            "for generation is the usual cause.",
            "Set tokenizer.padding_side = 'right' for training (and save it that way), or configure "
            "[format] collator so this check sees the batches your trainer builds.",
            metrics=metrics)
    how = f"by {train.source}" if train.collated else f"tokenizer padding_side = {side!r}, no collator configured"
    return CheckResult(Status.PASS, share, threshold,
                       f"No training row is padded on the left ({how}).", metrics=metrics)
