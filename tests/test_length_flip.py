"""scoring.length_flip: every model's outputs rescored cut after their answer and padded past
500 characters; a scorer whose verdict flips on length alone fails, naming the model and set.
Proven on synthetic flips and end to end on the gap sub-world (its N models, the world's own
scorer passes; the reported '> 500 characters = failure' scorer fails)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.checks import scoring
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.score_length import PAD_TO, Flip, LengthFlips, padded, truncated
from sftcheck.fixtures.broken import gap as broken_gap

REPO = Path(__file__).resolve().parent.parent
PATTERN = r"<answer>(.*?)</answer>"


def test_truncation_keeps_the_answer_and_padding_keeps_the_text():
    assert truncated(" <answer>42</answer> and then some rambling", PATTERN) == " <answer>42</answer>"
    assert truncated(" <answer>42</answer>", PATTERN) is None       # nothing after the answer
    assert truncated("no answer here", PATTERN) is None              # no answer to keep
    long = padded(" <answer>42</answer>")
    assert long.startswith(" <answer>42</answer>\n") and len(long) >= PAD_TO


def _flips(model: str, n: int, padded_flips: int, truncated_n: int = 0, truncated_flips: int = 0) -> LengthFlips:
    flips = [Flip(f"e{i}", "padded", "score 1", "score 0", 20, 620, "x" * 620) for i in range(padded_flips)]
    flips += [Flip(f"e{i}", "truncated", "score 0", "score 1", 300, 20, "x") for i in range(truncated_flips)]
    return LengthFlips(model, "[data] eval", "my_scorer", n, truncated_n, tuple(flips))


def test_length_flip_passes_a_length_blind_scorer_and_fails_one_that_flips():
    ok = scoring.length_flip([_flips("base", 100, 0), _flips("tuned", 100, 2, 50, 1)])
    assert ok.status is Status.PASS, ok.explanation
    bad = scoring.length_flip([_flips("base", 100, 0), _flips("tuned", 100, 0, 40, 30)])
    assert bad.status is Status.FAIL and "tuned on [data] eval" in bad.explanation, bad.explanation
    assert "30 of 40 when cut right after the answer" in bad.explanation
    relaxed = scoring.length_flip([_flips("tuned", 100, 0, 40, 30)], max_flip_rate=0.5)
    assert relaxed.status is Status.PASS
    assert scoring.length_flip([]).status is Status.SKIP


def _run(cfg: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                           str(REPO / "model_tests" / "test_scoring.py"), "-q", "-k", "length_flip",
                           "--sft-config", str(cfg), "--sft-json", str(out / "v.json")],
                          check=False, capture_output=True, text=True, env=env, timeout=900)
    assert "INTERNALERROR" not in proc.stdout + proc.stderr, proc.stdout[-3000:]
    return {c["id"]: c for c in json.loads((out / "v.json").read_text())["checks"]}["scoring.length_flip"]


@pytest.mark.slow
def test_length_flip_on_the_gap_world_both_ways(gap_world, tmp_path):
    ok = _run(gap_world.root / "nway.toml", tmp_path / "ok")
    assert ok["status"] == "pass", ok["explanation"]
    assert {r["model"] for r in ok["metrics"]["by_model"]} == {"base", "tuned", "reference", "alt-base"}
    bad = _run(broken_gap.length_biased_scorer(gap_world, tmp_path / "bad"), tmp_path / "bad")
    assert bad["status"] == "fail", bad["explanation"]
    assert bad["explanation"].startswith("The verdict flips on length alone: ")
    assert "length_cutoff_reward" in bad["explanation"]
    flipped = {r["model"]: r["padded_flips"] for r in bad["metrics"]["by_model"] if r["set"] == "[data] eval"}
    assert flipped["base"] == 0 and flipped["tuned"] > 100 and flipped["reference"] > 100, flipped
    # world 1's suites are scored by their own answer parse, not the scorer: no flips there
    assert all(r["padded_flips"] == 0 for r in bad["metrics"]["by_model"] if r["set"] != "[data] eval")
