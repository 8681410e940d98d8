"""The public file shapes a suite's rows come in, read into ``SuiteRow``.

================ =======================================================================
``qa``           ``{"id", "question", "answer"}`` (field names: the suite's ``question_field`` /
                 ``answer_field`` / ``id_field``); ``gold_pattern`` picks the answer out of it
``gsm8k``        GSM8K: ``{"question", "answer"}`` where the answer's reasoning ends with
                 ``#### <number>`` (the gold answer; ``gold_pattern`` overrides the rule)
``mmlu``         MMLU (``cais/mmlu`` rows): ``{"question", "subject", "choices": [..], "answer"}``
                 with the answer a 0-based index (``2``), a digit string or a letter (``"C"``)
================ =======================================================================

``auto`` picks ``mmlu`` when the first row has ``choices``, ``gsm8k`` when its answer holds
``####``, else ``qa``.  Every bad row becomes a ``RowProblem`` (row number, field, problem);
nothing is raised for a row.  Files are read by ``sftcheck.dataio.iter_raw`` (JSONL, JSON, parquet).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sftcheck.checks.support.suites import LETTERS, RowProblem
from sftcheck.suites.spec import SuiteSpec


@dataclass(frozen=True)
class SuiteRow:
    id: str
    question: str
    gold: str                         # the gold answer (multiple choice: its letter)
    choices: tuple[str, ...] = ()
    subject: str = ""
    row: int = 0


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


def read_suite(spec: SuiteSpec, limit: int = 0) -> SuiteData:
    """The rows of ``spec.data`` (at most ``limit`` usable rows; 0 = all)."""
    from sftcheck.dataio import DataFileError, iter_raw

    rows: list[SuiteRow] = []
    problems: list[RowProblem] = []
    shape = spec.shape
    n = 0
    seen: set[str] = set()
    try:
        for number, raw in iter_raw(spec.data):
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
                if shape == "mmlu":
                    question, gold, choices, subject = _mmlu(raw, spec)
                else:
                    question = _text(raw, spec.question_field if shape == "qa" else "question")
                    key = spec.answer_field if shape == "qa" else "answer"
                    gold, choices, subject = _gold(_text(raw, key), spec.gold_regex(shape), key), (), ""
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
            rows.append(SuiteRow(rid, question, gold, choices, subject, number))
    except (DataFileError, OSError, UnicodeDecodeError) as exc:
        raise SuiteFileError(f"{spec.data}: {exc}") from exc
    return SuiteData(shape if shape != "auto" else "qa", tuple(rows), tuple(problems), n)
