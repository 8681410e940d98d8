"""One row per test for the verdict: the check's own status when a check ran, else a status
derived from pytest's outcome (a test that failed before its check produced a result is an
ERROR; a skipped test is a SKIP with its reason), plus the run's overall verdict.

Rows are what the HTML page, the JSON, the terminal line, the Markdown summary and the
JUnit properties all read, so they cannot disagree.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sftcheck.checks.support.result import CheckResult

STATUSES = ("fail", "error", "warn", "pass", "skip")   # severity order (the report's sort)
BAD = ("fail", "error", "warn")                          # non-passing: named in the banner
# Verdicts: the checks' outcome, or why there is none.
VERDICTS = ("pass", "warn", "fail", "incomplete", "error", "empty")

# pytest exit codes (pytest.ExitCode) that mean the run did not finish.
INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR = 2, 3, 4


@dataclass
class Row:
    nodeid: str
    status: str                 # one of STATUSES
    check_id: str               # the registered id, or the test name when no check ran
    stage: str                  # pipeline stage, or "other"
    title: str = ""
    value: Any = None
    threshold: str | None = None
    cause: str = ""             # one line: why (the explanation's first sentence / pytest's message)
    result: CheckResult | None = None
    message: str = ""           # full pytest text when no check result exists
    duration: float = 0.0       # seconds, setup + call + teardown

    @property
    def anchor(self) -> str:
        return "check-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in self.nodeid)


def stage_of(check_id: str) -> tuple[str, str]:
    """(stage, title) of a registered check; ``("other", "")`` if unregistered."""
    from sftcheck.checks.support.registry import REGISTRY

    spec = REGISTRY.get(check_id)
    return (spec.stage, spec.title) if spec else ("other", "")


def stage_index(stage: str) -> int:
    from sftcheck.checks.support.registry import STAGES

    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def sort_key(row: Row) -> tuple:
    """Non-passing first (in pipeline order: an earlier stage's failure often explains a later
    one), then the rest in pipeline order."""
    group = 0 if row.status in BAD else 1
    return (group, stage_index(row.stage), STATUSES.index(row.status), row.check_id, row.nodeid)


def one_line(text: str, limit: int = 200) -> str:
    """The first sentence / line of a text, cut to ``limit`` characters."""
    text = " ".join((text or "").split())
    for stop in (". ", "; "):
        head, sep, _ = text.partition(stop)
        if sep and len(head) >= 20:
            text = head + "."
            break
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_result(nodeid: str, result: CheckResult) -> Row:

    stage, title = stage_of(result.id)
    return Row(nodeid=nodeid, status=result.status.value, check_id=result.id, stage=stage, title=title,
               value=result.value, threshold=result.threshold, cause=one_line(result.explanation),
               result=result)


def from_pytest(nodeid: str, status: str, stage: str, message: str, when: str = "call") -> Row:
    name = nodeid.rsplit("::", 1)[-1]
    lines = [ln for ln in (message or "").strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else ""
    if status == "error":
        cause = f"failed in {when} before its check produced a result: {last}"
    elif status == "skip":
        reason = last.removeprefix("Skipped: ")  # pytest's own prefix for a skip mark's reason
        cause = f"skipped: {reason}" if reason else "skipped"
    else:
        cause = last
    return Row(nodeid=nodeid, status=status, check_id=name, stage=stage, cause=one_line(cause, 300),
               message=message or "")


def counts_by_stage(rows: Iterable[Row]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        per = counts.setdefault(r.stage, dict.fromkeys(STATUSES, 0))
        per[r.status] += 1
    return dict(sorted(counts.items(), key=lambda kv: (stage_index(kv[0]), kv[0])))


def verdict(rows: Sequence[Row], not_run: int = 0, exit_status: int | None = None) -> str:
    """``error`` when pytest could not run the session (usage / internal error); ``fail`` when a
    check failed or errored; ``incomplete`` when the run was interrupted or collected checks
    never ran; ``empty`` when nothing was checked (no row, or every row skipped); else ``warn``
    or ``pass``.  A run that did not finish never reads ``pass``."""
    statuses = {r.status for r in rows}
    if exit_status in (INTERNAL_ERROR, USAGE_ERROR):
        return "error"
    if statuses & {"fail", "error"}:
        return "fail"
    if exit_status == INTERRUPTED or not_run > 0:
        return "incomplete"
    if not statuses - {"skip"}:
        return "empty"
    if "warn" in statuses:
        return "warn"
    return "pass"


VERDICT_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "incomplete": "INCOMPLETE",
                 "error": "ERROR", "empty": "NOTHING CHECKED"}


def plain_value(value: Any) -> str:
    """A measured value as one line of text (JUnit properties, Markdown)."""
    from sftcheck.report_render import fmt_value

    return fmt_value(value)
