"""The conversation suite end to end on world 2's conversation sub-world (``fixtures/world_convo.py``):
base and tuned fed their own replies turn by turn, per-turn and per-category success in the JSON
and the HTML, and each broken variant failing the right check at the right turn."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.fixtures import world_convo

REPO = Path(__file__).resolve().parent.parent
TESTS = ("model_tests/test_conversation.py", "model_tests/test_suite.py")


@pytest.fixture(scope="session")
def convo(world2):
    return world_convo.build_convo_world(world2)


def run(tmp_path: Path, config_path: Path, *args: str) -> tuple[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out_json = tmp_path / "verdict.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
         *(str(REPO / t) for t in TESTS), "-rA", "-q", "--sft-config", str(config_path),
         "--sft-json", str(out_json), "--html", str(tmp_path / "report.html"), "--self-contained-html", *args],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out and "Traceback (most recent call last)" not in out, out
    assert out_json.is_file(), f"no JSON verdict; pytest exited {proc.returncode}:\n{out[-6000:]}"
    verdict = json.loads(out_json.read_text())
    verdict["_html"] = (tmp_path / "report.html").read_text()
    return out, verdict


def outcome(out: str, test: str) -> str:
    m = re.search(rf"^(PASSED|FAILED|SKIPPED|ERROR)\S* \S*::{re.escape(test)}(?:\s|$)", out, re.MULTILINE)
    return m.group(1) if m else "missing"


def check(verdict: dict, check_id: str) -> dict:
    (c,) = [c for c in verdict["checks"] if c["id"] == check_id]
    return c


S = world_convo.SUITE


def test_healthy_conversation_suite_reports_per_turn_and_per_category(convo, tmp_path):
    out, verdict = run(tmp_path, world_convo.config(convo))
    for test in ("test_turn_success", "test_turn_format", "test_judge_calibrated"):
        assert outcome(out, f"{test}[{S}]") == "PASSED", out
    for test in ("test_data", "test_accuracy", "test_summary"):
        assert outcome(out, f"{test}[{S}]" if test != "test_summary" else test) == "PASSED", out
    turns = check(verdict, "conversation.turn_success")["metrics"]["per_turn"]
    assert set(turns) == {"base", "tuned", "single-turn-sft"}  # [models.*]: the reference runs every turn too
    assert set(turns["tuned"]) == {"memory", "constraint_update", "preference", "topic_continuity"}
    assert turns["tuned"]["constraint_update"]["4"]["rate"] >= 0.8, turns["tuned"]  # the update wins
    assert turns["base"]["memory"]["3"]["rate"] <= 0.5, turns["base"]
    acc = check(verdict, "suite.accuracy")["metrics"]
    assert acc["tuned"] >= 0.8 and acc["base"] <= 0.3 and acc["p"] < 0.01, acc
    rows = {(r["suite"], r["metric"]) for r in verdict["suites"]}
    assert (S, "conversation success") in rows and (S, "conversation success: memory") in rows, rows
    html = verdict["_html"]
    assert "success per category and turn" in html and "conversation success per category" in html
    assert "&lt;|eot_id|&gt;" in html or "<|eot_id|>" not in html


def test_a_history_window_loses_the_constraint_at_turn_3(convo, tmp_path):
    out, verdict = run(tmp_path, world_convo.history_window(convo, tmp_path), "-k", "turn_success")
    assert outcome(out, f"test_turn_success[{S}]") == "FAILED", out
    c = check(verdict, "conversation.turn_success")
    assert c["value"] == 3 and c["metrics"]["drop_turn"] == 3, c["explanation"]
    assert {"memory", "constraint_update"} <= set(c["metrics"]["drop_categories"]), c["explanation"]
    assert "no longer holds the user's message of turn(s) 1" in c["explanation"], c["explanation"]
    assert "build_prompt_last3" in c["explanation"]


def test_a_model_trained_on_single_turns_loses_the_constraint_at_turn_3(convo, tmp_path):
    out, verdict = run(tmp_path, world_convo.single_turn_model(convo, tmp_path), "-k", "turn_success or accuracy")
    assert outcome(out, f"test_turn_success[{S}]") == "FAILED", out
    c = check(verdict, "conversation.turn_success")
    assert c["value"] == 3 and {"memory", "constraint_update"} <= set(c["metrics"]["drop_categories"]), c["explanation"]
    assert "the model itself loses what was said before turn 3" in c["explanation"], c["explanation"]
    assert "no longer holds" not in c["explanation"]


def test_a_lenient_judge_fails_calibration_with_its_disagreements(convo, tmp_path):
    out, verdict = run(tmp_path, world_convo.lenient_judge(convo, tmp_path), "-k", "judge_calibrated")
    assert outcome(out, f"test_judge_calibrated[{S}]") == "FAILED", out
    c = check(verdict, "conversation.judge_calibrated")
    assert c["value"] <= 0.1 and "too lenient" in c["explanation"], c["explanation"]
    assert any(e["title"].startswith("disagreements") for e in c["evidence"])


def test_a_stop_set_without_the_turn_end_breaks_the_format_at_turn_1(convo, tmp_path):
    out, verdict = run(tmp_path, world_convo.no_turn_end(convo, tmp_path), "-k", "turn_format")
    assert outcome(out, f"test_turn_format[{S}]") == "FAILED", out
    c = check(verdict, "conversation.turn_format")
    assert c["value"] == 1 and "lose their format at turn 1" in c["explanation"], c["explanation"]
    assert "'<|eot_id|>' and ran on past it" in c["explanation"] and "no retraining needed" in c["fix"], c["explanation"]
