"""One declaration of each check's stage: ``@check(stage=...)``.  The plugin marks every
model test from its check's spec, so ``-m <stage>`` selects exactly that stage's checks,
and every check has exactly one model test."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from sftcheck.checks.support.registry import STAGES, load_all

MODEL_TESTS = Path(__file__).resolve().parents[1] / "model_tests"
pytestmark = pytest.mark.slow  # one pytest collection per stage, ~4 s each

NODE = re.compile(r"test_(\w+)\.py::test_(\w+)(?:\[[^\]]*\])?$")  # [suite] parametrised


def collected(pytester: pytest.Pytester, *args: str) -> set[tuple[str, str]]:
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                                           str(MODEL_TESTS), "--collect-only", "-q", *args)
    assert result.ret in (0, 5), result.stdout.str()
    return {m.groups() for line in result.outlines if (m := NODE.search(line.strip()))}


def test_every_check_has_one_model_test_and_every_model_test_runs_a_check(pytester):
    specs = load_all()
    tests = collected(pytester)
    assert len(tests) == len(specs), (sorted(tests), sorted(specs))
    assert {(s.area, s.function) for s in specs.values()} == tests


@pytest.mark.parametrize("stage", STAGES)
def test_dash_m_stage_selects_exactly_that_stages_checks(pytester, stage):
    expected = {(s.area, s.function) for s in load_all().values() if s.stage == stage}
    assert expected, stage
    assert collected(pytester, "-m", stage) == expected


def test_model_tests_run_stage_by_stage_in_report_order(pytester):
    """pretrain first (with -x a broken data file stops the run before any model loads), then
    the stages in report order; within a stage, the files' own order."""
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", str(MODEL_TESTS),
                                           "--collect-only", "-q")
    assert result.ret in (0, 5), result.stdout.str()
    by_function = {(s.area, s.function): s.stage for s in load_all().values()}
    order = [by_function[m.groups()] for line in result.outlines if (m := NODE.search(line.strip()))]
    assert len(order) == len(by_function)
    ranks = [STAGES.index(stage) for stage in order]
    assert ranks == sorted(ranks), order
    assert order[0] == "pretrain" and order[-1] == "perf"
