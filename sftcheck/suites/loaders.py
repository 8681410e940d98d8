"""The public file shapes a suite's rows come in, read into ``SuiteRow``.

================ =======================================================================
``qa``           ``{"id", "question", "answer"}`` (field names: the suite's ``question_field`` /
                 ``answer_field`` / ``id_field``); ``gold_pattern`` picks the answer out of it
``gsm8k``        GSM8K: ``{"question", "answer"}`` where the answer's reasoning ends with
                 ``#### <number>`` (the gold answer; ``gold_pattern`` overrides the rule)
``mmlu``         MMLU (``cais/mmlu`` rows): ``{"question", "subject", "choices": [..], "answer"}``
                 with the answer a 0-based index (``2``), a digit string or a letter (``"C"``)
``simple_safety`` SimpleSafetyTests: ``{"id", "harm_area", "category", "prompt"}`` (``question``
                 / ``instruction`` accepted for the prompt); ``"benign": true`` (or category
                 ``benign``) marks a prompt the model must answer (over-refusal)
``alpaca_eval``  AlpacaEval: ``{"instruction", "output", "generator"}``: ``output`` is the
                 reference answer (by ``generator``) the model's output is judged against
================ =======================================================================

``auto`` picks ``mmlu`` when the first row has ``choices``, ``alpaca_eval`` when it has
``instruction`` and ``output``, ``simple_safety`` when it has ``prompt`` and ``harm_area`` or
``category``, ``gsm8k`` when its answer holds ``####``, else ``qa``.  Every bad row becomes a ``RowProblem`` (row number, field, problem);
nothing is raised for a row.  Files are read by ``sftcheck.dataio.iter_raw`` (JSONL, JSON, parquet).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sftcheck.checks.support.suites import LETTERS, RowProblem
from sftcheck.suites.spec import SuiteSpec


@dataclass(frozen=True)
class SuiteRow:
    id: str
    question: str
    gold: str                         # the gold answer (multiple choice: its letter)
    choices: tuple[str, ...] = ()
    subject: str = ""                 # multiple choice: subject; refusal: category; winrate: dataset
    row: int = 0
    benign: bool = False              # refusal: a prompt the model must answer
    generator: str = ""               # winrate: who wrote the reference (``gold``)


@dataclass(frozen=True)
class SuiteData:
    shape: str
    rows: tuple[SuiteRow, ...]
    problems: tuple[RowProblem, ...]
    n_read: int


class SuiteFileError(ValueError):
    """The file itself cannot be read."""


def detect_shape(raw: dict, spec: SuiteSpec) -> str:
    if "choices" in raw:
        return "mmlu"
    if "instruction" in raw and "output" in raw:
        return "alpaca_eval"
    if "prompt" in raw and ("harm_area" in raw or "category" in raw):
        return "simple_safety"
    answer = raw.get(spec.answer_field)
    if isinstance(answer, str) and "####" in answer:
        return "gsm8k"
    return "qa"


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{key}|missing" if value is None else f"{key}|expected text, got {value!r}")
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key}|expected non-empty text, got {value!r}")
    return value


def _gold(text: str, pattern: str | None, key: str) -> str:
    if not pattern:
        return text.strip()
    m = re.search(pattern, text, flags=re.DOTALL | re.MULTILINE)
    if not m or not (m.group(1) or "").strip():
        raise ValueError(f"{key}|gold_pattern {pattern!r} does not match {text[-80:]!r}")
    return m.group(1).strip().replace(",", "") if "####" in pattern else m.group(1).strip()


def _mmlu(raw: dict, spec: SuiteSpec) -> tuple[str, str, tuple[str, ...], str]:
    question = _text(raw, "question")
    choices = raw.get("choices")
    if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS) or \
            not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in choices):
        raise ValueError(f"choices|expected a list of 2-26 texts, got {choices!r}")
    choices = tuple(str(c) for c in choices)
    answer = raw.get("answer")
    letters = LETTERS[:len(choices)]
    if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(choices):
        gold = letters[answer]
    elif isinstance(answer, str) and answer.strip().isdigit() and int(answer) < len(choices):
        gold = letters[int(answer)]
    elif isinstance(answer, str) and answer.strip().upper() in letters and len(answer.strip()) == 1:
        gold = answer.strip().upper()
    else:
        raise ValueError(f"answer|expected a 0-based index below {len(choices)} or a letter "
                         f"{letters[0]}-{letters[-1]}, got {answer!r}")
    subject = raw.get("subject")
    return question, gold, choices, subject if isinstance(subject, str) and subject else "all"


def _safety(raw: dict) -> tuple[str, str, bool]:
    """(prompt, category, benign) of a SimpleSafetyTests row (or a plain benign-prompt row)."""
    key = next((k for k in ("prompt", "question", "instruction") if k in raw), "prompt")
    prompt = _text(raw, key)
    category = next((raw[k] for k in ("category", "harm_area") if isinstance(raw.get(k), str) and raw[k]), "all")
    flag = raw.get("benign", False)
    if flag is not True and flag is not False:
        raise ValueError(f"benign|expected true or false, got {flag!r}")
    return prompt, category, flag or category.strip().lower() == "benign"


def _alpaca(raw: dict) -> tuple[str, str, str, str]:
    """(instruction, reference output, generator, dataset) of an AlpacaEval row."""
    instruction = _text(raw, "instruction")
    extra = raw.get("input")
    if isinstance(extra, str) and extra.strip():
        instruction = f"{instruction}\n\n{extra}"
    generator, dataset = raw.get("generator"), raw.get("dataset")
    return (instruction, _text(raw, "output"), generator if isinstance(generator, str) else "reference",
            dataset if isinstance(dataset, str) and dataset else "all")


def _parse_row(raw: dict, shape: str, spec: SuiteSpec, number: int) -> SuiteRow:
    """One row in ``shape``; ValueError("field|problem") for a bad one (id set by the caller)."""
    if shape == "mmlu":
        question, gold, choices, subject = _mmlu(raw, spec)
        return SuiteRow("", question, gold, choices, subject, number)
    if shape == "simple_safety":
        prompt, category, benign = _safety(raw)
        return SuiteRow("", prompt, "", (), category, number, benign=benign)
    if shape == "alpaca_eval":
        instruction, reference, generator, dataset = _alpaca(raw)
        return SuiteRow("", instruction, reference, (), dataset, number, generator=generator)
    question = _text(raw, spec.question_field if shape == "qa" else "question")
    key = spec.answer_field if shape == "qa" else "answer"
    return SuiteRow("", question, _gold(_text(raw, key), spec.gold_regex(shape), key), (), "", number)


def read_suite(spec: SuiteSpec, limit: int = 0, path: str | None = None, shape: str | None = None) -> SuiteData:
    """The rows of ``spec.data`` (or ``path``: a refusal suite's benign file) in ``spec.shape``
    (or ``shape``), at most ``limit`` usable rows (0 = all)."""
    from sftcheck.dataio import DataFileError, iter_raw

    rows: list[SuiteRow] = []
    problems: list[RowProblem] = []
    shape = shape or spec.shape
    n = 0
    seen: set[str] = set()
    try:
        for number, raw in iter_raw(path or spec.data):
            if limit and len(rows) >= limit:
                break
            n += 1
            if isinstance(raw, Exception):
                problems.append(RowProblem(number, "(row)", f"not valid JSON: {raw}"))
                continue
            if not isinstance(raw, dict):
                problems.append(RowProblem(number, "(row)", f"expected an object, got {type(raw).__name__}"))
                continue
            if shape == "auto":
                shape = detect_shape(raw, spec)
            try:
                row = _parse_row(raw, shape, spec, number)
            except ValueError as exc:
                field, _, problem = str(exc).partition("|")
                problems.append(RowProblem(number, field, problem))
                continue
            rid = raw.get(spec.id_field)
            rid = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) else f"{spec.name}-{number}"
            if rid in seen:
                problems.append(RowProblem(number, spec.id_field, f"duplicate id {rid!r}"))
                continue
            seen.add(rid)
            rows.append(replace(row, id=rid))
    except (DataFileError, OSError, UnicodeDecodeError) as exc:
        raise SuiteFileError(f"{path or spec.data}: {exc}") from exc
    return SuiteData(shape if shape != "auto" else "qa", tuple(rows), tuple(problems), n)


def label_records(path: str) -> Iterator[tuple[int, Any]]:
    """``(row, parsed JSON or the Exception it raised)`` of a small labels file (classifier
    labels, human judgements), read like every data file (``dataio.iter_raw``: regular files
    only, rows bounded by ``[limits] max_row_bytes``, UTF-8 checked); a file that cannot be
    read is a ``SuiteFileError`` naming it."""
    from sftcheck.dataio import DataFileError, iter_raw

    try:
        yield from iter_raw(path)
    except (DataFileError, OSError) as exc:
        raise SuiteFileError(f"{path}: cannot be read ({exc})") from exc
