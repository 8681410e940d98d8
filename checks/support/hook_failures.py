"""Turn exceptions raised by the user's hooks into a failed check with the traceback shown.

A row on which several hooks raised (the train formatter AND the prompt builder, under
``format.train_infer_aligned``) is one failing row with every cause named, not two."""
from __future__ import annotations

from collections.abc import Sequence

from sftcheck.checks.support.result import CheckResult, Status, Table, Text
from sftcheck.checks.support.rows import HookFailure


def _last_line(f: HookFailure) -> str:
    lines = f.traceback.strip().splitlines()
    return lines[-1] if lines else "?"


def _by_row(failures: Sequence[HookFailure]) -> list[list[HookFailure]]:
    """Failures grouped per data row, rows in order of first failure, hooks in call order."""
    groups: dict[int, list[HookFailure]] = {}
    for f in failures:
        groups.setdefault(f.row, []).append(f)
    return list(groups.values())


def hook_failed(failures: Sequence[HookFailure], total: int) -> CheckResult | None:
    """A FAIL result when any hook raised, else None (the check goes on).  ``total`` is the
    number of data rows; each row counts once however many hooks raised on it."""
    if not failures:
        return None
    rows = _by_row(failures)
    hooks = list(dict.fromkeys(f.hook for f in failures))
    first = rows[0]
    causes = "; ".join(f"{f.hook}: {_last_line(f)}" if len(hooks) > 1 else _last_line(f) for f in first)
    who = f"hook {hooks[0]}" if len(hooks) == 1 else "hooks " + " and ".join(hooks)
    both = sum(1 for r in rows if len({f.hook for f in r}) > 1)
    row0 = first[0]
    return CheckResult(
        status=Status.FAIL, value=len(rows), threshold="0 rows where a hook raises",
        explanation=(f"Your {who} raised on {len(rows)} of {max(total, len(rows))} rows"
                     + (f" ({both} of them in more than one hook)" if both else "")
                     + f" (first: row {row0.row}{f' (id {row0.id!r})' if row0.id else ''}: {causes}). "
                     "The check cannot judge rows your own code cannot format; training would crash "
                     "or skip them too."),
        fix=f"Fix the {who} so {'it handles' if len(hooks) == 1 else 'they handle'} these rows "
            "(traceback below), or repair the rows.",
        metrics={"hook_failures": len(rows), "rows": total, "hook_errors": len(failures)},
        evidence=(Table("rows where a hook raised", ("row", "id", "hook", "error"),
                        tuple((r[0].row, r[0].id, "; ".join(f.hook for f in r),
                               "; ".join(_last_line(f) for f in r)) for r in rows[:20])),
                  *(Text(f"traceback (row {f.row}, {f.hook})" if len(first) > 1 else f"traceback (row {f.row})",
                         f.traceback) for f in first)),
    )
