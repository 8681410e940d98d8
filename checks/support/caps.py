"""Size caps for what a check result carries into the report and the JSON.

One 1 MB training row used to put a 250,000-token strip under five checks: a 187 MB HTML
report and an 81 MB JSON for one bad row.  Every result is capped when it is built
(``CheckResult.__post_init__``): long texts keep their head and tail around a
"… N more characters …" line, token strips their first and last tokens around a
"… N more tokens …" marker, tables their first rows plus a "… N more rows" row, and long
strings / lists inside metrics likewise.  The checks compute on the full data; only
what is shown is cut.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

MAX_TEXT_CHARS = 20_000        # Text bodies, each side of a SideBySide
MAX_MESSAGE_CHARS = 8_000      # explanation, fix
MAX_CELL_CHARS = 2_000         # a table cell, a string in metrics / value
MAX_TABLE_ROWS = 1_000       # the HTML shows 200 of them; the JSON all kept
MAX_TABLE_CHARS = 200_000      # all cells of one table together
MAX_STRIP_TOKENS = 512         # shown as the first 384 and the last 128
MAX_LIST_ITEMS = 5_000         # a list in metrics / value


def text(s: str, limit: int = MAX_TEXT_CHARS) -> str:
    """``s`` if short, else its head and tail around a line saying how much was cut."""
    if not isinstance(s, str) or len(s) <= limit:
        return s
    head, tail = limit * 3 // 4, limit // 4
    return f"{s[:head]}\n… {len(s) - head - tail:,} more characters …\n{s[len(s) - tail:]}"


def value(v: Any, depth: int = 0) -> Any:
    """A metric / measured value with long strings and lists cut (nesting kept to 20 levels)."""
    if isinstance(v, str):
        return text(v, MAX_CELL_CHARS)
    if depth > 20:
        return "… nested too deeply …"
    if isinstance(v, Mapping):
        items = list(v.items())
        out = {k: value(x, depth + 1) for k, x in items[:MAX_LIST_ITEMS]}
        if len(items) > MAX_LIST_ITEMS:
            out["…"] = f"{len(items) - MAX_LIST_ITEMS:,} more entries"
        return out
    if isinstance(v, (list, tuple)):
        out_list = [value(x, depth + 1) for x in v[:MAX_LIST_ITEMS]]
        if len(v) > MAX_LIST_ITEMS:
            out_list.append(f"… {len(v) - MAX_LIST_ITEMS:,} more items")
        return type(v)(out_list) if isinstance(v, tuple) else out_list
    return v


def _strip(e):
    n = len(e.tokens)
    if n <= MAX_STRIP_TOKENS:
        return replace(e, tokens=tuple(text(t, MAX_CELL_CHARS) for t in e.tokens)) \
            if any(len(t) > MAX_CELL_CHARS for t in e.tokens) else e
    head, tail = MAX_STRIP_TOKENS * 3 // 4, MAX_STRIP_TOKENS // 4
    cut = n - head - tail

    def keep(seq, marker):
        return tuple(seq[:head]) + (marker,) + tuple(seq[n - tail:])

    return replace(e, title=f"{e.title} ({n:,} tokens; {cut:,} in the middle not shown)",
                   tokens=keep([text(t, MAX_CELL_CHARS) for t in e.tokens], f" … {cut:,} more tokens … "),
                   token_ids=keep(e.token_ids, -1), trained=keep(e.trained, False),
                   special=keep(e.special, False))


def _table(e):
    rows, budget = [], MAX_TABLE_CHARS
    for r in e.rows[:MAX_TABLE_ROWS]:
        row = tuple(text(c, MAX_CELL_CHARS) if isinstance(c, str) else c for c in r)
        budget -= sum(len(c) if isinstance(c, str) else 8 for c in row)
        if budget < 0 and rows:
            break
        rows.append(row)
    tags = list(e.row_tags[:len(rows)]) if e.row_tags else []
    if len(e.rows) > len(rows):
        more = len(e.rows) - len(rows)
        rows.append((f"… {more:,} more rows",) + ("",) * (len(e.columns) - 1))
        if tags:
            tags.append(())
    if rows == list(e.rows):
        return e
    return replace(e, rows=tuple(rows), row_tags=tuple(tags))


def evidence(e):
    """One evidence item with the caps applied (the same object when nothing is cut)."""
    kind = getattr(e, "kind", "")
    if kind == "tokens":
        return _strip(e)
    if kind == "table":
        return _table(e)
    if kind == "text":
        body = text(e.body)
        return e if body is e.body else replace(e, body=body)
    if kind == "side_by_side":
        left, right = text(e.left), text(e.right)
        return e if (left is e.left and right is e.right) else replace(e, left=left, right=right)
    return e
