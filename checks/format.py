"""Training vs inference prompt parity: same ids up to the answer, one BOS, matching stop tokens."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sftcheck.checks.support.hook_failures import hook_failed
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, SideBySide, Status, Table
from sftcheck.checks.support.rows import PromptSet, TrainSet, format_unconfigured
from sftcheck.checks.support.spans import first_difference, first_trained, last_trained
from sftcheck.checks.support.stops import StopSet
from sftcheck.checks.support.token_strip import token_text


def _tok(tokenizer, ids: Sequence[int], i: int) -> str:
    if i >= len(ids):
        return "<end of prompt>"
    return f"{tokenizer.convert_ids_to_tokens(int(ids[i]))!r} (id {int(ids[i])})"


def _render(tokenizer, ids: Sequence[int]) -> str:
    """Exact rendering: decoded text with special tokens, then the tokens split by '|'."""
    toks = [token_text(tokenizer, t).replace(" ", "␣").replace("\n", "⏎")
            for t in tokenizer.convert_ids_to_tokens([int(i) for i in ids])]
    return tokenizer.decode(list(ids), skip_special_tokens=False) + "\n\n--- tokens ---\n" + " | ".join(toks)


def _unconfigured(what: str) -> CheckResult:
    """SKIP: with no format configured, ``what`` would be sftcheck's default template compared
    with itself, which says nothing about the run."""
    return CheckResult(
        Status.SKIP, None, None,
        f"No format configured: {what} would come from sftcheck's built-in default template on both "
        "sides, compared with itself, which checks nothing about your run. Configure the format your "
        "trainer and server use: [format] train_formatter + prompt_builder (your own code), "
        "prompt_template + completion_template, or chat = true.",
        metrics={"format": "unconfigured"})


@check("format.train_infer_aligned", stage="pretrain",
       title="Inference prompt ids equal training ids up to the first answer token")
def train_infer_aligned(train: TrainSet, prompts: PromptSet, tokenizer, *, max_bad_share: float = 0.0) -> CheckResult:
    """For each row, the served prompt's ids equal the training row's ids before its first
    trained token: the model is asked in exactly the format it was trained on."""
    if format_unconfigured(train.source, prompts.source):
        return _unconfigured("the training and inference prompts")
    failures = train.failures + prompts.failures
    failed = hook_failed(failures,
                         len(train.rows) + len(train.failures))
    if failed:
        return failed
    by_row = {p.row: p for p in prompts.prompts}
    pairs, bad = 0, []
    for r in train.rows:
        p = by_row.get(r.row)
        start = first_trained(r.labels)
        if p is None or start is None or start <= 1:  # no prompt/answer boundary to compare at
            continue
        pairs += 1
        prefix = list(r.input_ids[:start])
        i = first_difference(prefix, p.input_ids)
        if i is not None:
            bad.append((r, p, prefix, i))
    share = len(bad) / pairs if pairs else 1.0
    threshold = f"<= {max_bad_share:g} of rows differ"
    metrics = {"rows_compared": pairs, "rows_differing": len(bad)}
    if not pairs:
        return CheckResult(Status.SKIP, None, threshold,
                           "No row has a prompt/answer boundary to compare at (no trained tokens, or the "
                           f"prompt is trained); see {see('labels.not_all_masked')} / "
                           f"{see('labels.prompt_masked')}.",
                           metrics=metrics)
    if share > max_bad_share:
        r, p, prefix, i = bad[0]
        where = ("the inference prompt is longer" if i >= len(prefix) else
                 "the inference prompt stops early" if i >= len(p.input_ids) else "the tokens differ")
        extra = ""
        if i >= len(prefix):
            extra = f" — extra inference text {tokenizer.decode(list(p.input_ids[i:]), skip_special_tokens=False)!r}"
        elif i >= len(p.input_ids):
            extra = f" — training continues with {tokenizer.decode(prefix[i:], skip_special_tokens=False)!r}"
        return CheckResult(
            Status.FAIL, share, threshold,
            f"In {len(bad)} of {pairs} rows ({share:.1%}) the inference prompt is not the training prompt. "
            f"First: row {r.row}, token {i}: training has {_tok(tokenizer, prefix, i)}, inference has "
            f"{_tok(tokenizer, p.input_ids, i)} ({where}{extra}). The model is asked in a format "
            "it never saw: expect answer rate ~0 and format penalties. Usual causes: a space or newline "
            "after the prompt, a system prompt on one side only, a missing generation header, a "
            "different template, or a doubled BOS.",
            fix="Build the inference prompt with the same function/template as training (the training "
                "prompt is everything before the first trained token), then re-run this check.",
            metrics=metrics,
            evidence=(SideBySide(f"row {r.row}: first difference at token {i}", "training (up to the answer)",
                                 _render(tokenizer, prefix), "inference prompt", _render(tokenizer, p.input_ids)),
                      Table("first differing token per row", ("row", "position", "training", "inference"),
                            tuple((b[0].row, b[3], _tok(tokenizer, b[2], b[3]), _tok(tokenizer, b[1].input_ids, b[3]))
                                  for b in bad[:20]))))
    first = train.rows[0]
    ev = ()
    p = by_row.get(first.row)
    if p is not None:
        ev = (SideBySide(f"row {first.row}: identical", "training (up to the answer)",
                         _render(tokenizer, first.input_ids[:first_trained(first.labels) or 0]),
                         "inference prompt", _render(tokenizer, p.input_ids)),)
    return CheckResult(Status.PASS, share, threshold,
                       f"All {pairs} inference prompts equal their training prompts token for token.",
                       metrics=metrics, evidence=ev)


@check("format.bos_single", stage="pretrain", title="Exactly one BOS, at the start, in training and inference")
def bos_single(train: TrainSet, prompts: PromptSet, tokenizer, *, max_bad_share: float = 0.0) -> CheckResult:
    """Count BOS ids per sequence: more than one (``apply_chat_template(tokenize=False)`` then
    ``tokenizer(text)``), one not at position 0, or none where the tokenizer adds one."""
    if format_unconfigured(train.source, prompts.source):
        return _unconfigured("the BOS tokens of training rows and prompts")
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is None:
        return CheckResult(Status.SKIP, None, None, "The tokenizer defines no BOS token.")
    adds_bos = bool(tokenizer("a").input_ids[:1] == [bos])
    seqs = [("training", r.row, r.input_ids) for r in train.rows] + \
           [("inference", p.row, p.input_ids) for p in prompts.prompts]
    bad = []
    for side, row, ids in seqs:
        c = list(ids).count(bos)
        if c > 1:
            bad.append((side, row, c, f"{c} BOS tokens"))
        elif c == 1 and ids[0] != bos:
            bad.append((side, row, c, f"BOS at position {list(ids).index(bos)}, not 0"))
        elif c == 0 and adds_bos:
            bad.append((side, row, c, "no BOS although the tokenizer adds one"))
    share = len(bad) / len(seqs) if seqs else 0.0
    counts = {side: Counter(list(ids).count(bos) for s, _, ids in seqs if s == side) for side in ("training", "inference")}
    metrics = {f"{side}_bos_count_histogram": dict(c) for side, c in counts.items()}
    threshold = f"<= {max_bad_share:g} of sequences without exactly one leading BOS"
    if share > max_bad_share:
        side, row, c, why = bad[0]
        sides = sorted({b[0] for b in bad})
        doubled = any(b[2] > 1 for b in bad)
        return CheckResult(
            Status.FAIL, share, threshold,
            f"{len(bad)} of {len(seqs)} sequences ({', '.join(sides)}) do not have exactly one leading BOS "
            f"{tokenizer.bos_token!r}; first: {side} row {row}: {why}. "
            + ("A doubled BOS is the mark of apply_chat_template(tokenize=False) (whose template already "
               "writes the BOS) followed by tokenizer(text), which adds another; the model was trained "
               "with one, so the served distribution shifts." if doubled else
               "Training and inference must agree on the BOS."),
            fix="Tokenize the rendered chat text with add_special_tokens=False, or call "
                "apply_chat_template(..., tokenize=True) directly.",
            metrics=metrics,
            evidence=(Table("sequences without exactly one leading BOS", ("side", "row", "BOS count", "problem"),
                            tuple(bad[:20])),))
    return CheckResult(Status.PASS, share, threshold,
                       f"All {len(seqs)} training and inference sequences start with exactly one BOS"
                       + ("" if adds_bos else " (or none, as the tokenizer adds none)") + ".", metrics=metrics)


@check("format.stop_tokens", stage="pretrain", title="Inference stops on the token that ends training labels")
def stop_tokens(train: TrainSet, stops: StopSet, tokenizer, *, min_share: float = 0.99) -> CheckResult:
    """The end tokens that close training labels are in the run's stop set — the very ids and
    strings the generation engine stops on (``[format] stop_ids`` / ``generation_config`` /
    ``stop_strings``, else the checkpoint's ``generation_config.json``)."""
    if format_unconfigured(train.source):
        return _unconfigured("the end token training rows close with")
    ends = Counter(r.labels[last_trained(r.labels)] for r in train.rows
                   if last_trained(r.labels) is not None and r.labels[last_trained(r.labels)] in train.end_ids)
    total = sum(ends.values())
    ids = {int(i) for i in stops.ids}
    names = {t: tokenizer.convert_ids_to_tokens(int(t)) for t in list(ends)}
    stop_names = [n for _, _, n, _ in stops.table(tokenizer).rows]
    metrics = {"training_end_tokens": {names[t]: c for t, c in ends.items()},
               "stop_set": stops.to_dict(), "stop_tokens": stop_names, "stop_source": stops.source}
    evidence = (stops.table(tokenizer),)
    if not total:
        return CheckResult(Status.SKIP, None, None,
                           "No training row ends its labels with an EOS/EOT token; "
                           f"see {see('labels.eos_trained')}.",
                           metrics=metrics, evidence=evidence)
    covered = sum(c for t, c in ends.items()
                  if t in ids or tokenizer.decode([t], skip_special_tokens=False) in stops.strings)
    share = covered / total
    threshold = f">= {min_share:g} of training end tokens are stop tokens"
    if share < min_share:
        missing = [t for t in ends if t not in ids
                   and tokenizer.decode([t], skip_special_tokens=False) not in stops.strings]
        return CheckResult(
            Status.FAIL, share, threshold,
            f"Training teaches the model to end answers with {', '.join(repr(names[t]) for t in missing)} "
            f"({total - covered} of {total} rows), but generation stops only on {stop_names} "
            f"(from {stops.source}). Generation runs past the answer to max_new_tokens (the Llama-3 "
            "<|eot_id|> vs <|end_of_text|> trap).",
            fix=f"Add the id(s) {missing} to the generation_config.json eos_token_id your server loads "
                "(a list is allowed) and save it with the checkpoint, or to your server's stop ids; "
                "then name it here with [format] generation_config (or [format] stop_ids).",
            metrics=metrics, evidence=evidence)
    return CheckResult(Status.PASS, share, threshold,
                       f"The stop set {stop_names} (from {stops.source}) includes the training end "
                       f"token(s) {sorted(names[t] for t in ends)}.", metrics=metrics, evidence=evidence)
