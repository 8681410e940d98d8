"""A run that did not start must not leave an older verdict readable as this run's.

On a usage error (bad config, unknown option, conflicting flags) pytest writes no report,
so a report from an earlier run at the same path would still say PASS.  ``mark_not_run``
replaces such files with a page / JSON that says ``error``: this run did not start,
nothing was checked.  Files that do not exist are left absent (nothing is announced).
"""
from __future__ import annotations

import html
from pathlib import Path

from sftcheck import report_json
from sftcheck.report_assets import CSS

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"/><title>sftcheck verdict: ERROR (run did not start)</title>
<style>{css}</style></head><body><div class="sft-page">
<div class="sft-banner sft-verdict-error" id="sft-verdict" role="status">
<h2>sftcheck verdict: ERROR</h2>
<p><b>This run did not start</b> (usage error, pytest exit status {status}); nothing was checked.
The report an earlier run left at this path was replaced so that it cannot be read as this run's verdict.</p>
<pre>{message}</pre></div></div></body></html>
"""


def mark_not_run(html_path: str | Path | None, json_path: str | Path | None, message: str,
                 exit_status: int = 4) -> list[Path]:
    """Overwrite existing report files at these paths with an ``error`` verdict; returns the
    paths replaced."""
    replaced = []
    if html_path and Path(html_path).expanduser().is_file():
        p = Path(html_path).expanduser()
        p.write_text(PAGE.format(css=CSS, status=exit_status, message=html.escape(message)), encoding="utf-8")
        replaced.append(p)
    if json_path and Path(json_path).expanduser().is_file():
        replaced.append(report_json.write_error(Path(json_path).expanduser(), message, exit_status))
    return replaced
