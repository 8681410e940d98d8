"""The verdict page in a real browser: headless Debian chromium driven by Playwright.

Three reports are written by real pytest runs: a failing one (a broken variant of the
fixture world, stages that load no weights), a passing one (the healthy world, same
stages) and a hostile one (injection strings in every field of every evidence type and in a
data row; the CI-variable one is a row of tests/test_reproductions.py).  Asserted in the browser: the verdict and the failing
checks' names are in the first viewport with WCAG-AA contrast; the filters change the
visible rows; banner links open their row; no network request; no injected script runs.
Screenshots of the failing and the passing report are kept (paths printed; directory
``$SFTCHECK_ARTIFACTS``, default ``reports/selftest/``).

Needs ``playwright`` (the ``dev`` extra) and chromium (``apt-get install chromium``, done by
the README's test command and ``.ci/run``); without them these tests SKIP saying so.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_report_e2e import TEST_FILE

REPO = Path(__file__).resolve().parent.parent
STAGES = "pretrain or artifact or training"
VIEWPORT = {"width": 1280, "height": 800}
BRANCH = "<svg/onload=document.title='XSS-BR'>"
DATA_PAYLOAD = "<img src=x onerror=\"document.title='XSS-DATA'\"><script>document.title='XSS-DATA2'</script>"
CHROMIUM = os.environ.get("SFTCHECK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"

TAGGED = r'''
from sftcheck.checks.support.result import Table

@check("demo.tagged", stage="behaviour", title="tagged rows")
def tagged():
    rows = tuple((f"e{i}", "correct" if i % 3 else "wrong " + P) for i in range(9))
    tags = tuple(() if i % 3 else ("tuned incorrect",) for i in range(9))
    return CheckResult(Status.PASS, 1.0, None, "rows", evidence=(Table("every example", ("id", "tuned"), rows, tags),))

def test_tagged(sft_check):
    sft_check(tagged)
'''

pytestmark = pytest.mark.slow


def artifacts_dir() -> Path:
    out = Path(os.environ.get("SFTCHECK_ARTIFACTS", REPO / "reports" / "selftest"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        yield b
        b.close()


def _pytest(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                           *args, "--html", "report.html", "--self-contained-html", "--sft-json", "v.json"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def failing_report(tmp_path_factory, world) -> tuple[Path, dict]:
    from sftcheck.fixtures.broken.pretrain import all_masked

    root = tmp_path_factory.mktemp("failing")
    dest = root / "variant"
    dest.mkdir()
    cfg = all_masked(world, dest)
    proc = _pytest(root, str(REPO / "model_tests"), "-m", STAGES, "--sft-config", str(cfg))
    assert proc.returncode == 1, proc.stdout[-3000:]
    return root / "report.html", json.loads((root / "v.json").read_text())


@pytest.fixture(scope="module")
def passing_report(tmp_path_factory, world) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("passing")
    proc = _pytest(root, str(REPO / "model_tests"), "-m", STAGES, "--sft-world")
    assert proc.returncode == 0, proc.stdout[-3000:]
    return root / "report.html", json.loads((root / "v.json").read_text())


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory, world) -> Path:
    """Injection strings in every evidence type (test_report_e2e's checks), in a tagged table and
    in the first training row (tokens, tables); the CI-variable payload (pytest-metadata) is
    row 2 of tests/test_reproductions.py, which uses BRANCH and this module's browser."""
    from sftcheck.fixtures.broken.run_config import variant_config

    root = tmp_path_factory.mktemp("hostile")
    (root / "test_demo.py").write_text(TEST_FILE + TAGGED)
    (root / "run.toml").write_text("")
    proc = _pytest(root, "test_demo.py", "--sft-config", "run.toml")
    assert "INTERNALERROR" not in proc.stdout + proc.stderr
    data = root / "data"
    data.mkdir()
    rows = (world.root / "data" / "train.jsonl").read_text().splitlines()
    first = json.loads(rows[0])
    first.update(question=DATA_PAYLOAD + first["question"], answer=first["answer"])
    (data / "train.jsonl").write_text("\n".join([json.dumps(first), *rows[1:]]) + "\n")
    (root / "world").mkdir()
    cfg = variant_config(world, root / "world", data={"train": str(data / "train.jsonl")})
    proc2 = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider", str(REPO / "model_tests"),
         "-m", "pretrain", "--sft-config", str(cfg), "--html", "data.html", "--self-contained-html"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=600, check=False)
    assert "INTERNALERROR" not in proc2.stdout + proc2.stderr
    return root


def _open(browser, path: Path):
    page = browser.new_page(viewport=VIEWPORT)
    seen = {"requests": [], "dialogs": [], "errors": []}
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, seen


def _in_first_viewport(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]


CONTRAST_JS = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = (c) => { const v = c.map((x) => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
                        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  let bg = el, b = 'rgba(0, 0, 0, 0)';
  while (bg && (b = getComputedStyle(bg).backgroundColor) === 'rgba(0, 0, 0, 0)') { bg = bg.parentElement; }
  const l1 = lum(rgb(getComputedStyle(el).color)), l2 = lum(rgb(bg ? b : 'rgb(255,255,255)'));
  return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
}"""


def test_failing_report_shows_verdict_and_failing_checks_first(browser, failing_report, record_property):
    path, verdict = failing_report
    failing = sorted(c["id"] for c in verdict["checks"] if c["status"] in ("fail", "error"))
    assert verdict["verdict"] == "fail" and failing
    page, seen = _open(browser, path)
    assert _in_first_viewport(page, "#sft-verdict")
    assert "sftcheck verdict: FAIL" in page.locator("#sft-verdict h2").inner_text()
    for check_id in failing:
        link = page.locator("#sft-verdict a", has_text=check_id)
        assert link.count() == 1, check_id
        box = link.bounding_box()
        assert box and box["y"] + box["height"] <= VIEWPORT["height"], (check_id, box)
    for selector in ("#sft-verdict h2", "#sft-verdict li", "#sft-verdict p"):
        ratio = page.locator(selector).first.evaluate(CONTRAST_JS)
        assert ratio >= 4.5, (selector, ratio)  # WCAG AA for normal text
    shot = artifacts_dir() / "failing-report.png"
    page.screenshot(path=str(shot))
    print(f"screenshot of the failing report: {shot}")
    record_property("screenshot", str(shot))
    # the banner link opens its row and brings it into view
    link = page.locator("#sft-verdict a").first
    target = link.get_attribute("href")[1:]
    row = page.locator(f'[id="{target}"]')
    row.evaluate("(d) => { d.open = false; }")
    page.locator("#sft-search").fill("no such check")  # hide it behind a filter, too
    assert not row.is_visible()
    link.click()
    assert row.get_attribute("open") is not None and row.is_visible()
    assert not seen["errors"] and not seen["dialogs"]
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]


def test_filters_change_the_visible_rows(browser, failing_report):
    path, verdict = failing_report
    page, seen = _open(browser, path)
    rows = page.locator("details.sft-check")
    total = rows.count()
    visible = lambda: sum(1 for i in range(total) if rows.nth(i).is_visible())
    assert visible() == total == len(verdict["checks"]) + len(verdict["not_run"])
    n_pass = sum(1 for c in verdict["checks"] if c["status"] == "pass")
    page.locator('input.sft-status-filter[value="pass"]').uncheck()
    assert visible() == total - n_pass
    assert page.locator("#sft-shown").inner_text() == f"{total - n_pass} of {total} checks shown"
    page.locator('input.sft-status-filter[value="pass"]').check()
    page.locator("#sft-stage-filter").select_option("artifact")
    n_artifact = sum(1 for c in verdict["checks"] if c["stage"] == "artifact")
    assert visible() == n_artifact > 0
    page.locator("#sft-stage-filter").select_option("")
    page.locator("#sft-search").fill("labels.not_all_masked")  # its row, and rows whose evidence refers to it
    assert 1 <= visible() < total
    assert page.locator('details.sft-check[data-kid="labels.not_all_masked"]').is_visible()
    page.locator("#sft-search").fill("no such text anywhere")
    assert visible() == 0
    page.locator("#sft-search").fill("")
    # sorting by stage puts the rows in pipeline order
    page.locator('#sft-checks-head [data-sort="kstage"]').click()
    stages = [rows.nth(i).get_attribute("data-stage") for i in range(total)]
    from sftcheck.checks.support.registry import STAGES
    assert stages == sorted(stages, key=STAGES.index)
    assert not seen["errors"]


def test_passing_report_screenshot_and_no_network(browser, passing_report, record_property):
    path, verdict = passing_report
    assert verdict["verdict"] == "pass"
    page, seen = _open(browser, path)
    assert _in_first_viewport(page, "#sft-verdict")
    assert "sftcheck verdict: PASS" in page.locator("#sft-verdict h2").inner_text()
    assert page.locator("details.sft-check[open]").count() == 0  # passing rows start closed
    shot = artifacts_dir() / "passing-report.png"
    page.screenshot(path=str(shot))
    print(f"screenshot of the passing report: {shot}")
    record_property("screenshot", str(shot))
    assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
    assert not seen["errors"]


def test_injected_markup_never_executes(browser, hostile_report):
    for name in ("report.html", "data.html"):
        page, seen = _open(browser, hostile_report / name)
        page.locator("#show_all_details").evaluate("(b) => b.click()")  # pytest-html's view, if any
        for d in page.locator("details").all():
            d.evaluate("(d) => d.open = true")
        page.wait_for_timeout(300)
        title = page.title()
        assert "XSS" not in title, (name, title)
        assert not seen["dialogs"], (name, seen["dialogs"])
        assert page.evaluate("document.querySelectorAll('[onerror],[onload],svg,iframe').length") == 0, name
        scripts = page.evaluate("[...document.scripts].map((s) => s.textContent.slice(0, 40))")
        assert len(scripts) == 2, (name, scripts)  # pytest-html's and sftcheck's own, nothing injected
        assert all(u.startswith(("file:", "data:")) for u in seen["requests"]), seen["requests"]
        if name == "report.html":
            # the per-example table's filters work on the hostile table too
            box = page.locator(".sft-tagged").first
            rows = box.locator("tbody tr")
            box.locator('.sft-tf[data-tag="tuned-incorrect"]').click()
            assert sum(1 for r in rows.all() if r.is_visible()) == 3
            box.locator(".sft-tf-search").fill("e4")
            assert sum(1 for r in rows.all() if r.is_visible()) == 0
            box.locator('.sft-tf[data-tag=""]').click()
            assert sum(1 for r in rows.all() if r.is_visible()) == 1
        else:
            assert "XSS-DATA" in page.locator("body").inner_text()  # the data row is there, as text
