"""Report hooks: one row per test (``report_rows``) feeds every output of the verdict.

* pytest-html 4.x (``--html``): the verdict page (``report_page``) as the summary block; it
  holds every test, so pytest-html's own generic table gets no rows (no second copy of
  the evidence, no WARN shown as "Passed", no empty log blocks); pytest-metadata's
  Environment table is escaped before pytest-html inserts it with ``innerHTML``;
* the JSON verdict (``--sft-json``), the Markdown summary (``--sft-summary``), JUnit
  properties per test, and the verdict line (with every non-passing check) in the terminal;
* ``--sft-redact-paths`` shortens local paths in the page, JSON and summary (``redact``).

A run that did not finish (interrupt, crash, collected checks that never ran) is
``incomplete`` / ``error`` everywhere, never ``pass``.  Registered by ``sftcheck.plugin``;
the ``pytest_html_*`` hooks are optional, so the module works without pytest-html too.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import pytest

from sftcheck import report_json, report_rows
from sftcheck.report_rows import Row
from sftcheck.session_state import RESULT_KEY, sft_session


@dataclass
class ReportState:
    rows: dict[str, Row] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    collected: int = 0
    exit_status: int | None = None
    json_truncated: int = 0     # evidence blocks the JSON verdict left out (report_budget)


STATE_KEY: pytest.StashKey[ReportState] = pytest.StashKey()


def state(config: pytest.Config) -> ReportState:
    return config.stash.setdefault(STATE_KEY, ReportState())


def rows(config: pytest.Config) -> list[Row]:
    st = state(config)
    for nodeid, row in st.rows.items():
        row.duration = st.durations.get(nodeid, 0.0)
    return list(st.rows.values())


def not_run(config: pytest.Config) -> int:
    st = state(config)
    return max(0, st.collected - len(st.rows))


def active(config: pytest.Config) -> bool:
    """sftcheck has something to say: a run config is set or some check ran (a plain pytest
    session that merely has the plugin loaded gets no verdict line)."""
    return sft_session(config).config is not None or any(
        r.result is not None for r in state(config).rows.values())


def verdict(config: pytest.Config) -> str:
    st = state(config)
    return report_rows.verdict(rows(config), not_run(config), st.exit_status)


def _provenance(config: pytest.Config) -> dict[str, Any]:
    session = sft_session(config)
    if not session.provenance:
        from sftcheck.provenance import collect
        try:
            session.provenance.update(collect(session.config, config.rootpath, session.run))
        except Exception as exc:  # noqa: BLE001 - provenance must never break the verdict
            session.provenance["error"] = f"provenance could not be collected: {type(exc).__name__}: {exc}"
    if session.generation_passes:  # which backend made each pass, and which came from the cache
        session.provenance["generation passes"] = {
            f"{i + 1}. {p['variant']} ({p['examples']} prompts)": p for i, p in enumerate(session.generation_passes)}
    return session.provenance


def _stage_of_item(item: pytest.Item) -> str:
    from sftcheck.checks.support.registry import STAGES

    for marker in item.iter_markers():
        if marker.name in STAGES:
            return marker.name
    return "other"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    report.sftcheck_stage = _stage_of_item(item)
    result = item.stash.get(RESULT_KEY, None)
    if result is not None and report.when == "call":
        row = report_rows.from_result(report.nodeid, result)
        # JUnit: one property per fact (junitxml writes the teardown report's user_properties,
        # which pytest copies from the item).
        item.user_properties.extend([
            ("sftcheck_check_id", row.check_id), ("sftcheck_stage", row.stage),
            ("sftcheck_status", row.status), ("sftcheck_value", report_rows.plain_value(row.value)),
            ("sftcheck_threshold", row.threshold or ""),
            ("sftcheck_cause", row.cause)])
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    state(session.config).collected = len(session.items)


class _RowCollector:
    """Builds rows from test reports (a plugin object so it can hold the config)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            state(self.config).rows[report.nodeid or "<collection>"] = report_rows.from_pytest(
                report.nodeid or "<collection>", "error", "other", report.longreprtext, "collection")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        st = state(self.config)
        st.durations[report.nodeid] = st.durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)
        result = getattr(report, "sftcheck_result", None)
        stage = getattr(report, "sftcheck_stage", "other")
        existing = st.rows.get(report.nodeid)
        if result is not None and report.when == "call":
            st.rows[report.nodeid] = report_rows.from_result(report.nodeid, result)
        elif report.failed and (existing is None or existing.status != "error"):
            if existing is not None and existing.result is not None and existing.status in ("fail", "error"):
                return  # a teardown problem after a check that already failed
            st.rows[report.nodeid] = report_rows.from_pytest(
                report.nodeid, "error", stage, report.longreprtext, report.when)
        elif report.skipped and existing is None:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longreprtext
            st.rows[report.nodeid] = report_rows.from_pytest(report.nodeid, "skip", stage, str(reason))
        elif report.when == "call" and report.passed and existing is None:
            st.rows[report.nodeid] = report_rows.from_pytest(report.nodeid, "pass", stage, "")


def pytest_configure(config: pytest.Config) -> None:
    from sftcheck import progress

    config.pluginmanager.register(_RowCollector(config), "sftcheck-rows")
    progress.attach(config)  # live progress on the terminal under capture


def pytest_unconfigure(config: pytest.Config) -> None:
    from sftcheck import progress

    progress.detach(config)


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session: pytest.Session):
    """Escape pytest-metadata's values (CI variables such as GIT_BRANCH can carry markup) for
    pytest-html, which inserts them with ``innerHTML``; other readers keep the raw values."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return (yield)
    config = session.config
    raw = config.stash.get(metadata_key, None)
    if raw is None:
        return (yield)
    config.stash[metadata_key] = _escaped(raw)
    try:
        return (yield)
    finally:
        config.stash[metadata_key] = raw


def _escaped(value: Any) -> Any:
    if isinstance(value, dict):
        return {html.escape(str(k), quote=True): _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return html.escape(str(value), quote=True)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    st = state(config)
    st.exit_status = int(exitstatus)
    sft = sft_session(config)
    if not active(config):
        return
    redact = _redactor(config)
    if sft.json_path:
        from sftcheck.report_budget import fit_json

        data = report_json.build(rows(config), _provenance(config), verdict=verdict(config),
                                 not_run=not_run(config), collected=st.collected, exit_status=st.exit_status)
        data = fit_json(redact.deep(data) if redact else data, _limits(config).report_json_bytes,
                        "Raise [limits] report_json_bytes (or select fewer checks with -k / -m) and rerun "
                        "for the evidence left out here.")
        st.json_truncated = (data.get("truncated") or {}).get("elided", 0)
        report_json.write(sft.json_path, data)
    summary_path = config.getoption("sft_summary", None)
    if summary_path:
        from sftcheck import report_summary
        html_path = config.getoption("htmlpath", None)
        text = report_summary.markdown(rows(config), verdict(config), not_run=not_run(config),
                                       collected=st.collected, report_path=html_path)
        report_summary.write(summary_path, redact.text(text) if redact else text)


def _limits(config: pytest.Config):
    from sftcheck.config import LimitsSection

    cfg = sft_session(config).config
    return cfg.limits if cfg is not None else LimitsSection()


def _full_data(config: pytest.Config) -> str:
    """Where the evidence the HTML page leaves out can be found."""
    path = sft_session(config).json_path
    if not path:
        return ("Write the JSON verdict (--sft-json PATH or [report] json) for the left-out evidence, "
                "or raise [limits] report_html_bytes.")
    cut = state(config).json_truncated
    return (f"The JSON verdict {path} holds the left-out evidence"
            + (f" except {cut:,} blocks it too left out (over [limits] report_json_bytes)." if cut else "."))


def _redactor(config: pytest.Config):
    """The path redactor when ``--sft-redact-paths`` is on, else None."""
    if not config.getoption("sft_redact_paths", False):
        return None
    from sftcheck.redact import for_config
    cfg = sft_session(config).config
    return for_config(cfg.source if cfg else None)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not active(config):
        return
    all_rows = rows(config)
    word = report_rows.VERDICT_WORDS[verdict(config)]
    counts = report_rows.counts_by_stage(all_rows)
    parts = [f"{stage}: " + ", ".join(f"{n} {s}" for s, n in per.items() if n) for stage, per in counts.items()]
    missing = not_run(config)
    if missing:
        parts.append(f"{missing} of {state(config).collected} checks not run")
    terminalreporter.write_sep("-", f"sftcheck verdict: {word}" + (f" ({'; '.join(parts)})" if parts else ""))
    for row in sorted((r for r in all_rows if r.status in report_rows.BAD), key=report_rows.sort_key):
        terminalreporter.write_line(f"  {row.status.upper():<5} {row.check_id}: {row.cause}")
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
def pytest_html_results_table_row(report, cells: list[str]) -> None:
    # Every test is a row of the verdict page (its own status, stage, evidence, duration);
    # pytest-html's generic table would repeat them with pytest outcomes (a WARN reads
    # "Passed" there), so it gets no rows: an emptied ``cells`` list drops the row.
    cells.clear()


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str],
                                session: pytest.Session) -> None:
    from sftcheck.report_page import render_page

    config = session.config
    sft = sft_session(config)
    st = state(config)
    redact = _redactor(config)
    page = render_page(
        rows(config), verdict(config), provenance=_provenance(config), not_run=not_run(config),
        collected=st.collected, config_source=sft.config.source if sft.config else None,
        problem=sft.problem if sft.config is None else None, exit_status=st.exit_status,
        size_limit=_limits(config).report_html_bytes, full_data=_full_data(config))
    prefix.append(redact.html(page) if redact else page)
