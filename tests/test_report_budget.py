"""The HTML report and the JSON verdict stay under their total size limits ([limits]
report_html_bytes / report_json_bytes) on a run whose evidence adds up to far more: the
evidence left out is counted and located, FAIL evidence is kept, the verdict is unchanged."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.test_report_ci import pytest_run

N = 100  # checks, each with ~20 KB of text and a ~60 KB table of outputs
CHECKS = r'''
import pytest
from sftcheck.checks.support.registry import check
from sftcheck.checks.support.result import CheckResult, Status, Table, Text

N = __N__

@check("demo.huge", stage="pretrain", title="huge evidence")
def huge(i):
    body = f"outputs of check {i}: " + "".join(f"<tok{i}-{k}> " for k in range(3000))
    rows = tuple((f"out {i}.{k}", f"generation {i}.{k} <b>" + "x" * 180) for k in range(300))
    status = Status.FAIL if i % 40 == 7 else Status.PASS
    return CheckResult(status, float(i), "<= 1000", f"check {i} saw {len(rows)} outputs", "fix it",
                       evidence=(Text(f"output {i}", body), Table(f"outputs {i}", ("id", "text"), rows)))

@pytest.mark.parametrize("i", range(N))
def test_huge(sft_check, i):
    sft_check(huge, i)

@pytest.mark.parametrize("i", range(3))
def test_crash(i):
    raise ValueError(f"crash {i}: " + "y" * 300_000)
'''.replace("__N__", str(N))
FAILING = [i for i in range(N) if i % 40 == 7]


def _run(root: Path, name: str, html_limit: int, json_limit: int):
    (root / f"{name}.toml").write_text(f"[limits]\nreport_html_bytes = {html_limit}\n"
                                       f"report_json_bytes = {json_limit}\n")
    proc = pytest_run(root, "test_big.py", "--sft-config", f"{name}.toml", "--html", f"{name}.html",
                      "--self-contained-html", "--sft-json", f"{name}.json", "-q", "--tb=line")
    verdict_line = next(ln for ln in proc.stdout.splitlines() if "sftcheck verdict:" in ln)
    return proc, verdict_line, root / f"{name}.html", root / f"{name}.json"


def _check_block(page: str, i: int) -> str:
    start = page.index(f'id="check-test_big.py--test_huge-{i}-"')
    return page[start:page.index("</details>", start)]


@pytest.mark.slow
def test_an_oversized_run_writes_capped_reports_that_say_what_was_left_out(tmp_path):
    (tmp_path / "test_big.py").write_text(CHECKS)
    full, full_line, full_html, full_json = _run(tmp_path, "full", 0, 0)
    cap, cap_line, html, js = _run(tmp_path, "cap", 1_500_000, 2_000_000)
    # the uncapped run really is oversized, the capped one within its limits
    assert full_html.stat().st_size > 5 * 1_500_000 and full_json.stat().st_size > 4 * 2_000_000
    assert html.stat().st_size <= 1_500_000 and js.stat().st_size <= 2_000_000
    # the verdict is unchanged everywhere: exit code, terminal line, JSON verdict and counts
    assert cap.returncode == full.returncode == 1
    assert cap_line == full_line and "sftcheck verdict: FAIL" in cap_line
    v_full, v_cap = json.loads(full_json.read_text()), json.loads(js.read_text())
    assert (v_cap["verdict"], v_cap["counts"]) == (v_full["verdict"], v_full["counts"]) == \
        ("fail", {"pretrain": {"fail": len(FAILING), "error": 0, "warn": 0, "pass": N - len(FAILING), "skip": 0},
                  "other": {"fail": 0, "error": 3, "warn": 0, "pass": 0, "skip": 0}})
    assert v_full["truncated"] is None
    # the JSON says what it left out; every FAIL check keeps its evidence, values never cut
    cut = v_cap["truncated"]
    elided = [(c["id"], c["status"]) for c in v_cap["checks"] for e in c["evidence"] if e["kind"] == "elided"]
    assert cut["elided"] == len(elided) > 0 and {s for _, s in elided} == {"pass"}
    assert "report_json_bytes" in cut["full_data"] and cut["limit_bytes"] == 2_000_000
    full_by_node = {c["nodeid"]: c for c in v_full["checks"]}
    for c in v_cap["checks"]:
        f = full_by_node[c["nodeid"]]
        assert (c["status"], c["value"], c["explanation"], c["fix"]) == \
            (f["status"], f["value"], f["explanation"], f["fix"])
        if c["status"] == "fail":
            assert c["evidence"] == f["evidence"]
    # the page says it was shortened, how much, and where the rest is
    page = html.read_text()
    notice = re.search(r'<p class="sft-size-notice"><b>Shortened:</b> Report size limit: ([\d,]+) evidence '
                       r"blocks under ([\d,]+) checks .*?</p>", page)
    assert notice, page[:3000]
    n_blocks = int(notice.group(1).replace(",", ""))
    assert n_blocks == page.count('class="sft-evidence sft-elided"') > 0
    assert "report_html_bytes = 1,500,000 bytes" in notice.group(0)
    assert int(notice.group(2).replace(",", "")) == sum("sft-elided" in _check_block(page, i) for i in range(N))
    assert "The JSON verdict cap.json holds the left-out evidence except" in notice.group(0)  # JSON cut too
    assert set(cut["checks"]) == {f"test_big.py::test_huge[{i}]" for i in range(N)
                                  if any(e["kind"] == "elided" for e in v_cap["checks"][i]["evidence"])}
    for i in range(3):  # a 300,000-character pytest message shows its head and tail
        block = page[page.index(f'id="check-test_big.py--test_crash-{i}-"'):]
        assert "more characters" in block[:block.index("</details>")] and len(block[:block.index("</details>")]) < 30_000
    for i in FAILING:  # FAIL evidence got room first
        block = _check_block(page, i)
        assert "sft-elided" not in block and f"outputs of check {i}" in block
    assert "sft-elided" in _check_block(page, N - 1)
    assert "sftcheck verdict: FAIL" in page and "sftcheck verdict: FAIL" in full_html.read_text()
    assert "Shortened:" not in full_html.read_text()
