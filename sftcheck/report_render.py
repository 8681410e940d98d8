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
import hashlib
import html
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from sftcheck import report_budget
from sftcheck.checks.support.result import (
    CheckResult,
    Evidence,
    Image,
    PlotError,
    SideBySide,
    Table,
    Text,
    TokenStrip,
)

# Every element this module emits (the XSS self-test asserts nothing else appears).
ALLOWED_TAGS = frozenset({"div", "span", "table", "thead", "tbody", "tr", "th", "td", "pre",
                          "p", "b", "i", "code", "img", "h3", "h4", "style", "details", "summary",
                          "button", "input", "a", "label", "select", "option", "h2", "ul", "li"})

MAX_TABLE_ROWS = 200
MAX_TEXT_CHARS = 20_000
MAX_VALUE_CHARS = 200

def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so it is safe inside attributes)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def round_sig(value: Any, digits: int = 4) -> Any:
    """A copy with every float rounded to ``digits`` significant digits (for display only;
    the JSON keeps the raw values)."""
    if isinstance(value, float):
        if not math.isfinite(value) or value == 0:
            return value
        return float(f"{value:.{digits}g}")
    if isinstance(value, Mapping):
        return {k: round_sig(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_sig(v, digits) for v in value]
    return value


def fmt_value(value: Any, limit: int = MAX_VALUE_CHARS) -> str:
    """A measured value as short plain text (not yet escaped); floats to 4 significant digits,
    mappings as ``key: value, …``."""
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = "nan" if math.isnan(value) else f"{value:.4g}"
    elif isinstance(value, Mapping):
        text = ", ".join(f"{k}: {fmt_value(v, limit)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        try:
            text = json.dumps(round_sig(value), default=str, ensure_ascii=False)
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


def _tag_class(tag: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in tag.lower())


def render_table(ev: Table) -> str:
    if not ev.row_tags:
        return _table_html(ev.columns, list(ev.rows))
    # Filterable in the page (sftcheck's script): one table, each row carries its tags; the
    # filter bar offers each tag (first-seen order), all rows, and a text search.
    counts: dict[str, int] = {}
    for row_tags in ev.row_tags:
        for tag in row_tags:
            counts[tag] = counts.get(tag, 0) + 1
    buttons = [f'<button type="button" class="sft-tf sft-tf-on" data-tag="">all rows ({len(ev.rows)})</button>']
    buttons += [f'<button type="button" class="sft-tf" data-tag="{esc(_tag_class(t))}">{esc(t)} ({n})</button>'
                for t, n in counts.items()]
    head = "".join(f"<th>{esc(c)}</th>" for c in ev.columns)
    body = []
    for row, row_tags in list(zip(ev.rows, ev.row_tags))[:MAX_TABLE_ROWS]:
        tags = " ".join(_tag_class(t) for t in row_tags)
        cells = "".join(f"<td>{esc(fmt_value(v, 2000))}</td>" for v in row)
        body.append(f'<tr data-tags="{esc(tags)}">{cells}</tr>')
    more = len(ev.rows) - MAX_TABLE_ROWS
    note = f"<p>… {more} more rows (all rows are in the JSON verdict)</p>" if more > 0 else ""
    return (f'<div class="sft-tagged"><div class="sft-tf-bar">{"".join(buttons)}'
            f'<input type="search" class="sft-tf-search" placeholder="search rows" aria-label="search rows"/>'
            f'</div><table class="sft-table"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table>{note}</div>")


def render_text(ev: Text) -> str:
    return _pre(ev.body)


def render_tokens(ev: TokenStrip) -> str:
    """Coloured tokens: ``k1`` trained, ``k0`` masked (-100), ``ks`` special; whitespace made
    visible; the hover title gives position and id."""
    spans = []
    n = len(ev.tokens)
    for i, tok in enumerate(ev.tokens):
        trained = bool(ev.trained[i]) if i < len(ev.trained) else False
        special = bool(ev.special[i]) if i < len(ev.special) else False
        tid = ev.token_ids[i] if i < len(ev.token_ids) else "?"
        classes = ("k1" if trained else "k0") + (" ks" if special else "")
        spans.append(f'<span class="{classes}" title="#{i} id {esc(tid)}">{visible_ws(tok)}</span>')
    n_trained = sum(1 for t in ev.trained if t)
    legend = ('<p class="sft-strip"><span class="k1">trained</span> <span class="k0">masked (-100)</span> '
              f'<span class="k0 ks">special (BOS/EOS/EOT)</span> {n} tokens, {n_trained} trained</p>')
    return f'{legend}<div class="sft-strip">{"".join(spans)}</div>'


def render_side_by_side(ev: SideBySide) -> str:
    context = "".join(f"<div><b>{esc(label)}</b>{_pre(text)}</div>" for label, text in ev.context)
    return ((f'<div class="sft-context">{context}</div>' if context else "")
            + f'<div class="sft-side"><div><b>{esc(ev.left_label)}</b>{_pre(ev.left)}</div>'
            f'<div><b>{esc(ev.right_label)}</b>{_pre(ev.right)}</div></div>')


def render_image(ev: Image) -> str:
    try:
        png = ev.png
    except PlotError as exc:
        return f'<p class="sft-ref">{esc(exc)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{esc(ev.title)}" src="data:image/png;base64,{data}" style="max-width:100%"/>'


_RENDERERS = {Table: render_table, Text: render_text, TokenStrip: render_tokens,
              SideBySide: render_side_by_side, Image: render_image}


def render_evidence(ev: Evidence, seen: dict[str, tuple[str, str]] | None = None,
                    owner: tuple[str, str] = ("", "")) -> str:
    """One evidence block.  With ``seen`` (shared across a page), evidence whose rendering was
    already shown under another check becomes a link to it: shown once, referenced after."""
    renderer = _RENDERERS.get(type(ev))
    if renderer is None:  # an evidence type this report does not know: show it as text
        return f'<div class="sft-evidence"><h4>{esc(type(ev).__name__)}</h4>{_pre(repr(ev))}</div>'
    body = renderer(ev)
    key = hashlib.sha1(body.encode("utf-8")).hexdigest()[:12] if seen is not None else ""
    if seen is not None and key in seen:
        _, check_id = seen[key]
        return (f'<div class="sft-evidence"><h4>{esc(ev.title)}</h4><p class="sft-ref">Same evidence as '
                f'shown under <a href="#ev-{key}">{esc(check_id)}</a>.</p></div>')
    budget = report_budget.HTML_BUDGET.get()
    if budget is not None:  # the page's total size budget (report_budget)
        size = report_budget.nbytes(body)
        if not budget.take(size, owner[0] or owner[1]):
            return report_budget.elided_block(ev.title, size, budget.where)
    if seen is None:
        return f'<div class="sft-evidence"><h4>{esc(ev.title)}</h4>{body}</div>'
    seen[key] = owner
    return f'<div class="sft-evidence" id="ev-{key}"><h4>{esc(ev.title)}</h4>{body}</div>'


def render_metrics(metrics: Mapping[str, Any]) -> str:
    if not metrics:
        return ""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(fmt_value(round_sig(v), 2000))}</td></tr>"
                   for k, v in metrics.items())
    return f'<table class="sft-table"><thead><tr><th>metric</th><th>value</th></tr></thead>' \
           f"<tbody>{rows}</tbody></table>"


def render_result(result: CheckResult, stage: str = "", title: str = "",
                  seen: dict[str, tuple[str, str]] | None = None, anchor: str = "",
                  heading: bool = True) -> str:
    """The body of one check: (verdict, value vs threshold,) explanation, fix, metrics, evidence."""
    lines = []
    if heading:
        status = result.status.value
        head = (f"{status_badge(status)} <code>{esc(result.id)}</code>"
                + (f" — {esc(title)}" if title else "") + (f" <i>(stage {esc(stage)})</i>" if stage else ""))
        lines += [f"<h3>{head}</h3>",
                  (f"<p><b>Measured:</b> <code>{esc(fmt_value(result.value))}</code>"
                   f" &nbsp; <b>Threshold:</b> <code>{esc(result.threshold or '—')}</code></p>")]
    lines.append(f"<p><b>Explanation:</b> {esc(result.explanation)}</p>")
    if result.fix:
        lines.append(f"<p><b>Fix:</b> {esc(result.fix)}</p>")
    lines.append(render_metrics(result.metrics))
    lines.extend(render_evidence(ev, seen, (anchor, result.id)) for ev in result.evidence)
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
