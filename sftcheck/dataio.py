"""Reading training / eval data: JSONL, JSON and parquet, streamed, in the shapes people use.

Schemas (``[data] schema``, or ``auto`` = detected from the first row that fits one):

============== ==================================================================
``qa``           ``{"question": ..., "answer": ...}`` (field names: ``[data] question_field``,
                 ``answer_field``)
``prompt_completion``  TRL: ``{"prompt": str | messages, "completion": str | messages}``
``messages``     TRL chat: ``{"messages": [{"role", "content"}, ...]}``, last turn = assistant
``sharegpt``     ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}``
``alpaca``       ``{"instruction", "input" (optional), "output"}``
============== ==================================================================

Every row becomes either an ``Example`` or a ``RowProblem`` (file, 1-based row number,
field, problem) — a bad row is recorded, never raised.  JSONL and parquet are streamed
(constant memory whatever the file size); a ``.json`` file holding one array is parsed
whole (convert big files to JSONL).
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftcheck.checks.support.rows import DataAudit, Example, RowProblem

SCHEMAS = ("qa", "prompt_completion", "messages", "sharegpt", "alpaca")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}


@dataclass(frozen=True)
class Fields:
    question: str = "question"
    answer: str = "answer"
    id: str = "id"
    gold: str | None = None          # [data] gold_field (None: the training target)
    gold_pattern: str | None = None  # [data] gold_pattern: group 1 of it in the gold text


class DataFileError(ValueError):
    """The file itself cannot be read (missing, unknown extension, not a JSON array)."""


# ---------------------------------------------------------------- raw rows

class RowError(ValueError):
    """One row could not be read (too large, nested too deeply, not UTF-8, not JSON): the
    message is the problem, recorded against the row; reading goes on with the next row."""


def iter_raw(path: str | Path, *, max_row_bytes: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(row_number, parsed_row)``; a row that cannot be read yields a ``RowError``
    (or another ``Exception``) instance as its value (the caller records it).  Only regular
    files are read, and no row longer than ``max_row_bytes`` (default ``[limits]
    max_row_bytes``) is ever held whole in memory."""
    from sftcheck.checks.support import bounded

    p = Path(path)
    limit = max_row_bytes or bounded.LIMITS.max_row_bytes
    suffix = p.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".json", ".parquet", ".pq"):
        raise DataFileError(f"{p}: unknown data file type {suffix!r}. "
                            "Fix: use .jsonl, .json (one array of objects) or .parquet.")
    _regular_file(p)
    if suffix in (".jsonl", ".ndjson"):
        yield from _iter_jsonl(p, limit)
    elif suffix == ".json":
        yield from _iter_json(p, limit, bounded.LIMITS.max_json_bytes)
    else:
        yield from _iter_parquet(p, limit)


def _regular_file(p: Path) -> None:
    """Refuse a FIFO, a device (``/dev/zero``), a socket or a folder before opening it."""
    import stat

    st = p.stat()  # follows symlinks; FileNotFoundError is the caller's "cannot be read"
    if stat.S_ISREG(st.st_mode):
        return
    kind = ("a folder" if stat.S_ISDIR(st.st_mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(st.st_mode)
            else "a character device" if stat.S_ISCHR(st.st_mode) else "a block device"
            if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file")
    via = f" (a symlink to {os.path.realpath(p)})" if p.is_symlink() else ""
    raise DataFileError(f"{p}{via} is not a regular file but {kind}: sftcheck reads data files only "
                        "(a device or pipe can be endless). Fix: point [data] train / eval at a "
                        ".jsonl, .json or .parquet file.")


_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32 (little-endian byte-order mark)"),
         (b"\x00\x00\xfe\xff", "UTF-32 (big-endian byte-order mark)"),
         (b"\xff\xfe", "UTF-16 (little-endian byte-order mark)"),
         (b"\xfe\xff", "UTF-16 (big-endian byte-order mark)"))


def sniff_encoding(head: bytes) -> str | None:
    """``None`` for UTF-8 (with or without BOM) / ASCII; else the name of the encoding the
    first bytes show (a UTF-16/32 byte-order mark, or NUL bytes between ASCII letters)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    if b"\x00" in head[:4096]:
        sample = head[:4096]
        if sample[1::2].count(0) > len(sample) // 4:
            return "UTF-16LE (no byte-order mark)"
        if sample[0::2].count(0) > len(sample) // 4:
            return "UTF-16BE (no byte-order mark)"
        return "binary (NUL bytes)"
    return None


def _not_utf8(p: Path, encoding: str) -> DataFileError:
    enc = encoding.split(" ")[0]
    fix = (f"re-save it as UTF-8, e.g. iconv -f {enc} -t UTF-8 {p.name} > {p.stem}.utf8{p.suffix}"
           if enc.startswith("UTF") else "point [data] at a text data file")
    return DataFileError(f"{p}: the file is {encoding}, not UTF-8: JSON data files must be UTF-8. Fix: {fix}.")


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = line[exc.start:exc.start + 1]
        guess = ""
        try:
            line.decode("cp1252")
            guess = " The bytes read as Windows-1252 / Latin-1: the row was probably written in that encoding."
        except UnicodeDecodeError:
            pass
        raise RowError(f"not valid UTF-8 (byte 0x{bad.hex()} at byte {exc.start} of the row).{guess} "
                       "Fix: re-encode the file as UTF-8 (iconv -f cp1252 -t UTF-8)") from None


def _parse(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise RowError("nested too deeply to parse (JSON arrays / objects nested past Python's "
                       "recursion limit): not a training row. Fix: remove the row or flatten it") from None


def _too_large(size: int, limit: int, exact: bool = True) -> RowError:
    what = f"{size:,} bytes" if exact else f"over {size:,} bytes"
    return RowError(f"the row is {what}, over [limits] max_row_bytes = {limit:,}: not parsed (far past any "
                    "max_length; usually a concatenation or scraping bug). Fix: drop or split the row, "
                    "or raise [limits] max_row_bytes")


def _iter_jsonl(p: Path, limit: int) -> Iterator[tuple[int, Any]]:
    with p.open("rb") as f:
        head = f.read(4096)
        encoding = sniff_encoding(head)
        if encoding:
            raise _not_utf8(p, encoding)
        f.seek(3 if head.startswith(b"\xef\xbb\xbf") else 0)
        n = 0
        while True:
            line = f.readline(limit + 1)
            if not line:
                break
            if len(line) > limit and not line.endswith(b"\n"):
                size = len(line)
                while line and not line.endswith(b"\n"):  # skip the rest, one bounded chunk at a time
                    line = f.readline(1 << 20)
                    size += len(line)
                n += 1
                yield n, _too_large(size, limit)
                continue
            if not line.strip():
                continue
            n += 1
            try:
                yield n, _parse(_decode(line))
            except ValueError as exc:
                yield n, exc


def _iter_json(p: Path, limit: int, max_file: int) -> Iterator[tuple[int, Any]]:
    size = p.stat().st_size
    if size > max_file:
        raise DataFileError(f"{p}: a .json file is parsed whole and this one is {size:,} bytes (over "
                            f"[limits] max_json_bytes = {max_file:,}). Fix: convert it to JSONL (one "
                            "object per line, streamed), or raise [limits] max_json_bytes.")
    raw = p.read_bytes()
    encoding = sniff_encoding(raw[:4096])
    if encoding:
        raise _not_utf8(p, encoding)
    try:
        data = _parse(raw.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{p}: not valid JSON ({exc}). Fix: correct the file, or write one "
                            "object per line as .jsonl.") from exc
    del raw
    if isinstance(data, dict):  # {"data": [...]} / {"train": [...]} wrappers
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    if not isinstance(data, list):
        raise DataFileError(f"{p}: a .json data file must hold one array of row objects, got "
                            f"{type(data).__name__}. Fix: write [{{...}}, ...] or use .jsonl.")
    for n, row in enumerate(data, start=1):
        size = _size(row, limit)
        yield n, (_too_large(size, limit, exact=False) if size > limit else row)


def _size(value: Any, limit: int) -> int:
    """Rough byte size of a parsed row (string lengths), stopping once past ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            total += len(v)
        elif isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        else:
            total += 8
    return total


def _iter_parquet(p: Path, limit: int, batch_size: int = 4096) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
    except Exception as exc:
        raise DataFileError(f"{p}: not a readable parquet file ({exc}).") from exc
    n = 0
    for batch in pf.iter_batches(batch_size=batch_size):
        big = batch.nbytes > limit  # measure rows one by one only in a batch that could hold a huge one
        for row in batch.to_pylist():
            n += 1
            size = _size(row, limit) if big else 0
            yield n, (_too_large(size, limit, exact=False) if size > limit else row)


# ---------------------------------------------------------------- schemas

def detect_schema(row: Any, fields: Fields = Fields()) -> str | None:
    """The schema a row fits by its keys, or None."""
    if not isinstance(row, dict):
        return None
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if fields.question in row and fields.answer in row:
        return "qa"
    return None


class _Bad(Exception):
    def __init__(self, field: str, problem: str):
        super().__init__(problem)
        self.field, self.problem = field, problem


def _text(row: dict, key: str, *, optional: bool = False) -> str:
    if key not in row or row[key] is None:
        if optional:
            return ""
        raise _Bad(key, "missing field")
    value = row[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise _Bad(key, f"expected a string, got {type(value).__name__}")
    return value


def _turns(value: Any, key: str, role_key: str, content_key: str,
           roles: dict[str, str] | None = None) -> list[tuple[str, str]]:
    if not isinstance(value, list) or not value:
        raise _Bad(key, "expected a non-empty list of turns")
    out = []
    for i, turn in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(turn, dict):
            raise _Bad(where, f"expected an object, got {type(turn).__name__}")
        if role_key not in turn:
            raise _Bad(f"{where}.{role_key}", "missing field")
        if content_key not in turn or not isinstance(turn[content_key], str):
            raise _Bad(f"{where}.{content_key}", "missing field" if content_key not in turn
                       else f"expected a string, got {type(turn[content_key]).__name__}")
        role = str(turn[role_key])
        if roles is not None:
            if role not in roles:
                raise _Bad(f"{where}.{role_key}", f"unknown role {role!r} (known: {', '.join(roles)})")
            role = roles[role]
        out.append((role, turn[content_key]))
    return out


def _from_turns(turns: list[tuple[str, str]], key: str) -> tuple[str, str, str | None, tuple]:
    if turns[-1][0] != "assistant":
        raise _Bad(key, f"the last turn must be the assistant's answer, got role {turns[-1][0]!r}")
    before = turns[:-1]
    users = [c for r, c in before if r == "user"]
    if not users:
        raise _Bad(key, "no user turn before the assistant's answer")
    system = next((c for r, c in before if r == "system"), None)
    return users[-1], turns[-1][1], system, tuple(before)


def to_example(raw: Any, schema: str, file: str, row: int, fields: Fields = Fields()) -> Example | RowProblem:
    """Normalise one parsed row; a row that does not fit becomes a ``RowProblem``."""
    if isinstance(raw, Exception):
        return _unreadable_row(raw, file, row)
    if not isinstance(raw, dict):
        return RowProblem(file, row, "<row>", f"expected an object, got {type(raw).__name__}")
    try:
        rid = str(raw.get(fields.id, raw.get("id", f"row-{row}")))
        if schema == "qa":
            q, a, system, before = _text(raw, fields.question), _text(raw, fields.answer), None, ()
        else:
            q, a, system, before = _fields(raw, schema)
        return Example(file, row, rid, q, a, system, before, _gold(raw, a, fields), raw)
    except _Bad as bad:
        return RowProblem(file, row, bad.field, bad.problem)


def _gold(raw: dict, target: str, fields: Fields) -> str | None:
    """The gold answer of a row: ``[data] gold_field`` (else the training target), through
    ``gold_pattern`` when set; None = the training target itself."""
    if fields.gold is None and fields.gold_pattern is None:
        return None
    text = _text(raw, fields.gold) if fields.gold is not None else target
    if fields.gold_pattern is None:
        return text
    m = re.search(fields.gold_pattern, text, flags=re.DOTALL)
    if m is None or not (m.group(1) or "").strip():
        shown = text if len(text) <= 80 else "…" + text[-77:]
        raise _Bad(fields.gold or fields.answer,
                   f"[data] gold_pattern {fields.gold_pattern!r} does not match the gold text {shown!r} "
                   "(this row cannot be scored)")
    return m.group(1).strip()


def _fields(raw: dict, schema: str) -> tuple[str, str, str | None, tuple]:
    """(question, training target, system, turns before the answer) of a row in ``schema``."""
    if schema == "alpaca":
        q, extra, a = _text(raw, "instruction"), _text(raw, "input", optional=True), _text(raw, "output")
        return q + ("\n\n" + extra if extra else ""), a, None, ()
    if schema == "prompt_completion":
        p, c = raw.get("prompt"), raw.get("completion")
        if isinstance(p, list) or isinstance(c, list):
            prompt = _turns(p, "prompt", "role", "content")
            completion = _turns(c, "completion", "role", "content")
            return _from_turns(prompt + completion[:1], "completion")
        return _text(raw, "prompt"), _text(raw, "completion"), None, ()
    if schema == "messages":
        return _from_turns(_turns(raw.get("messages"), "messages", "role", "content"), "messages")
    if schema == "sharegpt":
        return _from_turns(_turns(raw.get("conversations"), "conversations", "from", "value", SHAREGPT_ROLES),
                           "conversations")
    raise ValueError(f"unknown schema {schema!r} (known: {', '.join(SCHEMAS)})")


# ---------------------------------------------------------------- audit

def audit(path: str | Path, schema: str = "auto", *, fields: Fields = Fields(), keep: int = 0,
          max_rows: int = 0, problems_kept: int = 50,
          max_row_bytes: int | None = None) -> tuple[DataAudit, list[Example]]:
    """Stream ``path`` once: count rows, record problems, keep the first ``keep`` examples
    (0 = none kept).  Memory is bounded by ``keep`` + ``problems_kept``, not the file size.
    """
    file = str(path)
    problems: list[RowProblem] = []
    kept: list[Example] = []
    rows = valid = problem_count = 0
    try:
        for n, raw in iter_raw(path, max_row_bytes=max_row_bytes):
            if max_rows and n > max_rows:
                break
            rows += 1
            if schema == "auto":
                found = detect_schema(raw, fields)
                if found is not None:
                    schema = found
            if schema == "auto":
                item: Example | RowProblem = _undetected(raw, file, n, fields)
            else:
                item = to_example(raw, schema, file, n, fields)
            if isinstance(item, RowProblem):
                problem_count += 1
                if len(problems) < problems_kept:
                    problems.append(item)
                continue
            valid += 1
            if len(kept) < keep:
                kept.append(item)
    except (DataFileError, OSError) as exc:
        return DataAudit(file, schema, rows, valid, tuple(problems), problem_count, error=str(exc)), kept
    return DataAudit(file, schema, rows, valid, tuple(problems), problem_count), kept


def _unreadable_row(raw: Exception, file: str, row: int) -> RowProblem:
    return RowProblem(file, row, "<row>", str(raw) if isinstance(raw, RowError) else f"not valid JSON: {raw}")


def _undetected(raw: Any, file: str, row: int, fields: Fields) -> RowProblem:
    if isinstance(raw, Exception):
        return _unreadable_row(raw, file, row)
    keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
    return RowProblem(file, row, f"{fields.question}/{fields.answer}",
                      f"fits no known schema (keys: {keys}); expected one of {', '.join(SCHEMAS)}")


def iter_examples(path: str | Path, schema: str = "auto", *, fields: Fields = Fields(),
                  max_rows: int = 0) -> Iterator[Example]:
    """Stream the valid examples of a file (problems, and a file that cannot be read, are
    skipped: ``audit`` reports them)."""
    try:
        yield from _examples(path, schema, fields, max_rows)
    except (DataFileError, OSError):
        return


def _examples(path: str | Path, schema: str, fields: Fields, max_rows: int) -> Iterator[Example]:
    for n, raw in iter_raw(path):
        if max_rows and n > max_rows:
            return
        if schema == "auto":
            schema = detect_schema(raw, fields) or "auto"
            if schema == "auto":
                continue
        item = to_example(raw, schema, str(path), n, fields)
        if isinstance(item, Example):
            yield item
