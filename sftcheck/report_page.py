"""The verdict page, rendered once on the server side into pytest-html's summary block.

First screen: the verdict banner naming every non-passing check (status, id, one-line cause,
link to its row); then one row per check in the report's order (non-passing first, each
group in pipeline order) with a Stage column and sftcheck's own status, which the filters
and the sort understand; FAIL / ERROR / WARN rows open; evidence shown once (repeats link to
the first); provenance after the results.

pytest-html's template inserts the summary blocks as markup, so everything interpolated here
goes through ``esc``; rows are ``<details>`` elements, so opening a row and following a
link to it work without the script too.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sftcheck import report_budget
from sftcheck.report_assets import CSS, JS
from sftcheck.report_render import esc, fmt_value, render_mapping, render_result, status_badge
from sftcheck.report_rows import BAD, STATUSES, VERDICT_WORDS, Row, counts_by_stage, sort_key, stage_index

_STATUS_WORDS = {"fail": "failed", "error": "errored", "warn": "warned", "pass": "passed", "skip": "skipped"}


def _counts_line(rows: Sequence[Row]) -> str:
    n = {s: sum(1 for r in rows if r.status == s) for s in STATUSES}
    parts = [f"{n[s]} {_STATUS_WORDS[s]}" for s in STATUSES if n[s]]
    return f"{len(rows)} checks: " + ", ".join(parts) if rows else "no check ran"


def render_banner(rows: Sequence[Row], verdict: str, *, not_run: int = 0, collected: int = 0,
                  config_source: str | None = None, problem: str | None = None,
                  exit_status: int | None = None, notice: str = "") -> str:
    word = VERDICT_WORDS.get(verdict, verdict.upper())
    out = [f'<div class="sft-banner sft-verdict-{esc(verdict)}" id="sft-verdict" role="status">',
           f"<h2>sftcheck verdict: {esc(word)}</h2>",
           f"<p>{esc(_counts_line(rows))}"
           + (f" · run config <code>{esc(config_source)}</code>" if config_source else "") + "</p>"]
    if problem:
        out.append(f"<p><b>No run config:</b> {esc(problem)}</p>")
    if verdict == "error":
        out.append(f"<p><b>The run did not start or crashed</b> (pytest exit status {esc(exit_status)}): "
                   "this report is not a verdict on your run.</p>")
    if not_run:
        out.append(f"<p><b>Incomplete:</b> {not_run} of {collected} collected checks did not run "
                   "(interrupted, stopped early or crashed): nothing here vouches for them.</p>")
    if notice:
        out.append(f'<p class="sft-size-notice"><b>Shortened:</b> {esc(notice)}</p>')
    bad = sorted((r for r in rows if r.status in BAD), key=sort_key)
    if bad:
        items = "".join(
            f'<li>{status_badge(r.status)} <a href="#{esc(r.anchor)}"><code>{esc(r.check_id)}</code></a>'
            f" — {esc(r.cause)}</li>" for r in bad)
        out.append(f'<ul class="sft-bad">{items}</ul>')
    elif rows and verdict == "pass":
        out.append("<p>Every check that ran passed.</p>")
    out.append(_render_counts(counts_by_stage(rows)))
    out.append("</div>")
    return "".join(out)


def _render_counts(counts: Mapping[str, Mapping[str, int]]) -> str:
    if not counts:
        return ""
    head = "".join(f"<th>{status_badge(s)}</th>" for s in STATUSES)
    body = "".join(f"<tr><td>{esc(stage)}</td>" + "".join(
        f"<td>{int(per.get(s, 0)) or ''}</td>" for s in STATUSES) + "</tr>" for stage, per in counts.items())
    return f'<table class="sft-counts"><thead><tr><th>stage</th>{head}</tr></thead><tbody>{body}</tbody></table>'


def _controls(rows: Sequence[Row]) -> str:
    present = {r.status for r in rows}
    boxes = "".join(
        f'<label><input type="checkbox" class="sft-status-filter" value="{s}" checked'
        f'{"" if s in present else " disabled"}/> {status_badge(s)} '
        f"{sum(1 for r in rows if r.status == s)}</label>" for s in STATUSES)
    stages = sorted({r.stage for r in rows}, key=lambda s: (stage_index(s), s))
    options = '<option value="">all stages</option>' + "".join(
        f'<option value="{esc(s)}">{esc(s)}</option>' for s in stages)
    return (f'<div class="sft-controls"><span>Show:</span>{boxes}'
            f'<label>stage <select id="sft-stage-filter">{options}</select></label>'
            '<label>search <input type="search" id="sft-search" placeholder="id, cause, evidence"/></label>'
            f'<span id="sft-shown">{len(rows)} checks shown</span></div>')


def _row(row: Row, order: int, seen: dict[str, tuple[str, str]]) -> str:
    is_open = " open" if row.status in BAD else ""
    text = row.cause if row.status in BAD or not row.title else row.title
    keys = (f'data-order="{order:04d}" data-status="{esc(row.status)}" data-stage="{esc(row.stage)}" '
            f'data-kstatus="{STATUSES.index(row.status)}-{stage_index(row.stage)}-{esc(row.check_id)}" '
            f'data-kstage="{stage_index(row.stage)}-{esc(row.check_id)}" data-kid="{esc(row.check_id)}"')
    summary = (f'<summary class="sft-grid"><span>{status_badge(row.status)}</span>'
               f"<span>{esc(row.stage)}</span>"
               f'<span class="sft-cell-id"><code>{esc(row.check_id)}</code></span>'
               f"<span>{esc(text)}</span>"
               f'<span class="sft-cell-value">{esc(fmt_value(row.value)) if row.result else ""}</span>'
               f'<span class="sft-cell-thr">{esc(row.threshold or "")}</span></summary>')
    if row.result is not None:
        body = render_result(row.result, seen=seen, anchor=row.anchor, heading=False)
        if row.title:
            body = f"<p><b>{esc(row.title)}</b></p>" + body
    else:
        body = f"<p>{esc(row.cause)}</p>" + (_message(row) if row.message else "")
    body += f'<p class="sft-ref">pytest test <code>{esc(row.nodeid)}</code>, {row.duration:.2f} s</p>'
    return (f'<details class="sft-check sft-s-{esc(row.status)}" id="{esc(row.anchor)}" {keys}{is_open}>'
            f'{summary}<div class="sft-body">{body}</div></details>')


def _message(row: Row) -> str:
    """pytest's text for a test without a check result (head and tail past 20,000 characters,
    as evidence texts are), within the page's size budget."""
    from sftcheck.checks.support import caps

    text = f"<pre>{esc(caps.text(row.message))}</pre>"
    budget = report_budget.HTML_BUDGET.get()
    size = report_budget.nbytes(text)
    if budget is None or size <= 4096 or budget.take(size, row.anchor):
        return text
    return f"<pre>{esc(row.message[:2000])}</pre>" + report_budget.elided_block("the rest of this message", size,
                                                                                 budget.where)


def render_checks(rows: Sequence[Row], seen: dict[str, tuple[str, str]] | None = None) -> str:
    ordered = sorted(rows, key=sort_key)
    seen = {} if seen is None else seen
    head = ('<div class="sft-grid sft-head" id="sft-checks-head"><span data-sort="kstatus">Status</span>'
            '<span data-sort="kstage">Stage</span><span data-sort="kid">Check</span>'
            '<span data-sort="order">Cause / title</span><span>Measured</span><span>Threshold</span></div>')
    body = "".join(_row(r, i, seen) for i, r in enumerate(ordered))
    return f'<h2>Checks</h2>{_controls(rows)}{head}<div id="sft-checks">{body}</div>'


def render_page(rows: Sequence[Row], verdict: str, *, provenance: Mapping[str, Any],
                not_run: int = 0, collected: int = 0, config_source: str | None = None,
                problem: str | None = None, exit_status: int | None = None,
                size_limit: int | None = None, full_data: str = "") -> str:
    """The whole sftcheck part of the page: style, banner, suites summary, checks, provenance,
    script; with ``size_limit`` (``[limits] report_html_bytes``) evidence is left out past it
    (``report_budget``), the banner saying how much and ``full_data`` where it is."""
    from sftcheck.report_suites import render_summary

    def page(budget: report_budget.Budget) -> str:
        token = report_budget.HTML_BUDGET.set(budget)
        try:
            seen: dict[str, tuple[str, str]] = {}
            middle = render_summary(rows, seen) + render_checks(rows, seen)
        finally:
            report_budget.HTML_BUDGET.reset(token)
        notice = report_budget.html_notice(budget, size_limit, full_data) if size_limit else ""
        return (f"<style>{CSS}</style><div class=\"sft-page\">"
                + render_banner(rows, verdict, not_run=not_run, collected=collected, config_source=config_source,
                                problem=problem, exit_status=exit_status, notice=notice)
                + middle
                + '<div id="sft-provenance">' + render_mapping("Provenance", provenance) + "</div>"
                + f"</div><script>{JS}</script>")

    fragment_limit = max(0, size_limit - report_budget.PAGE_WRAPPER_BYTES) if size_limit else None
    return report_budget.fit_html(page, fragment_limit, full_data)[0]
