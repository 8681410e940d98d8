"""The machine-readable verdict (``--sft-json PATH`` / ``[report] json``).

One record per check run (id, stage, title, status, value, threshold, metrics,
explanation, fix, evidence without image bytes; raw, unrounded values), the counts per
stage, the overall verdict (``pass`` / ``warn`` / ``fail`` / ``incomplete`` / ``error`` /
``empty``) with ``complete`` and the number of checks not run, tests that produced no check
result, the provenance, and ``truncated`` (null, or what ``[limits] report_json_bytes`` left out:
``sftcheck.report_budget``).  Strictly
valid JSON: NaN / Inf are written as the strings ``"nan"`` / ``"inf"`` / ``"-inf"``.
"""
from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sftcheck.checks.support.result import CheckResult
from sftcheck.report_rows import (
    INTERNAL_ERROR,
    INTERRUPTED,
    USAGE_ERROR,
    Row,
    counts_by_stage,
    stage_of,
)
from sftcheck.report_suites import json_rows

SCHEMA_VERSION = 2


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value
    return str(value)


def record(nodeid: str, result: CheckResult) -> dict[str, Any]:
    stage, title = stage_of(result.id)
    d = result.to_dict()
    return {"id": d["id"], "stage": stage, "title": title, "status": d["status"],
            "value": d["value"], "threshold": d["threshold"], "metrics": d["metrics"],
            "explanation": d["explanation"], "fix": d["fix"], "nodeid": nodeid,
            "evidence": d["evidence"]}


def build(rows: Sequence[Row], provenance: Mapping[str, Any], *, verdict: str, not_run: int = 0,
          collected: int = 0, exit_status: int | None = None) -> dict[str, Any]:
    """The verdict document.  ``complete`` is false (and ``verdict`` never ``pass``) when the
    run was interrupted, crashed or left collected checks unrun (``checks_not_run``)."""

    unfinished = exit_status in (INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR) or not_run > 0
    return _clean({
        "schema": SCHEMA_VERSION,
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "verdict": verdict,
        "complete": not unfinished,
        "checks_collected": collected,
        "checks_not_run": not_run,
        "pytest_exit_status": exit_status,
        "counts": counts_by_stage(rows),
        "checks": [record(r.nodeid, r.result) for r in rows if r.result is not None],
        # the suites' summary table: one record per suite x metric (sftcheck.report_suites)
        "suites": json_rows(rows),
        # tests that produced no check result: failed before their check ran (error), skipped
        "not_run": [{"nodeid": r.nodeid, "status": r.status, "stage": r.stage, "message": r.cause}
                    for r in rows if r.result is None],
        "provenance": dict(provenance),
    })


def write_error(path: str | Path, message: str, exit_status: int) -> Path:
    """Replace a previous verdict at ``path``: this run did not start (usage error)."""
    return write(path, {"schema": SCHEMA_VERSION, "verdict": "error", "complete": False,
                        "pytest_exit_status": exit_status, "error": message, "checks": []})


def write(path: str | Path, data: Mapping[str, Any]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    tmp.replace(p)
    return p
