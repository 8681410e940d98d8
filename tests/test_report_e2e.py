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


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (root / "test_demo.py").write_text(TEST_FILE)
    cfg_dir = root / PAYLOAD  # a folder name is config-controlled text too
    cfg_dir.mkdir()
    cfg = cfg_dir / "run.toml"
    cfg.write_text(f'[report]\ntitle = "verdict {SCRIPT}"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
         "test_demo.py", "--sft-config", str(cfg), "--html", "report.html", "--self-contained-html",
         "--sft-json", "out/verdict.json", "-rA"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
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


def test_hostile_text_never_appears_raw(run):
    _, page, data, _, _ = run
    # Outside the data blob (banner, provenance, title) and inside it (as the JS sees it).
    assert PAYLOAD not in page and SCRIPT not in page
    for tests in data["tests"].values():
        for t in tests:
            visible = [*t["resultsTableRow"], t.get("log", "")]
            visible += [e["content"] for e in t["extras"] if e["format_type"] == "html"]
            for fragment in visible:
                assert PAYLOAD not in fragment and SCRIPT not in fragment
                seen = inspect_html(fragment)
                assert set(seen.tags) <= ALLOWED_TAGS | {"td", "a"}, seen.tags
                assert not [a for a, _ in seen.attrs if a.startswith("on")]
    hostile = next(t for k, v in data["tests"].items() for t in v if "test_hostile" in k)
    extra = hostile["extras"][0]["content"]
    assert html.escape(PAYLOAD) in extra and html.escape(SCRIPT) in extra
    assert html.escape(PAYLOAD) in hostile["resultsTableRow"][1]  # the parametrize id, escaped


def test_banner_counts_per_stage_and_provenance(run):
    _, page, _, _, cfg = run
    assert 'class="sft-banner sft-verdict-fail"' in page
    banner = page.split('class="sft-banner', 1)[1].split("</div>", 1)[0]
    assert "<td>artifact</td><td>0</td><td>1</td><td>0</td><td>1</td><td>0</td>" in banner
    assert "<td>pretrain</td><td>1</td><td>0</td><td>1</td><td>0</td><td>0</td>" in banner
    assert "<h3>Provenance</h3>" in page
    assert html.escape(str(cfg), quote=True) in page  # config source, escaped
    assert "verdict &lt;script&gt;" in page  # [report] title, escaped by the template


def test_columns_show_check_value_and_threshold(run):
    _, page, data, _, _ = run
    for column in ("Check", "Check status", "Measured", "Threshold"):
        assert f">{column}</th>" in page
    fine = next(t for k, v in data["tests"].items() for t in v if k.endswith("test_fine"))
    row = "".join(fine["resultsTableRow"])
    assert '<td class="col-sftid">demo.fine</td>' in row
    assert '<td class="col-sftthreshold">&gt;= 0.9</td>' in row
    assert '<td class="col-sftvalue">1</td>' in row


def test_error_result_carries_the_traceback(run):
    _, _, data, verdict, _ = run
    boom = next(c for c in verdict["checks"] if c["id"] == "demo.boom")
    assert boom["status"] == "error"
    trace = boom["evidence"][0]["body"]
    assert "Traceback" in trace and "ValueError: exploded on" in trace
    row = next(t for k, v in data["tests"].items() for t in v if k.endswith("test_boom"))
    assert "Traceback" in row["extras"][0]["content"]


def test_json_verdict_has_one_record_per_check_and_provenance(run):
    _, _, _, verdict, cfg = run
    assert verdict["verdict"] == "fail"
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
