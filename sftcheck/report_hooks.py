"""Report hooks: the verdict in pytest-html 4.x (``--html``) and the JSON (``--sft-json``).

* a banner above the results: overall PASS / WARN / FAIL and counts per stage and status;
* extra columns: check id, check status, measured value, threshold;
* each check's explanation, fix, metrics and evidence as the row's HTML extra;
* a provenance section (paths, hashes, versions, device, config) below the summary;
* the JSON verdict written at session end; one line of verdict in the terminal summary.

pytest-html inserts all of these raw, and it does not escape test ids either: everything
here goes through ``sftcheck.report_render`` (which escapes) or ``esc``.  Registered by
``sftcheck.plugin`` (AREA_PLUGINS); the ``pytest_html_*`` hooks are optional, so the
module works without pytest-html too.
"""
from __future__ import annotations

from typing import Any

import pytest

from sftcheck import report_json
from sftcheck.checks.support.result import CheckResult
from sftcheck.plugin import RESULT_KEY, sft_session
from sftcheck.report_render import (
    CSS,
    esc,
    fmt_value,
    render_counts,
    render_mapping,
    render_result,
    status_badge,
)

NOT_RUN_KEY: pytest.StashKey[list[dict[str, str]]] = pytest.StashKey()


def _results(config: pytest.Config) -> list[tuple[str, CheckResult]]:
    return sft_session(config).results


def _not_run(config: pytest.Config) -> list[dict[str, str]]:
    return config.stash.setdefault(NOT_RUN_KEY, [])


def _provenance(config: pytest.Config) -> dict[str, Any]:
    session = sft_session(config)
    if not session.provenance:
        from sftcheck.provenance import collect
        try:
            session.provenance.update(collect(session.config, config.rootpath))
        except Exception as exc:  # noqa: BLE001 - provenance must never break the verdict
            session.provenance["error"] = f"provenance could not be collected: {type(exc).__name__}: {exc}"
    return session.provenance


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    result = item.stash.get(RESULT_KEY, None)
    if result is not None and report.when == "call":
        stage, title = report_json.stage_of(result.id)
        extra = {"name": result.id, "format_type": "html", "content": render_result(result, stage, title),
                 "mime_type": None, "extension": None}
        report.extras = [*getattr(report, "extras", []), extra]
    elif report.failed:  # failed before (or without) producing a check result
        lines = report.longreprtext.strip().splitlines()
        _not_run(item.config).append({"nodeid": report.nodeid, "when": report.when,
                                      "message": lines[-1] if lines else ""})
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = sft_session(config)
    if state.json_path:
        data = report_json.build(_results(config), _provenance(config), _not_run(config), int(exitstatus))
        report_json.write(state.json_path, data)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    results = _results(config)
    if not results and not sft_session(config).config:
        return
    checks = [r for _, r in results]
    verdict = report_json.overall(checks, len(_not_run(config)))
    counts = report_json.counts_by_stage(checks)
    parts = [f"{stage}: " + ", ".join(f"{n} {s}" for s, n in per.items() if n)
             for stage, per in counts.items()]
    terminalreporter.write_sep("-", f"sftcheck verdict: {verdict.upper()}"
                               + (f" ({'; '.join(parts)})" if parts else ""))
    json_path = sft_session(config).json_path
    if json_path:
        terminalreporter.write_line(f"sftcheck JSON verdict: {json_path}")


# ---- pytest-html 4.x -------------------------------------------------------------------

@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report) -> None:
    cfg = sft_session(report.config).config if hasattr(report, "config") else None
    if cfg is not None:
        report.title = cfg.report.title  # escaped by pytest-html's Jinja template


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(2, '<th class="sortable" data-column-type="sftid">Check</th>')
    cells.insert(3, '<th class="sortable" data-column-type="sftstatus">Check status</th>')
    cells.insert(4, "<th>Measured</th>")
    cells.insert(5, "<th>Threshold</th>")


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report, cells: list[str]) -> None:
    # pytest-html puts the raw node id into the cell; parametrize ids can carry data.
    test_id = report.nodeid + ("" if report.when == "call" else f"::{report.when}")
    cells[1] = f'<td class="col-testId">{esc(test_id)}</td>'
    d = getattr(report, "sftcheck", None) or {}
    status = d.get("status", "")
    cells.insert(2, f'<td class="col-sftid">{esc(d.get("id", ""))}</td>')
    cells.insert(3, f'<td class="col-sftstatus">{status_badge(status) if status else ""}</td>')
    cells.insert(4, f'<td class="col-sftvalue">{esc(fmt_value(d["value"])) if d else ""}</td>')
    cells.insert(5, f'<td class="col-sftthreshold">{esc(d.get("threshold") or "")}</td>')


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str],
                                session: pytest.Session) -> None:
    config = session.config
    prefix.append(f"<style>{CSS}</style>")
    prefix.append(banner_html(config))
    postfix.append(render_mapping("Provenance", _provenance(config)))


def banner_html(config: pytest.Config) -> str:
    state = sft_session(config)
    checks = [r for _, r in state.results]
    not_run = _not_run(config)
    verdict = report_json.overall(checks, len(not_run))
    lines = [f'<div class="sft-banner sft-verdict-{verdict}"><h3>Verdict: {esc(verdict.upper())}</h3>']
    if state.config is None:
        lines.append(f"<p>No run config: {esc(state.problem or '')}</p>")
    else:
        lines.append(f"<p>Run config: <code>{esc(state.config.source)}</code></p>")
    if checks:
        lines.append(render_counts(report_json.counts_by_stage(checks), report_json.STATUSES))
    else:
        lines.append("<p>No check ran.</p>")
    if not_run:
        items = "".join(f"<tr><td>{esc(n['nodeid'])}</td><td>{esc(n['when'])}</td>"
                        f"<td>{esc(n['message'])}</td></tr>" for n in not_run)
        lines.append(f"<p><b>{len(not_run)} test(s) failed before their check could run:</b></p>"
                     f'<table class="sft-table"><tbody>{items}</tbody></table>')
    lines.append("</div>")
    return "".join(lines)
