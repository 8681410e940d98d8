"""``--sft-summary PATH``: the verdict as GitHub-flavoured Markdown (for ``$GITHUB_STEP_SUMMARY``,
a merge-request note or a chat message): verdict, counts per stage, every non-passing check
with its cause, and the checks that did not run.  Appends when the file exists, as GitHub's
step summary expects."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sftcheck.report_rows import BAD, STATUSES, VERDICT_WORDS, Row, counts_by_stage, sort_key

ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌", "error": "❌", "incomplete": "⏸️", "empty": "➖"}


def _cell(text: object) -> str:
    """One Markdown table cell: no pipes, no newlines, no markup."""
    s = " ".join(str(text).split()).replace("|", "\\|")
    for ch in "<>`*_[]":
        s = s.replace(ch, "\\" + ch)
    return s


def markdown(rows: Sequence[Row], verdict: str, *, not_run: int = 0, collected: int = 0,
             report_path: str | None = None) -> str:
    word = VERDICT_WORDS.get(verdict, verdict.upper())
    lines = [f"## {ICONS.get(verdict, '')} sftcheck verdict: {word}", ""]
    n = {s: sum(1 for r in rows if r.status == s) for s in STATUSES}
    lines.append(f"{len(rows)} checks: " + ", ".join(f"{n[s]} {s}" for s in STATUSES if n[s]) if rows
                 else "No check ran.")
    if not_run:
        lines += ["", f"**Incomplete:** {not_run} of {collected} collected checks did not run."]
    bad = sorted((r for r in rows if r.status in BAD), key=sort_key)
    if bad:
        lines += ["", "| status | check | stage | measured | threshold | cause |", "|---|---|---|---|---|---|"]
        from sftcheck.report_rows import plain_value
        lines += [f"| {r.status.upper()} | `{r.check_id.replace('`', '')}` | {_cell(r.stage)} | "
                  f"{_cell(plain_value(r.value)) if r.result else ''} | {_cell(r.threshold or '')} | "
                  f"{_cell(r.cause)} |" for r in bad]
    counts = counts_by_stage(rows)
    if counts:
        lines += ["", "| stage | " + " | ".join(STATUSES) + " |", "|---|" + "---|" * len(STATUSES)]
        lines += [f"| {_cell(stage)} | " + " | ".join(str(per[s] or "") for s in STATUSES) + " |"
                  for stage, per in counts.items()]
    if report_path:
        lines += ["", f"Full report: `{report_path}`"]
    return "\n".join(lines) + "\n"


def write(path: str | Path, text: str) -> Path:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as f:
        f.write(text)
    return p
