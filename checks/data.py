"""Data checks of the pre-training gate: rows parse, truncation, answer round trip, leakage."""
from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Iterable

from sftcheck.checks.support.answers import equivalent
from sftcheck.checks.support.hook_failures import hook_failed
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table, Text
from sftcheck.checks.support.rows import DataAudit, Example, TrainRow, TrainSet
from sftcheck.checks.support.spans import last_trained, trained_positions, truncate
from sftcheck.checks.support.token_strip import strips


@check("data.schema", stage="pretrain", title="Data rows parse and have the required fields")
def schema(train_audit: DataAudit, eval_audit: DataAudit | None = None, *, max_bad_rows: int = 0) -> CheckResult:
    """Every row of the training (and eval) file fits the schema; an empty file fails."""
    audits = [a for a in (train_audit, eval_audit) if a is not None]
    bad = sum(a.problem_count for a in audits)
    table = Table("rows that do not fit", ("file", "row", "field", "problem"),
                  tuple((p.file, p.row, p.field, p.problem) for a in audits for p in a.problems)[:50])
    metrics = {a.file: {"schema": a.schema, "rows": a.rows, "valid": a.valid, "problems": a.problem_count}
               for a in audits}
    unreadable = [a for a in audits if a.error]
    if unreadable:
        a = unreadable[0]
        return CheckResult(Status.FAIL, "unreadable", "every file readable",
                           f"{a.file} could not be read: {a.error}",
                           fix="Point [data] train / eval at a .jsonl, .json (array) or .parquet file.",
                           metrics=metrics)
    empty = [a for a in audits if a.valid == 0]
    if empty:
        a = empty[0]
        return CheckResult(
            Status.FAIL, 0, "> 0 valid rows",
            f"{a.file} has no usable rows ({a.rows} rows read, {a.problem_count} do not fit schema "
            f"{a.schema!r}). Training on it would do nothing or crash.",
            fix="Check the path and the schema ([data] schema, question_field, answer_field).",
            metrics=metrics, evidence=(table,) if table.rows else ())
    if bad > max_bad_rows:
        p = next(p for a in audits for p in a.problems)
        return CheckResult(
            Status.FAIL, bad, f"<= {max_bad_rows} rows that do not fit",
            f"{bad} rows do not fit their schema; first: {p.file} row {p.row}: field {p.field!r}: "
            f"{p.problem}. Trainers drop or crash on such rows (a KeyError mid-epoch).",
            fix=f"Repair or remove the rows listed below (first: row {p.row} of {p.file}), or declare "
                "the right [data] schema / question_field / answer_field.",
            metrics=metrics, evidence=(table,))
    rows = sum(a.valid for a in audits)
    return CheckResult(Status.PASS, bad, f"<= {max_bad_rows} rows that do not fit",
                       f"{rows} rows parse ({', '.join(f'{a.file}: {a.schema}' for a in audits)}).",
                       metrics=metrics, evidence=(table,) if table.rows else ())


@check("data.truncation", stage="pretrain", title="Truncation keeps the answer and its EOS")
def truncation(train: TrainSet, tokenizer, max_length: int, *, max_bad_share: float = 0.05) -> CheckResult:
    """Rows at ``max_length``, rows whose prompt alone fills it (0 labels left) and truncated
    rows that lose the answer's end token; fail when the last two exceed ``max_bad_share``.

    A formatter that truncates by itself (``tokenizer(..., truncation=True, max_length=…)``)
    hands over rows of exactly ``max_length``: such a row whose labels do not end with an
    end token was cut there, and counts as losing its end."""
    failed = hook_failed(train.failures, len(train.rows) + len(train.failures))
    if failed:
        return failed
    n = len(train.rows)
    at_max, prompt_fills, lost_end = [], [], []
    for r in train.rows:
        if len(r.input_ids) < max_length:
            continue
        at_max.append(r)
        _, labels = truncate(r.input_ids, r.labels, max_length)
        if len(r.input_ids) == max_length and trained_positions(labels) \
                and labels[last_trained(labels)] in train.end_ids:
            continue  # fits exactly, end token kept
        if not trained_positions(labels):
            prompt_fills.append(r)
        elif labels[last_trained(labels)] not in train.end_ids:
            lost_end.append(r)
    bad = prompt_fills + lost_end
    share = len(bad) / n if n else 0.0
    lengths = sorted(len(r.input_ids) for r in train.rows)
    cut_by_formatter = sum(len(r.input_ids) == max_length for r in bad)
    metrics = {"rows": n, "at_max_length": len(at_max), "prompt_fills_max_length": len(prompt_fills),
               "exactly_max_length_without_end": cut_by_formatter,
               "truncated_losing_end": len(lost_end), "max_length": max_length,
               "longest_row": lengths[-1] if lengths else 0,
               "p99_length": lengths[int(0.99 * (n - 1))] if lengths else 0}
    evidence = []
    if bad:
        evidence.append(Table("truncated rows", ("row", "tokens", "max_length", "lost"),
                              tuple((r.row, len(r.input_ids), max_length,
                                     "every label (prompt fills max_length)" if r in prompt_fills
                                     else "the answer's end / EOS") for r in bad[:20])))
        cut = [TrainRow(r.row, r.id, r.question, r.answer, *map(tuple, truncate(r.input_ids, r.labels,
                                                                              max_length))) for r in bad]
        evidence.extend(strips([], cut, tokenizer, train.end_ids))
    threshold = f"<= {max_bad_share:g} of rows lose labels or EOS to truncation"
    if share > max_bad_share:
        return CheckResult(
            Status.FAIL, share, threshold,
            f"{len(bad)} of {n} rows ({share:.1%}) do not fit max_length={max_length}: {len(prompt_fills)} "
            f"keep no label at all (the prompt alone fills it) and {len(lost_end)} lose the end of the "
            f"answer or its EOS (longest row {metrics['longest_row']} tokens). The model learns "
            "to never stop, or learns nothing from these rows."
            + (f" {cut_by_formatter} of them are exactly {max_length} tokens long and end without an end "
               "token: your formatter (or the tokenizer with truncation=True) already cut them, so the "
               "rows it returns never show how long they really were." if cut_by_formatter else ""),
            fix=("Raise the max_length your formatter truncates to (and [format] max_length) so the "
                 "rows fit whole, or drop over-long rows before training instead of cutting them."
                 if cut_by_formatter else
                 f"Raise [format] max_length (and your trainer's max_length) above {metrics['p99_length']} "
                 "tokens, shorten the prompts, or drop over-long rows before training."),
            metrics=metrics, evidence=tuple(evidence))
    if bad or at_max:
        return CheckResult(
            Status.WARN, share, threshold,
            f"{len(at_max)} rows reach max_length={max_length}; {len(bad)} lose labels or EOS "
            "(below the threshold).", fix="Raise max_length or drop the listed rows.",
            metrics=metrics, evidence=tuple(evidence))
    return CheckResult(Status.PASS, share, threshold,
                       f"No row reaches max_length={max_length} (longest {metrics['longest_row']} tokens).",
                       metrics=metrics)


@check("data.answer_roundtrip", stage="pretrain",
       title="The answer parser reads the gold answer back from every training target")
def answer_roundtrip(train: TrainSet, parse: Callable[[str], str | None], tokenizer, parser_name: str = "",
                     *, max_bad_share: float = 0.0) -> CheckResult:
    """``parse(decoded trained span)`` equals the gold answer (compared as scoring compares) for
    every row; ``parse`` is the run's one answer parser, the very object scoring extracts
    with, so a correct model is scored correct."""
    failed = hook_failed(train.failures, len(train.rows) + len(train.failures))
    if failed:
        return failed
    name = parser_name or getattr(parse, "__name__", "answer parser")
    bad: list[tuple[TrainRow, str, str]] = []
    first_tb = ""
    rows = [r for r in train.rows if trained_positions(r.labels)]  # all-masked rows: labels.not_all_masked
    for r in rows:
        target = tokenizer.decode([r.labels[i] for i in trained_positions(r.labels)], skip_special_tokens=True)
        try:
            got = parse(target)
        except Exception:  # noqa: BLE001 - the user's parser raised: a finding, not a crash
            first_tb = first_tb or traceback.format_exc()
            bad.append((r, target, "raised " + traceback.format_exc().strip().splitlines()[-1]))
            continue
        if got is not None and not isinstance(got, str):
            bad.append((r, target, f"{got!r} ({type(got).__name__}, not str: the parser must return a str or None)"))
        elif got is None or not equivalent(got, r.gold_answer):
            bad.append((r, target, repr(got)))
    n = len(rows)
    share = len(bad) / n if n else 1.0
    threshold = f"<= {max_bad_share:g} of rows not recovered"
    table = Table("training targets the parser does not read back", ("row", "gold", "target text", "parsed"),
                  tuple((r.row, r.gold_answer, t, g) for r, t, g in bad[:20]))
    if not n:
        return CheckResult(Status.SKIP, None, threshold,
                           f"No training row has a trained target; see {see('labels.not_all_masked')}.")
    if share > max_bad_share:
        r, t, g = bad[0]
        ev: tuple = (table,)
        if first_tb:
            ev += (Text("parser traceback", first_tb),)
        return CheckResult(
            Status.FAIL, share, threshold,
            f"The answer parser ({name}) recovers the gold answer from only {n - len(bad)} of {n} training "
            f"targets ({share:.1%} not). First: row {r.row}: target {t!r} parsed as {g}, gold {r.gold_answer!r}. "
            "The eval parser and the training format disagree: even a perfect model would score 0.",
            fix="Make the parser read the format you train on (or train the format you parse): e.g. "
                "set [format] answer_pattern to a regex that matches the training completion, or fix "
                "[format] answer_parser / completion_template. When the training target is a worked "
                "solution (GSM8K's '... #### 42'), say where the gold answer is: [data] gold_field "
                "and/or gold_pattern.",
            metrics={"rows": n, "not_recovered": len(bad)}, evidence=ev)
    return CheckResult(Status.PASS, share, threshold,
                       f"The parser ({name}) recovers the gold answer from {n - len(bad)} of {n} targets.",
                       metrics={"rows": n, "not_recovered": len(bad)},
                       evidence=(table,) if bad else ())


def normalise(text: str) -> str:
    """Lower case, punctuation and runs of whitespace collapsed: near-identical prompts meet."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


@check("data.leakage", stage="pretrain", title="Eval rows do not appear in the training data")
def leakage(train_examples: Iterable[Example], eval_examples: Iterable[Example] | None, *, max_exact_share: float = 0.0,
            max_normalized_share: float = 0.01) -> CheckResult:
    """Share of eval rows whose question appears in the training data, exactly and after
    normalisation.  Streams ``train_examples``; memory is bounded by the eval set."""
    if eval_examples is None:
        return CheckResult(Status.SKIP, None, None,
                           "No eval data configured ([data] eval); nothing to compare.")
    exact: dict[str, list[Example]] = {}
    norm: dict[str, list[Example]] = {}
    n_eval = 0
    for e in eval_examples:
        n_eval += 1
        exact.setdefault(e.question, []).append(e)
        norm.setdefault(normalise(e.question), []).append(e)
    hit_exact: dict[int, tuple[Example, Example]] = {}
    hit_norm: dict[int, tuple[Example, Example]] = {}
    n_train = 0
    for t in train_examples:
        n_train += 1
        for e in exact.get(t.question, ()):
            hit_exact.setdefault(id(e), (e, t))
        for e in norm.get(normalise(t.question), ()):
            hit_norm.setdefault(id(e), (e, t))
    if not n_eval:
        return CheckResult(Status.SKIP, None, None, "The eval set is empty.")
    if not n_train:
        return CheckResult(Status.SKIP, None, None,
                           f"No readable training row to compare with ({see('data.schema')} says why).")
    s_exact, s_norm = len(hit_exact) / n_eval, len(hit_norm) / n_eval
    metrics = {"eval_rows": n_eval, "train_rows": n_train, "exact_duplicates": len(hit_exact),
               "normalized_duplicates": len(hit_norm), "exact_share": s_exact, "normalized_share": s_norm}
    threshold = f"share exact <= {max_exact_share:g}, normalised <= {max_normalized_share:g}"
    pairs = sorted(hit_norm.values(), key=lambda p: p[0].row)[:20]
    table = Table("eval rows found in the training data",
                  ("eval row", "eval question", "train row", "train question", "exact"),
                  tuple((e.row, e.question, t.row, t.question, e.question == t.question) for e, t in pairs))
    if s_exact > max_exact_share or s_norm > max_normalized_share:
        e, t = pairs[0]
        return CheckResult(
            Status.FAIL, s_norm, threshold,
            f"{len(hit_exact)} of {n_eval} eval rows ({s_exact:.1%}) appear verbatim in the training data, "
            f"{len(hit_norm)} ({s_norm:.1%}) after normalising case/punctuation/spaces (first: eval row "
            f"{e.row} = train row {t.row}). Eval scores measure memorisation, not generalisation; "
            "the usual cause is generating train and eval with the same seed or sampling both from "
            "one pool without de-duplication.",
            fix="Remove the listed questions from the eval (or train) set — de-duplicate on the "
                "normalised question — and regenerate with disjoint seeds.",
            metrics=metrics, evidence=(table,))
    status = Status.WARN if hit_norm else Status.PASS
    return CheckResult(status, s_norm, threshold,
                       f"{len(hit_exact)} exact and {len(hit_norm)} normalised duplicates among {n_eval} eval "
                       f"rows vs {n_train} training rows.", fix="De-duplicate the listed rows.",
                       metrics=metrics, evidence=(table,) if pairs else ())
