"""Rendering of results and evidence: every string that came from outside is escaped.

pytest-html 4.x inserts HTML extras raw, so a ``<img onerror=…>`` from a tokenizer or a
dataset would execute in the reader's browser.  Property: whatever text goes into any
field of any evidence type, the rendered HTML contains only the renderer's own elements,
no event-handler attributes, images only as PNG data URIs, and the text reads back intact.
"""
from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser

import matplotlib
from hypothesis import given, settings
from hypothesis import strategies as st
from sftcheck.checks.support.result import CheckResult, Image, SideBySide, Status, Table, Text, TokenStrip

from sftcheck.report_render import ALLOWED_TAGS, esc, render_counts, render_mapping, render_result, visible_ws

matplotlib.use("Agg")

PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>',
            "' onmouseover='alert(1)", "</pre><script>x</script>", "&lt;script&gt;", "</textarea>",
            "<!-- -->", "javascript:alert(1)")

hostile = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(max_size=40),
    st.builds(lambda a, p, b: a + p + b, st.text(max_size=10), st.sampled_from(PAYLOADS), st.text(max_size=10)),
)


# Attributes the renderers may emit (plus data-*): no event handlers, no style from data.
SAFE_ATTRS = {"class", "title", "alt", "src", "style", "id", "href", "type", "placeholder", "aria-label",
              "value", "checked", "disabled", "open", "role", "hidden"}


class Inspector(HTMLParser):
    """Collects every element, attribute and text node of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.tags.append("!--")


def inspect_html(fragment: str) -> Inspector:
    parser = Inspector()
    parser.feed(fragment)
    parser.close()
    return parser


def assert_inert(fragment: str) -> Inspector:
    seen = inspect_html(fragment)
    assert set(seen.tags) <= ALLOWED_TAGS, set(seen.tags) - ALLOWED_TAGS
    for name, value in seen.attrs:
        assert not name.startswith("on"), (name, value)
        assert name in SAFE_ATTRS or name.startswith("data-"), name
        if name == "src":
            assert value and value.startswith("data:image/png;base64,"), value
        if name == "href":
            assert value and value.startswith("#"), value  # in-page links only
    return seen


def _png() -> bytes:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


PNG = _png()


def hostile_result(s: str) -> CheckResult:
    return CheckResult(
        id="demo." + s, status=Status.FAIL, value={s: [s, 1.5]}, threshold=s, explanation=s, fix=s,
        metrics={s: s, "n": float("nan")},
        evidence=(Table(s, (s, "n"), ((s, 1), (None, s))), Table(s, (s,), ((s,), (s,)), ((s,), ())),
                  Text(s, s),
                  TokenStrip(s, (s, " ", "\n"), (1, 2, 3), (True, False, True), (False, False, True)),
                  SideBySide(s, s, s, s, s), Image(s, PNG)),
    )


@settings(max_examples=150, deadline=None)
@given(hostile)
def test_every_evidence_type_escapes_hostile_text(s):
    fragment = render_result(hostile_result(s), stage=s, title=s)
    seen = assert_inert(fragment)
    text = "".join(seen.text)
    assert s in text  # the Text evidence reads back verbatim (escaped, not dropped)
    for payload in PAYLOADS:
        if payload in s and "<" in payload:
            assert payload not in fragment


@settings(max_examples=50, deadline=None)
@given(hostile, hostile)
def test_provenance_and_counts_escape_keys_and_values(k, v):
    assert_inert(render_mapping(k, {k: v, "nested": {k: v}, "multi": f"{v}\n{k}"}))
    assert_inert(render_counts({k: {"pass": 1}}, ("pass", "fail")))


def test_token_strip_marks_trained_masked_special_and_whitespace():
    strip = TokenStrip("row 0", ("<|bos|>", "Question", ":", " <answer>", "\n", "<|endoftext|>"),
                       (0, 5, 6, 7, 8, 1), (False, False, False, True, True, True),
                       (True, False, False, False, False, True))
    fragment = render_result(CheckResult(Status.FAIL, 0.5, ">= 0.99", "e", "f", id="labels.demo",
                                         evidence=(strip,)))
    assert_inert(fragment)
    strip_html = fragment.split('<div class="sft-strip">', 1)[1]
    spans = re.findall(r'<span class="(k[01](?: ks)?)" title="#\d+ id \d+">(.*?)</span>(?=<span class="k|</div>)',
                       strip_html)
    assert [c for c, _ in spans] == ["k0 ks", "k0", "k0", "k1", "k1", "k1 ks"]
    spans = [t for _, t in spans]
    assert "&lt;|endoftext|&gt;" in spans[5]
    assert visible_ws(" <answer>") == '<span class="sft-ws">·</span>&lt;answer&gt;'
    assert visible_ws("\n") == '<span class="sft-ws">↵</span>'
    assert "6 tokens, 3 trained" in fragment


def test_image_is_an_embedded_png_data_uri():
    fragment = render_result(CheckResult(Status.PASS, 1, None, "e", evidence=(Image("plot", PNG),), id="demo.img"))
    seen = assert_inert(fragment)
    src = dict(seen.attrs)["src"]
    import base64
    assert base64.b64decode(src.split(",", 1)[1]) == PNG


def test_long_tables_are_cut_with_a_note():
    rows = tuple((i, f"row {i}") for i in range(500))
    fragment = render_result(CheckResult(Status.FAIL, 1, None, "e", id="demo.t",
                                         evidence=(Table("rows", ("i", "text"), rows),)))
    assert "row 199" in fragment and "row 200<" not in fragment
    assert "300 more rows" in fragment


def test_esc_escapes_quotes_for_attributes():
    assert esc('"a" \'b\' <c>') == "&quot;a&quot; &#x27;b&#x27; &lt;c&gt;"
    assert html.unescape(esc(PAYLOADS[1])) == PAYLOADS[1]


def test_tagged_table_is_filterable_by_tag():
    t = Table("every example", ("id", "tuned"), (("e0", "correct"), ("e1", "incorrect"), ("e2", "unparsable")),
              ((), ("discordant", "tuned incorrect"), ("tuned unparsable",)))
    fragment = render_result(CheckResult(Status.PASS, 1, None, "ok", evidence=(t,), id="demo.x"))
    assert_inert(fragment)
    # One table (not a copy per tag); each row carries its tags, the bar offers each tag + search.
    assert fragment.count("<table") == 1
    buttons = re.findall(r'<button type="button" class="sft-tf[^"]*" data-tag="([^"]*)">(.*?)</button>', fragment)
    assert [label for _, label in buttons] == ["all rows (3)", "discordant (1)", "tuned incorrect (1)",
                                               "tuned unparsable (1)"]
    tags = dict(re.findall(r'<tr data-tags="([^"]*)"><td>(e\d)</td>', fragment))
    by_id = {v: k for k, v in tags.items()}
    assert by_id == {"e0": "", "e1": "discordant tuned-incorrect", "e2": "tuned-unparsable"}
    assert 'class="sft-tf-search"' in fragment


def test_numbers_are_rounded_for_reading():
    from sftcheck.report_render import fmt_value, round_sig

    assert fmt_value({"ci_high": 0.031019166418703486, "n": 120}) == "ci_high: 0.03102, n: 120"
    assert fmt_value([0.123456789, 2]) == "[0.1235, 2]"
    assert round_sig({"a": [1.23456789e-9]}) == {"a": [1.235e-09]}
    fragment = render_result(CheckResult(Status.PASS, 0.1234567, None, "e", id="demo.r",
                                         metrics={"p": 3.9123456e-34, "ci": (0.0310191664, 0.5)}))
    assert "3.912e-34" in fragment and "0.03102" in fragment and "0.0310191664" not in fragment


def test_shared_evidence_is_shown_once_then_linked():
    strip = TokenStrip("row 0", ("a", "b"), (1, 2), (False, True), (False, False))
    seen: dict = {}
    first = render_result(CheckResult(Status.PASS, 1, None, "e", id="labels.one", evidence=(strip,)),
                          seen=seen, anchor="check-one")
    second = render_result(CheckResult(Status.PASS, 1, None, "e", id="labels.two", evidence=(strip,)),
                           seen=seen, anchor="check-two")
    assert 'class="sft-strip"' in first and 'class="sft-strip"' not in second
    key = re.search(r'id="(ev-[0-9a-f]+)"', first).group(1)
    assert f'href="#{key}"' in second and "labels.one" in second


def test_side_by_side_shows_prompt_and_gold_and_wraps_words():
    from sftcheck.report_assets import CSS

    pair = SideBySide("gain: e1", "base", "out a", "tuned", "<answer>4</answer>",
                      (("prompt", "Question: 2+2?"), ("gold", "4")))
    fragment = render_result(CheckResult(Status.PASS, 1, None, "e", id="gate.x", evidence=(pair,)))
    assert_inert(fragment)
    context = fragment.split('<div class="sft-context">', 1)[1].split('<div class="sft-side">', 1)[0]
    assert "<b>prompt</b><pre>Question: 2+2?</pre>" in context and "<b>gold</b><pre>4</pre>" in context
    assert "break-all" not in CSS and "overflow-wrap:anywhere" in CSS
