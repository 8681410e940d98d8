"""The fixture world scored by its MCP scorer end to end: ``sftcheck demo`` starts the fixture
MCP server (a real process over stdio, as world 1's config names it) and reports the reward
components base vs tuned; the refusal-trained adapter and the reported "Assistant start
token not found" run fail ``behaviour.reward_spread`` naming their cause, in the JSON and the
HTML verdict."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.fixtures.broken import behaviour as broken

ROOT = Path(__file__).resolve().parent.parent
MCP = "MCP tool 'score_batch' on python -m sftcheck.fixtures.scorer_mcp"  # world 1 scores in batches


def _env(tmp_path: Path) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "SFTCHECK_CACHE_DIR": str(tmp_path / "cache")}


def _checks(path: Path) -> dict:
    return {c["id"]: c for c in json.loads(path.read_text())["checks"]}


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sftcheck.cli", *args, "--html", "r.html", "--json", "r.json"],
                          capture_output=True, text=True, env=_env(tmp_path), check=False, timeout=900,
                          cwd=tmp_path)


@pytest.mark.slow
def test_demo_scores_with_the_mcp_scorer(world, tmp_path):
    out = _run(tmp_path, "demo", "-k", "reward or judge")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    checks = _checks(tmp_path / "r.json")
    comp = checks["scoring.reward_components"]
    assert comp["status"] == "pass" and comp["metrics"]["backend"] == MCP
    assert comp["metrics"]["scored"] == comp["metrics"]["requested"] == 240  # 120 base + 120 tuned
    stats = comp["metrics"]["components"]
    assert set(stats) == {"reward", "format", "correctness", "safety"}
    assert stats["correctness"]["tuned"]["mean"] > 0.9 > stats["correctness"]["base"]["mean"]
    titles = [e.get("title", "") for e in comp["evidence"]]
    assert "reward components: base vs tuned (means)" in titles
    assert "reward components (normalised means)" in titles  # the radar
    assert "reward components: histogram and box plot per component" in titles
    images = [e for e in comp["evidence"] if e["kind"] == "image"]
    assert len(images) == 2
    judge = checks["scoring.judge_calibrated"]
    assert judge["status"] == "pass" and judge["metrics"]["label_component"] == "correctness"
    assert judge["metrics"]["components"]["correctness"]["kappa"] == 1.0
    assert set(judge["metrics"]["components"]) == {"reward", "format", "correctness", "safety"}
    assert checks["behaviour.reward_spread"]["status"] == "pass"
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 2 and "reward components: histogram and box plot" in html
    assert "Cohen&#x27;s kappa per reward component" in html or "Cohen's kappa per reward component" in html


@pytest.mark.slow
def test_refusal_trained_adapter_fails_reward_spread_naming_the_refusals(world, tmp_path):
    config = broken.refuses(world, tmp_path / "variant")
    out = _run(tmp_path, "run", "--config", str(config), "-k", "reward_spread or reward_components")
    assert out.returncode == 1 and "Traceback" not in out.stdout, out.stdout[-3000:]
    checks = _checks(tmp_path / "r.json")
    spread = checks["behaviour.reward_spread"]
    assert spread["status"] == "fail" and spread["metrics"]["cause"] == "refusal"
    assert "Every one of 120 tuned outputs got the same score 0" in spread["explanation"]
    assert "the model refuses: 120 of 120 outputs are refusals" in spread["explanation"]
    assert "scorer: MCP tool 'score' on python -m sftcheck.fixtures.scorer_mcp" in spread["explanation"]
    offending = next(e for e in spread["evidence"] if e.get("title", "").startswith("offending outputs"))
    assert all("I'm sorry, I can't help." in row[3] for row in offending["rows"])
    # the scorer itself works: every output scored, the base (which answers) scores higher
    comp = checks["scoring.reward_components"]
    assert comp["status"] == "pass" and comp["metrics"]["components"]["reward"]["base"]["mean"] > 0


@pytest.mark.slow
def test_reported_start_token_run_names_the_marker_with_counts(world, tmp_path):
    """Every reward -10, the server's log "Assistant start token not found": the report names
    the assistant start every prompt ends with, missing from every output, with counts."""
    config = broken.start_token_reward(world, tmp_path / "variant")
    out = _run(tmp_path, "run", "--config", str(config), "-k", "reward_spread or reward_components")
    assert out.returncode == 1 and "Traceback" not in out.stdout, out.stdout[-3000:]
    spread = _checks(tmp_path / "r.json")["behaviour.reward_spread"]
    assert spread["status"] == "fail" and spread["metrics"]["cause"] == "missing marker"
    text = spread["explanation"]
    assert "Every one of 120 tuned outputs got the same score -10" in text
    assert "the marker 'Answer:' the scorer parses is missing from 120 of 120 outputs" in text
    assert "'Assistant start token not found' on 120 of them" in text
    assert "it appears in 120 of 120 prompts — only in the prompt template" in text
    messages = next(e for e in spread["evidence"] if e.get("title", "").startswith("the scorer's messages"))
    assert messages["rows"] == [["Assistant start token not found", 120]]
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Assistant start token not found" in html and "missing from 120 of 120 outputs" in html


@pytest.mark.slow
def test_one_mcp_server_session_serves_the_whole_run(world, tmp_path):
    """The eval set's outputs, the human-labelled outputs and the length-flip rescoring all go
    through one server process, started while the model loads; a run that scores nothing
    (``-m artifact``) starts none."""
    from sftcheck.fixtures.broken.run_config import variant_config

    started = tmp_path / "started"
    command = ["python", "-m", "sftcheck.fixtures.scorer_mcp", "--started", str(started)]
    cfg = variant_config(world, tmp_path / "cfg", scoring={"mcp": {"command": command, "tool": "score"},
                                                           "label_component": "correctness"})
    out = _run(tmp_path, "run", "--config", str(cfg), "-k", "reward or judge or length_flip")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    checks = _checks(tmp_path / "r.json")
    assert checks["scoring.reward_components"]["metrics"]["scored"] == 240
    assert checks["scoring.judge_calibrated"]["status"] == "pass"
    assert checks["scoring.length_flip"]["status"] in ("pass", "fail")  # it rescored (not skipped)
    assert len(started.read_text().split()) == 1, started.read_text()
    started.unlink()
    out = _run(tmp_path, "run", "--config", str(cfg), "-m", "artifact")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert not started.exists()
