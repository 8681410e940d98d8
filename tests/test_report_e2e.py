"""End to end: a real pytest run writes the pytest-html verdict and the JSON verdict.

One subprocess run (module fixture) of a small test file with its own checks — one
passes, one fails carrying a hostile payload in every field, every evidence type, the
parametrize id, the report title and the config folder's name, one warns, one raises —
then each test below reads a different part of what it wrote.  Uses only checks defined
here, so it does not change when the real checks do.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_report_render import ALLOWED_TAGS, inspect_html

REPO = Path(__file__).resolve().parent.parent
PAYLOAD = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"

TEST_FILE = r'''
import pytest
from sftcheck.checks.support.registry import check
from sftcheck.checks.support.result import CheckResult, Status, Table, Text, TokenStrip, SideBySide, Image

P = "<img src=x onerror=alert(1)>" + "<script>alert(2)</script>"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")

@check("demo.hostile", stage="artifact", title="hostile " + P)
def hostile(*, limit: float = 0.5):
    return CheckResult(Status.FAIL, P, "<= " + P, "explained " + P, "fix " + P,
        metrics={P: P}, evidence=(Table(P, (P, "n"), ((P, 1),)), Text(P, P),
        TokenStrip(P, (P, " ", "<|endoftext|>"), (1, 2, 3), (False, True, True), (False, False, True)),
        SideBySide(P, P, P, P, P), Image(P, PNG)))

@check("demo.fine", stage="pretrain", title="fine")
def fine(*, min_share: float = 0.9):
    return CheckResult(Status.PASS, 1.0, f">= {min_share}", "every row is fine")

@check("demo.meh", stage="pretrain", title="meh")
def meh():
    return CheckResult(Status.WARN, 0.2, "<= 0.1", "a few rows look odd", "look at them")

@check("demo.boom", stage="artifact", title="boom")
def boom():
    raise ValueError("exploded on " + P)

@pytest.mark.parametrize("row", [P])
def test_hostile(sft_check, row):
    sft_check(hostile)

def test_fine(sft_check):
    sft_check(fine)

def test_meh(sft_check):
    sft_check(meh)

def test_boom(sft_check):
    sft_check(boom)
'''


BRANCH = "<svg/onload=document.title='XSS-BR'>"  # a valid git branch name (issue 9)


def sft_page(page: str) -> str:
    """The verdict page's markup without its own constant style sheet and script."""
    from sftcheck.report_assets import CSS, JS

    part = page.split('<div class="sft-page">', 1)[1].rsplit("</div><script>", 1)[0]
    assert CSS not in part and JS not in part
    return '<div class="sft-page">' + part + "</div>"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (root / "test_demo.py").write_text(TEST_FILE)
    cfg_dir = root / PAYLOAD  # a folder name is config-controlled text too
    cfg_dir.mkdir()
    cfg = cfg_dir / "run.toml"
    cfg.write_text(f'[report]\ntitle = "verdict {SCRIPT}"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GIT_BRANCH": BRANCH}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
         "test_demo.py", "--sft-config", str(cfg), "--html", "report.html", "--self-contained-html",
         "--sft-json", "out/verdict.json", "--junitxml", "junit.xml", "-rA"],
        check=False, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    proc.cwd = root
    page = (root / "report.html").read_text(encoding="utf-8")
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob, "pytest-html data blob not found"
    data = json.loads(html.unescape(blob.group(1)))
    verdict = json.loads((root / "out" / "verdict.json").read_text())
    return proc, page, data, verdict, cfg


def test_run_has_no_internal_error(run):
    proc, *_ = run
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out
    assert proc.returncode == 1, out  # the failing and erroring checks fail the run
    assert "sftcheck verdict: FAIL" in out
    # the terminal names every non-passing check with its cause
    assert "  FAIL  demo.hostile: explained" in out and "  ERROR demo.boom: The check could not run" in out
    assert "  WARN  demo.meh: a few rows look odd" in out


def test_hostile_text_never_appears_raw(run):
    _, page, data, _, _ = run
    assert PAYLOAD not in page and SCRIPT not in page and BRANCH not in page
    fragment = sft_page(page)
    seen = inspect_html(fragment)
    assert set(seen.tags) <= ALLOWED_TAGS, set(seen.tags) - ALLOWED_TAGS
    assert not [a for a, _ in seen.attrs if a.startswith("on")]
    assert html.escape(PAYLOAD) in fragment and html.escape(SCRIPT) in fragment
    # pytest-html's own table gets no rows (every test is a row of the verdict page) ...
    assert data["tests"] == {}
    # ... and pytest-metadata's CI variables reach its innerHTML escaped (issue 9, item 2)
    assert data["environment"]["GIT_BRANCH"] == html.escape(BRANCH)


def test_banner_names_every_non_passing_check_with_a_link(run):
    _, page, _, _, cfg = run
    fragment = sft_page(page)
    banner = fragment.split('id="sft-verdict"', 1)[1].split("</div>", 1)[0]
    assert "sftcheck verdict: FAIL" in banner
    named = re.findall(r'sft-status-(\w+)">\w+</span> <a href="#([^"]+)"><code>([^<]+)</code></a> — ([^<]*)</li>',
                       banner)
    assert [(s, i) for s, _, i, _ in named] == [("warn", "demo.meh"), ("fail", "demo.hostile"),
                                                ("error", "demo.boom")]
    for _, anchor, _, cause in named:
        assert f'id="{anchor}"' in fragment and cause
    assert "<td>artifact</td><td></td><td>1</td><td></td><td></td><td></td>" not in banner  # not pass-only
    assert "<td>pretrain</td><td></td><td></td><td>1</td><td>1</td><td></td>" in banner
    assert "<td>artifact</td><td>1</td><td>1</td><td></td><td></td><td></td>" in banner
    assert fragment.index('id="sft-verdict"') < fragment.index('id="sft-checks"') < fragment.index("Provenance")
    assert html.escape(str(cfg), quote=True) in page  # config source, escaped
    assert "verdict &lt;script&gt;" in page  # [report] title, escaped by the template


def test_rows_in_verdict_order_with_stage_status_value_threshold(run):
    _, page, _, _, _ = run
    fragment = sft_page(page)
    rows = re.findall(r'<details class="sft-check sft-s-(\w+)" id="[^"]+" data-order="\d+" data-status="\w+" '
                      r'data-stage="(\w+)"[^>]*?( open)?>', fragment)
    # non-passing first (pipeline order: pretrain before artifact), FAIL/ERROR/WARN open
    assert rows == [("warn", "pretrain", " open"), ("fail", "artifact", " open"), ("error", "artifact", " open"),
                    ("pass", "pretrain", "")]
    fine = fragment.split('data-kid="demo.fine"', 1)[1].split("</summary>", 1)[0]
    assert "<span>pretrain</span>" in fine and "sft-status-pass" in fine
    assert '<span class="sft-cell-value">1</span><span class="sft-cell-thr">&gt;= 0.9</span>' in fine


def test_error_result_carries_the_traceback(run):
    _, page, _, verdict, _ = run
    boom = next(c for c in verdict["checks"] if c["id"] == "demo.boom")
    assert boom["status"] == "error"
    trace = boom["evidence"][0]["body"]
    assert "Traceback" in trace and "ValueError: exploded on" in trace
    row = sft_page(page).split('data-kid="demo.boom"', 1)[1].split("</details>", 1)[0]
    assert "Traceback" in row


def test_junit_carries_check_properties(run):
    import xml.etree.ElementTree as ET

    proc, *_ = run
    root = ET.parse(proc.cwd / "junit.xml").getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    meh = {p.get("name"): p.get("value") for p in cases["test_meh"].iter("property")}
    assert meh == {"sftcheck_check_id": "demo.meh", "sftcheck_stage": "pretrain", "sftcheck_status": "warn",
                   "sftcheck_value": "0.2", "sftcheck_threshold": "<= 0.1",
                   "sftcheck_cause": "a few rows look odd"}
    fine = {p.get("name"): p.get("value") for p in cases["test_fine"].iter("property")}
    assert fine["sftcheck_status"] == "pass" and fine["sftcheck_threshold"] == ">= 0.9"


def test_json_verdict_has_one_record_per_check_and_provenance(run):
    _, _, _, verdict, cfg = run
    assert verdict["verdict"] == "fail" and verdict["complete"] is True and verdict["checks_not_run"] == 0
    assert verdict["pytest_exit_status"] == 1
    by_id = {c["id"]: c for c in verdict["checks"]}
    assert sorted(by_id) == ["demo.boom", "demo.fine", "demo.hostile", "demo.meh"]
    assert len(verdict["checks"]) == 4
    assert by_id["demo.fine"] == {**by_id["demo.fine"], "status": "pass", "value": 1.0,
                                  "threshold": ">= 0.9", "stage": "pretrain", "title": "fine"}
    assert by_id["demo.meh"]["status"] == "warn"
    assert by_id["demo.hostile"]["evidence"][-1] == {"kind": "image", "title": PAYLOAD + SCRIPT,
                                                       "png_bytes": 66}
    assert verdict["counts"]["artifact"]["error"] == 1
    prov = verdict["provenance"]
    assert prov["config source"] == str(cfg)
    assert "title" in prov["config contents"]
    assert {"torch", "transformers", "peft", "pytest-html"} <= set(prov["libraries"])
    assert "python" in prov["machine"] and "device" in prov
