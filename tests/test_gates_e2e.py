"""End to end: the gate, scoring and perf model tests run by pytest on the fixture world and
on broken variants (a subprocess per run, as a user runs them)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.fixtures.broken import gates as broken

REPO = Path(__file__).resolve().parent.parent
MODEL_TESTS = REPO / "model_tests"


def run(tmp_path: Path, test_file: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
         str(MODEL_TESTS / test_file), "-rA", "-q", *args],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out and "Traceback (most recent call last)" not in out, out
    return out


def outcome(out: str, test: str) -> str:
    """The -rA outcome word of ``model_tests/<test>`` (paths print relative to the cwd)."""
    m = re.search(rf"^(PASSED|FAILED|SKIPPED|ERROR)\S* \S*model_tests/{re.escape(test)}\b", out, re.MULTILINE)
    return m.group(1) if m else "missing"


def test_duplicate_ids_fail_the_paired_gates_loudly(world, tmp_path):
    out = run(tmp_path, "test_gates.py", "--sft-config", str(broken.duplicate_ids(world, tmp_path)))
    for name in ("test_base_ceiling", "test_tuned_floor", "test_mcnemar", "test_effect_size"):
        assert outcome(out, f"test_gates.py::{name}") == "FAILED", out
    assert out.count("10 duplicate example id(s) in the eval data") >= 4, out
    assert outcome(out, "test_gates.py::test_contamination") == "PASSED", out


def test_declared_instruct_base_fails_contamination(world, tmp_path):
    out = run(tmp_path, "test_gates.py", "-k", "contamination", "--sft-config",
              str(broken.instruct_declared(world, tmp_path)))
    assert outcome(out, "test_gates.py::test_contamination") == "FAILED", out
    assert "carries instruct/chat marker(s) Instruct" in out, out


@pytest.mark.parametrize("variant, expected, text", [
    (broken.calibrated_judge, "PASSED", None),
    (broken.contrarian_judge, "FAILED", "Cohen's kappa between the judge"),
])
def test_judge_calibration_both_ways(world, tmp_path, variant, expected, text):
    out = run(tmp_path, "test_scoring.py", "--sft-config", str(variant(world, tmp_path)))
    assert outcome(out, "test_scoring.py::test_judge_calibrated") == expected, out
    if text:
        assert text in out and "inverted scale" in out, out


def test_judge_calibrated_per_component_both_ways(world, tmp_path):
    """World 1 scores with its MCP scorer (format, correctness, safety); its human labels judge
    correctness ([scoring] label_component): passes, kappa reported per component.  Pointed at
    'format' instead, it fails naming 'format' and the component that agrees."""
    ok = run(tmp_path, "test_scoring.py", "-k", "judge", "--sft-world")
    assert outcome(ok, "test_scoring.py::test_judge_calibrated") == "PASSED", ok
    bad = run(tmp_path, "test_scoring.py", "-k", "judge", "--sft-config",
              str(broken.judge_wrong_component(world, tmp_path / "variant")))
    assert outcome(bad, "test_scoring.py::test_judge_calibrated") == "FAILED", bad
    assert "Cohen's kappa between the judge's 'format'" in bad and "is 0.00 on 40 outputs" in bad, bad
    assert "set [scoring] label_component = 'correctness'" in bad, bad


def test_scorer_without_human_labels_names_the_missing_labels(world, tmp_path):
    out = run(tmp_path, "test_scoring.py", "--sft-config", str(broken.scorer_without_labels(world, tmp_path)))
    assert re.search(r"^SKIPPED \[1\] \S*model_tests/test_scoring.py:\d+: scoring.judge_calibrated", out, re.MULTILINE), out
    assert "is set, but there are no human labels" in out and "set [scoring] human_labels" in out, out
    assert "set [scoring] scorer" not in out, out


def test_throughput_both_ways(world, tmp_path):
    ok = run(tmp_path, "test_perf.py", "--sft-world")
    assert outcome(ok, "test_perf.py::test_throughput") == "PASSED", ok
    assert "benchmark: 1 tests" not in ok, ok  # no extra passes unless perf_rounds asks
    slow = run(tmp_path, "test_perf.py", "--sft-config", str(broken.unreachable_throughput(world, tmp_path)))
    assert outcome(slow, "test_perf.py::test_throughput") == "FAILED", slow
    assert "Too slow: base runs" in slow and "(< 1e+06)" in slow, slow


def test_throughput_floor_fails_on_world2(world2, tmp_path):
    """World 2's healthy run passes perf.throughput (tests/test_world2_e2e.py); a floor no
    machine meets fails it there too."""
    slow = run(tmp_path, "test_perf.py", "--sft-config", str(broken.unreachable_throughput(world2, tmp_path)))
    assert outcome(slow, "test_perf.py::test_throughput") == "FAILED", slow
    assert "Too slow: base runs" in slow and "(< 1e+06)" in slow, slow
