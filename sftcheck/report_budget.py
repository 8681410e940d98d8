"""A total size budget for the HTML and JSON verdicts (``[limits] report_html_bytes`` /
``report_json_bytes``).

Each check's evidence is capped when its result is built (``checks.support.caps``), but a
run with thousands of checks or huge outputs can still add up to a report no browser opens.
Past the budget, evidence blocks are left out — FAIL / ERROR / WARN checks' evidence gets
room first, then the rest in report order — and each one left out is replaced by a line
saying what it was, how big, and where the full data is; the page's banner and the JSON's
``truncated`` record count them.  The verdict, and every check's status, measured value,
threshold, explanation and fix, are never cut: only evidence (and, in the JSON, large
metrics) is.
"""
from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

BAD = ("fail", "error", "warn")
JSON_RESERVE = 4096        # the "truncated" record and rounding
HTML_RESERVE = 8192        # the banner notice and the elided-block lines' slack
MIN_METRICS_BYTES = 4096   # JSON metrics smaller than this are never elided
# pytest-html's page around sftcheck's part (its CSS, script, templates, Environment table):
# about 40 KB measured with pytest-html 4.2; the rest of the room is for the verdict page.
PAGE_WRAPPER_BYTES = 200_000


@dataclass
class Budget:
    """Bytes of evidence a report may still carry (``limit`` None: unlimited, sizes recorded)."""
    limit: int | None
    where: str = ""        # where the left-out data is (shown in each notice)
    used: int = 0
    elided: int = 0
    elided_bytes: int = 0
    checks: dict[str, int] = field(default_factory=dict)   # row (anchor / nodeid) -> blocks left out

    def take(self, size: int, check_id: str) -> bool:
        if self.limit is not None and self.used + size > self.limit:
            self.elided += 1
            self.elided_bytes += size
            self.checks[check_id] = self.checks.get(check_id, 0) + 1
            return False
        self.used += size
        return True


# The budget the HTML renderers consult while a page is rendered (None: no budget).
HTML_BUDGET: ContextVar[Budget | None] = ContextVar("sftcheck_html_budget", default=None)


def nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_html(render: Callable[[Budget], str], max_bytes: int | None, where: str) -> tuple[str, Budget]:
    """``render(budget)`` (it sets ``HTML_BUDGET``) under ``max_bytes``: rendered once in full;
    when that is too big, again with the evidence allowance the first pass measured,
    shrinking it while the page is still over (notices take room too)."""
    full = Budget(None)
    page = render(full)
    size = nbytes(page)
    if not max_bytes or size <= max_bytes:
        return page, full
    allowance = max_bytes - (size - full.used) - HTML_RESERVE
    for _ in range(6):
        budget = Budget(max(0, allowance), where)
        page = render(budget)
        over = nbytes(page) - max_bytes
        if over <= 0 or allowance <= 0:
            break
        allowance -= over + HTML_RESERVE
    return page, budget


def html_notice(budget: Budget, limit: int, where: str) -> str:
    """The banner's plain-text line for a page that left evidence out ('' when none was)."""
    if not budget.elided:
        return ""
    return (f"Report size limit: {budget.elided:,} evidence blocks under {len(budget.checks):,} checks "
            f"({budget.elided_bytes / 1e6:,.1f} MB) are not shown, to keep this page under [limits] "
            f"report_html_bytes = {limit:,} bytes (FAIL / ERROR / WARN checks got room first). {where} "
            "The verdict and every check's status, value, threshold, explanation and fix are complete.")


def elided_block(title: str, size: int, where: str) -> str:
    def esc(value: str) -> str:  # report_render.esc (which imports this module)
        return html.escape(value, quote=True)

    return (f'<div class="sft-evidence sft-elided"><h4>{esc(title)}</h4><p class="sft-ref">Not shown: '
            f"this block ({size:,} bytes) is over the report's size limit ([limits] report_html_bytes). "
            f"{esc(where)}</p></div>")


# ---------------------------------------------------------------- JSON

def _dumped(value: Any, depth: int) -> int:
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False)
    return nbytes(text) + text.count("\n") * 2 * depth + 2 * depth + 2


def fit_json(doc: dict[str, Any], max_bytes: int | None, where: str) -> dict[str, Any]:
    """``doc`` (the verdict document) under ``max_bytes`` when written with ``indent=2``:
    evidence items (then metrics over 4 KB) of passing / skipped checks are elided first,
    then the others', last record first; each becomes ``{"kind": "elided", ...}`` and
    ``doc["truncated"]`` says how many, how big, and which checks."""
    def size() -> int:
        return nbytes(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False))

    doc["truncated"] = None
    total = size() if max_bytes else 0
    if not max_bytes or total <= max_bytes:
        return doc
    records = doc.get("checks", [])
    order = sorted(range(len(records)), key=lambda i: (records[i].get("status") in BAD, -i))
    units: list[tuple[int, str, int]] = []   # (record, "metrics" | evidence index, bytes)
    for kind in ("evidence", "metrics"):
        for i in order:
            rec = records[i]
            if kind == "evidence":
                units += [(i, str(j), _dumped(ev, 4)) for j, ev in enumerate(rec.get("evidence") or [])
                          if not (isinstance(ev, Mapping) and ev.get("kind") == "elided")]
            elif isinstance(rec.get("metrics"), Mapping):
                n = _dumped(rec["metrics"], 3)
                if n > MIN_METRICS_BYTES:
                    units.append((i, "metrics", n))
    over = total - max_bytes + JSON_RESERVE
    elided, elided_bytes, checks = 0, 0, {}
    for i, what, n in units:
        if over <= 0:  # the estimate says it fits: measure (indentation makes estimates approximate)
            over = size() - max_bytes + JSON_RESERVE
            if over <= 0:
                break
        rec = records[i]
        note = {"kind": "elided", "bytes": n, "reason": f"over [limits] report_json_bytes = {max_bytes:,}"}
        if what == "metrics":
            rec["metrics"] = {"elided": note}
        else:
            j = int(what)
            ev = rec["evidence"][j]
            rec["evidence"][j] = {**note, "title": ev.get("title", "") if isinstance(ev, Mapping) else ""}
        over -= n
        elided += 1
        elided_bytes += n
        where_cut = rec.get("nodeid") or rec.get("id", "?")
        checks[where_cut] = checks.get(where_cut, 0) + 1
    doc["truncated"] = {"limit_bytes": max_bytes, "elided": elided, "elided_bytes": elided_bytes,
                        "checks": checks, "full_data": where,
                        "complete": ["verdict", "status", "value", "threshold", "explanation", "fix"]}
    return doc
