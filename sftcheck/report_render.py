"""Render a ``CheckResult`` and each evidence type as an HTML fragment for the report.

pytest-html 4.x inserts HTML extras, summary blocks and table cells *raw* (``innerHTML``),
so every string here that did not come from this module's own markup — token text,
generations, dataset rows, config values, paths, exception messages — goes through
``esc`` (``html.escape`` with quotes).  Markup uses a small fixed set of elements and
classes (``ALLOWED_TAGS``); no inline event handlers, no scripts, images only as
``data:image/png;base64`` URIs built from bytes.
"""
from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sftcheck.checks.support.result import CheckResult, Evidence, Image, SideBySide, Table, Text, TokenStrip

# Every element this module emits (the XSS self-test asserts nothing else appears).
ALLOWED_TAGS = frozenset({"div", "span", "table", "thead", "tbody", "tr", "th", "td", "pre",
                          "p", "b", "i", "code", "img", "h3", "h4", "style", "details", "summary"})

MAX_TABLE_ROWS = 200
MAX_TEXT_CHARS = 20_000
MAX_VALUE_CHARS = 200

CSS = """
.sft-banner{padding:10px 14px;margin:8px 0;border-radius:6px;font-family:sans-serif}
.sft-banner h3{margin:0 0 6px 0}
.sft-verdict-pass{background:#e3f6e3;border:2px solid #2e8b2e}
.sft-verdict-warn{background:#fff4d6;border:2px solid #c98a00}
.sft-verdict-fail{background:#fde2e2;border:2px solid #c0392b}
.sft-verdict-empty{background:#eee;border:2px solid #888}
.sft-counts{border-collapse:collapse;margin-top:4px}
.sft-counts td,.sft-counts th,.sft-table td,.sft-table th{border:1px solid #ccc;padding:2px 8px;
  text-align:left;vertical-align:top}
.sft-status{font-weight:bold;padding:0 6px;border-radius:3px}
.sft-status-pass{color:#1e6b1e}.sft-status-warn{color:#a06a00}.sft-status-fail{color:#b02a1d}
.sft-status-error{color:#7d1a5b}.sft-status-skip{color:#666}
.sft-result{font-family:sans-serif;margin:6px 0}
.sft-result pre,.sft-side pre{white-space:pre-wrap;word-break:break-all;background:#f6f6f6;
  padding:6px;margin:2px 0;max-height:400px;overflow:auto}
.sft-side{display:flex;gap:8px}.sft-side>div{flex:1;min-width:0}
.sft-strip{font-family:monospace;line-height:1.9;word-break:break-all}
.sft-tok{padding:1px 2px;margin:0 1px;border-radius:2px;white-space:pre}
.sft-trained{background:#bfe8bf;color:#0b3d0b}
.sft-masked{background:#e4e4e4;color:#b03030}
.sft-special{outline:2px solid #1f4fbf;font-weight:bold}
.sft-ws{color:#999}
.sft-evidence{margin:6px 0 10px 0}
"""


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so it is safe inside attributes)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def fmt_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A measured value as short plain text (not yet escaped)."""
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else f"{value:.4g}"
    elif isinstance(value, (Mapping, list, tuple)):
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = str(value)
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def visible_ws(token: str) -> str:
    """Escape a token and make its whitespace visible (space ·, newline ↵, tab →)."""
    out = []
    for ch in token:
        if ch == " ":
            out.append('<span class="sft-ws">·</span>')
        elif ch == "\n":
            out.append('<span class="sft-ws">↵</span>')
        elif ch == "\t":
            out.append('<span class="sft-ws">→</span>')
        elif ch == "\r":
            out.append('<span class="sft-ws">␍</span>')
        else:
            out.append(esc(ch))
    return "".join(out) or '<span class="sft-ws">∅</span>'


def status_badge(status: str) -> str:
    s = esc(status)
    return f'<span class="sft-status sft-status-{s}">{s.upper()}</span>'


def _pre(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + f"\n… ({len(text) - MAX_TEXT_CHARS} more characters)"
    return f"<pre>{esc(text)}</pre>"


def _table_html(columns: tuple[str, ...], rows: list[tuple]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(fmt_value(v, 2000))}</td>" for v in row) + "</tr>"
                   for row in rows[:MAX_TABLE_ROWS])
    more = len(rows) - MAX_TABLE_ROWS
    note = f"<p>… {more} more rows (all rows are in the JSON verdict)</p>" if more > 0 else ""
    return f'<table class="sft-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'


def render_table(ev: Table) -> str:
    if not ev.row_tags:
        return _table_html(ev.columns, list(ev.rows))
    # Filterable: one collapsible view per tag (first-seen order), then every row.
    tags: dict[str, list[tuple]] = {}
    for row, row_tags in zip(ev.rows, ev.row_tags):
        for tag in row_tags:
            tags.setdefault(tag, []).append(row)
    views = [(tag, rows) for tag, rows in tags.items()] + [("all rows", list(ev.rows))]
    return "".join(f"<details><summary>{esc(tag)} ({len(rows)})</summary>"
                   f"{_table_html(ev.columns, rows)}</details>" for tag, rows in views)


def render_text(ev: Text) -> str:
    return _pre(ev.body)


def render_tokens(ev: TokenStrip) -> str:
    spans = []
    n = len(ev.tokens)
    for i, tok in enumerate(ev.tokens):
        trained = bool(ev.trained[i]) if i < len(ev.trained) else False
        special = bool(ev.special[i]) if i < len(ev.special) else False
        tid = ev.token_ids[i] if i < len(ev.token_ids) else "?"
        classes = "sft-tok " + ("sft-trained" if trained else "sft-masked")
        if special:
            classes += " sft-special"
        label = "trained" if trained else "masked (-100)"
        title = esc(f"#{i} id={tid} {label}{' special' if special else ''}: {tok!r}")
        spans.append(f'<span class="{classes}" title="{title}">{visible_ws(tok)}</span>')
    n_trained = sum(1 for t in ev.trained if t)
    legend = (f'<p><span class="sft-tok sft-trained">trained</span> '
              f'<span class="sft-tok sft-masked">masked</span> '
              f'<span class="sft-tok sft-masked sft-special">special (BOS/EOS/EOT)</span> '
              f"{n} tokens, {n_trained} trained</p>")
    return f'{legend}<div class="sft-strip">{"".join(spans)}</div>'


def render_side_by_side(ev: SideBySide) -> str:
    return (f'<div class="sft-side"><div><b>{esc(ev.left_label)}</b>{_pre(ev.left)}</div>'
            f'<div><b>{esc(ev.right_label)}</b>{_pre(ev.right)}</div></div>')


def render_image(ev: Image) -> str:
    data = base64.b64encode(bytes(ev.png)).decode("ascii")
    return f'<img alt="{esc(ev.title)}" src="data:image/png;base64,{data}" style="max-width:100%"/>'


_RENDERERS = {Table: render_table, Text: render_text, TokenStrip: render_tokens,
              SideBySide: render_side_by_side, Image: render_image}


def render_evidence(ev: Evidence) -> str:
    renderer = _RENDERERS.get(type(ev))
    if renderer is None:  # an evidence type this report does not know: show it as text
        return f'<div class="sft-evidence"><h4>{esc(type(ev).__name__)}</h4>{_pre(repr(ev))}</div>'
    return f'<div class="sft-evidence"><h4>{esc(ev.title)}</h4>{renderer(ev)}</div>'


def render_metrics(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return ""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(fmt_value(v, 2000))}</td></tr>"
                   for k, v in metrics.items())
    return f'<table class="sft-table"><thead><tr><th>metric</th><th>value</th></tr></thead>' \
           f"<tbody>{rows}</tbody></table>"


def render_result(result: CheckResult, stage: str = "", title: str = "") -> str:
    """The row extra of one check: verdict, value vs threshold, explanation, fix, evidence."""
    status = result.status.value
    head = (f"{status_badge(status)} <code>{esc(result.id)}</code>"
            + (f" — {esc(title)}" if title else "") + (f" <i>(stage {esc(stage)})</i>" if stage else ""))
    lines = [f"<h3>{head}</h3>",
             f"<p><b>Measured:</b> <code>{esc(fmt_value(result.value))}</code>"
             f" &nbsp; <b>Threshold:</b> <code>{esc(result.threshold or '—')}</code></p>",
             f"<p><b>Explanation:</b> {esc(result.explanation)}</p>"]
    if result.fix:
        lines.append(f"<p><b>Fix:</b> {esc(result.fix)}</p>")
    lines.append(render_metrics(result.metrics))
    lines.extend(render_evidence(ev) for ev in result.evidence)
    return f'<div class="sft-result">{"".join(lines)}</div>'


def render_counts(counts: Mapping[str, Mapping[str, int]], statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    head = "".join(f"<th>{status_badge(s)}</th>" for s in statuses)
    rows = []
    for stage, per in counts.items():
        cells = "".join(f"<td>{int(per.get(s, 0))}</td>" for s in statuses)
        rows.append(f"<tr><td>{esc(stage)}</td>{cells}</tr>")
    return (f'<table class="sft-counts"><thead><tr><th>stage</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def render_mapping(title: str, data: Mapping[str, Any]) -> str:
    """A two-column table of a (possibly nested) mapping, for the provenance section."""
    rows = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            cell = render_mapping("", value)
        elif isinstance(value, str) and "\n" in value:
            cell = f"<details><summary>show ({value.count(chr(10)) + 1} lines)</summary>{_pre(value)}</details>"
        else:
            cell = esc(fmt_value(value, 2000))
        rows.append(f"<tr><th>{esc(key)}</th><td>{cell}</td></tr>")
    heading = f"<h3>{esc(title)}</h3>" if title else ""
    return f'{heading}<table class="sft-table"><tbody>{"".join(rows)}</tbody></table>'
