"""scoring.judge_calibrated with a multi-component scorer: calibrated per component (the one
``[scoring] label_component`` names, or a table of labels per component), kappa reported for
every component; a component that agrees with the humans passes, one that does not fails
naming it."""
from __future__ import annotations

import pytest
from sftcheck.checks import scoring
from sftcheck.checks.support.calibration import human_judgements
from sftcheck.checks.support.result import Status

from sftcheck.scorers import Reward

N = 40


def verdicts() -> dict[str, Reward]:
    """The fixture scorer's shape: every output tagged (format 1), half right (correctness),
    all safe; the total 2 or 3 (so 'reward' binarised at 0.5 is always 1)."""
    out = {}
    for i in range(N):
        right = float(i % 2 == 0)
        out[f"e{i}"] = Reward(2.0 + right, {"format": 1.0, "correctness": right, "safety": 1.0})
    return out


HUMAN = {f"e{i}": int(i % 2 == 0) for i in range(N)}


def test_the_component_the_labels_judge_passes():
    r = scoring.judge_calibrated(verdicts(), HUMAN, "labels.jsonl", "MCP tool", "correctness")
    assert r.status is Status.PASS and r.value == pytest.approx(1.0), r.summary()
    assert "the judge's 'correctness' agrees on 100.0% of 40" in r.explanation
    comps = r.metrics["components"]
    assert comps["correctness"]["kappa"] == pytest.approx(1.0) and comps["correctness"]["judged_by_labels"]
    assert set(comps) == {"reward", "format", "correctness", "safety"}  # kappa for every component
    assert comps["format"]["kappa"] == pytest.approx(0.0) and not comps["format"]["judged_by_labels"]
    assert r.evidence[0].title.startswith("Cohen's kappa per reward component")


def test_a_component_that_does_not_agree_fails_naming_it():
    r = scoring.judge_calibrated(verdicts(), HUMAN, "labels.jsonl", "MCP tool", "format")
    assert r.status is Status.FAIL and r.value == pytest.approx(0.0), r.summary()
    assert "Cohen's kappa between the judge's 'format' and labels.jsonl is 0.00" in r.explanation
    assert "lenient/strict bias" in r.explanation
    assert "Component 'correctness' does agree with these labels" in r.explanation
    assert "label_component = 'correctness'" in r.explanation


def test_the_total_of_a_multi_component_scorer_is_not_the_label():
    """No label_component: the labels judge the total (2 or 3, all >= 0.5): fails, and says
    which component would agree."""
    r = scoring.judge_calibrated(verdicts(), HUMAN, "labels.jsonl")
    assert r.status is Status.FAIL and "the judge's 'reward'" in r.explanation
    assert "label_component = 'correctness'" in r.explanation


def test_labels_per_component_each_calibrated():
    records = {k: {"id": k, "labels": {"correctness": v, "safety": 1 - v}} for k, v in HUMAN.items()}
    human = human_judgements(records)
    r = scoring.judge_calibrated(verdicts(), human, "labels.jsonl")
    assert r.status is Status.FAIL and r.metrics["judged"] == ["correctness", "safety"]
    assert "the judge's 'safety'" in r.explanation and "the judge's 'correctness' agrees" in r.explanation
    assert "'correctness' and labels.jsonl" not in r.explanation  # only the failing one is blamed
    records = {k: {"id": k, "label": v, "labels": {"format": 1}} for k, v in HUMAN.items()}
    human = human_judgements(records, "correctness")
    assert human["e0"] == {"format": 1, "correctness": 1}
    r = scoring.judge_calibrated(verdicts(), human, "labels.jsonl")
    assert r.status is Status.WARN and "'format' is undefined" in r.explanation  # all one class on both sides


def test_a_component_the_judge_does_not_return():
    r = scoring.judge_calibrated(verdicts(), HUMAN, "labels.jsonl", None, "helpfulness")
    assert r.status is Status.FAIL and "'helpfulness'" in r.explanation
    assert "it returns: reward, format, correctness, safety" in r.explanation and "label_component" in r.fix


def test_single_number_judges_unchanged():
    good = {k: float(v) for k, v in HUMAN.items()}
    r = scoring.judge_calibrated(good, HUMAN)
    assert r.status is Status.PASS and "Judge and humans agree on 100.0% of 40" in r.explanation
    assert len(r.evidence) == 1  # no per-component table for a one-number judge


def test_skip_names_a_server_scorer_as_such():
    r = scoring.judge_calibrated(None, None, "human labels", "MCP tool 'score' on python -m x")
    assert r.status is Status.SKIP
    assert r.explanation.startswith("the scorer (MCP tool 'score' on python -m x) is set, but there are no human")
