"""Turn exceptions raised by the user's hooks into a failed check with the traceback shown."""
from __future__ import annotations

from collections.abc import Sequence

from sftcheck.checks.support.result import CheckResult, Status, Table, Text
from sftcheck.checks.support.rows import HookFailure


def hook_failed(failures: Sequence[HookFailure], total: int) -> CheckResult | None:
    """A FAIL result when any hook raised, else None (the check goes on)."""
    if not failures:
        return None
    first = failures[0]
    last_line = first.traceback.strip().splitlines()[-1] if first.traceback.strip() else "?"
    return CheckResult(
        status=Status.FAIL, value=len(failures), threshold="0 rows where a hook raises",
        explanation=(f"Your hook {first.hook} raised on {len(failures)} of {total} rows "
                     f"(first: row {first.row}{f' (id {first.id!r})' if first.id else ''}: {last_line}). The check cannot judge rows your own "
                     "code cannot format; training would crash or skip them too."),
        fix=f"Fix the hook ({first.hook}) so it handles these rows (traceback below), or repair the rows.",
        metrics={"hook_failures": len(failures), "rows": total},
        evidence=(Table("rows where a hook raised", ("row", "id", "hook", "error"),
                        tuple((f.row, f.id, f.hook, f.traceback.strip().splitlines()[-1]) for f in failures[:20])),
                  Text(f"traceback (row {first.row})", first.traceback)),
    )
