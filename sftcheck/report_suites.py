"""The suites' summary ("what did fine-tuning change?") at the top of the report and in the JSON.

Read from the ``suite.summary`` check's result (``sftcheck.checks.suite``): its table and plot
are rendered right after the verdict banner (shared ``seen`` map, so the check's row links to
them instead of repeating them), and its rows become the JSON's top-level ``suites`` list
(one record per suite x metric).
"""
from __future__ import annotations

from collections.abc import Sequence

from sftcheck.checks.support.result import CheckResult
from sftcheck.report_render import esc, render_evidence
from sftcheck.report_rows import Row

SUMMARY_ID = "suite.summary"


def summary_result(rows: Sequence[Row]) -> tuple[Row, CheckResult] | None:
    for r in rows:
        if r.result is not None and r.result.id == SUMMARY_ID and r.result.metrics.get("rows"):
            return r, r.result
    return None


def json_rows(rows: Sequence[Row]) -> list[dict]:
    found = summary_result(rows)
    return list(found[1].metrics["rows"]) if found else []


def render_summary(rows: Sequence[Row], seen: dict[str, tuple[str, str]]) -> str:
    found = summary_result(rows)
    if not found:
        return ""
    row, result = found
    body = "".join(render_evidence(ev, seen, (row.anchor, result.id)) for ev in result.evidence)
    return (f'<section id="sft-suites"><h2>Suites: what fine-tuning changed</h2><p>{esc(result.explanation)} '
            f'Details: <a href="#{esc(row.anchor)}"><code>{esc(result.id)}</code></a>.</p>{body}</section>')
