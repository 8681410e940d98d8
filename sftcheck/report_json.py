"""The machine-readable verdict (``--sft-json PATH`` / ``[report] json``).

One record per check run (id, stage, title, status, value, threshold, metrics,
explanation, fix, evidence without image bytes), the counts per stage, the overall
verdict, tests that failed before any check could run, and the provenance.  Strictly
valid JSON: NaN / Inf are written as the strings ``"nan"`` / ``"inf"`` / ``"-inf"``.
"""
from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sftcheck.checks.support.result import CheckResult

STATUSES = ("pass", "fail", "warn", "error", "skip")
SCHEMA_VERSION = 1


def stage_of(check_id: str) -> tuple[str, str]:
    """(stage, title) of a registered check; ``("other", "")`` if unregistered."""
    from sftcheck.checks.support.registry import REGISTRY

    spec = REGISTRY.get(check_id)
    return (spec.stage, spec.title) if spec else ("other", "")


def counts_by_stage(results: Iterable[CheckResult]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        stage, _ = stage_of(r.id)
        per = counts.setdefault(stage, dict.fromkeys(STATUSES, 0))
        per[r.status.value] += 1
    return dict(sorted(counts.items(), key=lambda kv: _stage_order(kv[0])))


def _stage_order(stage: str) -> tuple[int, str]:
    from sftcheck.checks.support.registry import STAGES

    return (STAGES.index(stage) if stage in STAGES else len(STAGES), stage)


def overall(results: Iterable[CheckResult], not_run: int = 0) -> str:
    """``fail`` if any check failed or errored (or a test failed before its check ran),
    else ``warn`` if any warned, else ``pass``; ``empty`` when no check ran."""
    statuses = [r.status.value for r in results]
    if any(s in ("fail", "error") for s in statuses) or not_run:
        return "fail"
    if not statuses:
        return "empty"
    if "warn" in statuses:
        return "warn"
    return "pass"


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


def build(results: list[tuple[str, CheckResult]], provenance: Mapping[str, Any],
          not_run: list[dict[str, str]], exit_status: int | None = None) -> dict[str, Any]:
    checks = [r for _, r in results]
    return _clean({
        "schema": SCHEMA_VERSION,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "verdict": overall(checks, len(not_run)),
        "pytest_exit_status": exit_status,
        "counts": counts_by_stage(checks),
        "checks": [record(nodeid, r) for nodeid, r in results],
        "not_run": not_run,
        "provenance": dict(provenance),
    })


def write(path: str | Path, data: Mapping[str, Any]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    tmp.replace(p)
    return p
