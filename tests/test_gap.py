"""The gap before training (gap.*): every check proven both ways on synthetic model runs, and
end to end on the gap sub-world: `sftcheck run -m gap` reads "the gap is real" for the healthy
setup and "not real: the base already passes" when the declared base is the capable model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.checks import gap
from sftcheck.checks.support.nway import CUED, MAIN, ModelEval, ModelInfo, ModelRuns
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet, Outcome, Scored
from sftcheck.fixtures.broken import gap as broken_gap

REPO = Path(__file__).resolve().parent.parent


def _eval(model: str, role: str, right: int, n: int, eval_set: str = MAIN) -> ModelEval:
    gens = tuple(Generation(f"e{i}", f"Q{i}", f"out{i}", f"out{i}", 3, 2, FinishReason.EOS, 0.01) for i in range(n))
    scored = tuple(Scored(f"e{i}", "1", "1" if i < right else "2", Outcome.CORRECT if i < right else Outcome.INCORRECT,
                          "strict") for i in range(n))
    return ModelEval(model, role, eval_set, GenerationSet(model, gens, 0.1, 8), scored)


def _runs(*evals: ModelEval) -> ModelRuns:
    infos = tuple(dict.fromkeys(ModelInfo(e.model, e.role, e.model) for e in evals))
    sets = tuple(dict.fromkeys(e.eval_set for e in evals))
    return ModelRuns(infos, sets, {(e.model, e.eval_set): e for e in evals})


def healthy(n: int = 100, base: int = 5, ref: int = 90, cue: int = 6) -> ModelRuns:
    return _runs(_eval("b", "base", base, n), _eval("r", "reference", ref, n), _eval("b", "base", cue, n, CUED))


def test_a_real_gap_passes_every_gap_check():
    runs = healthy()
    for fn in (gap.base_ceiling, gap.reference_floor, gap.significance, gap.effect_size, gap.sentinel, gap.power):
        assert fn(runs).status is Status.PASS, (fn.spec.id, fn(runs).explanation)
    res = gap.verdict(runs)
    assert res.status is Status.PASS and res.value == "real"
    assert res.explanation.startswith("The gap is real: the base b 5/100"), res.explanation


@pytest.mark.parametrize("runs, check_id, value, cause", [
    (healthy(base=85), "gap.base_ceiling", "not real", "the base already passes"),
    (healthy(cue=80), "gap.sentinel", "not real", "a plain format cue unlocks the base"),
    (healthy(ref=50), "gap.reference_floor", "not real", "the reference does not reach the floor"),
    (healthy(base=25, ref=85, n=100), "gap.effect_size", None, None),  # h = 1.25: passes
    (healthy(n=6, base=0, ref=6, cue=0), "gap.power", "too small to measure", "too small to measure with 6 items"),
    (healthy(n=40, base=12, ref=34, cue=12), "gap.significance", None, None),
])
def test_each_broken_gap_fails_its_check_and_the_verdict_names_it(runs, check_id, value, cause):
    fn = {"gap.base_ceiling": gap.base_ceiling, "gap.sentinel": gap.sentinel, "gap.reference_floor":
          gap.reference_floor, "gap.effect_size": gap.effect_size, "gap.power": gap.power,
          "gap.significance": gap.significance}[check_id]
    res = fn(runs)
    if value is None:
        assert res.status is Status.PASS, res.explanation
        return
    assert res.status is Status.FAIL, res.explanation
    v = gap.verdict(runs)
    assert v.status is Status.FAIL and v.value == value, v.explanation
    assert cause in v.explanation, v.explanation


def test_effect_size_and_significance_fail_on_a_small_gap_and_the_verdict_says_too_small():
    runs = healthy(n=60, base=15, ref=21, cue=15)  # 0.25 vs 0.35: h = 0.22, p > 0.01
    assert gap.effect_size(runs).status is Status.FAIL
    assert gap.significance(runs).status is Status.FAIL
    assert gap.verdict(runs).value == "not real"  # the reference is below the default floor 0.8
    v = gap.verdict(runs, {"gap.reference_floor": {"min_accuracy": 0.3}})
    assert v.value == "too small to measure" and "with 60 items" in v.explanation, v.explanation


def test_the_verdict_honours_each_components_gates():
    runs = healthy(base=40)
    assert gap.verdict(runs).value == "not real"
    relaxed = {"gap.base_ceiling": {"max_accuracy": 0.5}, "gap.sentinel": None}
    assert gap.verdict(runs, relaxed).value == "real"


def test_without_a_reference_the_gap_checks_say_what_to_configure():
    runs = _runs(_eval("b", "base", 5, 50))
    for fn in (gap.reference_floor, gap.significance, gap.verdict):
        res = fn(runs)
        assert res.status is Status.SKIP and "role = \"reference\"" in res.explanation, res.explanation


def _gap_run(cfg: Path, out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-m", "sftcheck.cli", "run", "--config", str(cfg), "-m", "gap", "-q",
                           "--sft-json", str(out / "v.json"), "--html", str(out / "v.html"),
                           "--self-contained-html"], check=False, capture_output=True, text=True, env=env, timeout=900)
    text = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in text and "Traceback" not in text, text[-3000:]
    verdict = json.loads((out / "v.json").read_text())
    return {"checks": {c["id"]: c for c in verdict["checks"]}, "html": (out / "v.html").read_text(), "rc": proc.returncode}


@pytest.mark.slow
def test_gap_run_on_the_fixture_world_is_real_and_the_passing_base_is_not(gap_world, tmp_path):
    ok = _gap_run(gap_world.root / "gap.toml", tmp_path / "ok")
    checks = ok["checks"]
    assert ok["rc"] == 0 and {c["status"] for c in checks.values()} == {"pass"}, {
        k: c["explanation"] for k, c in checks.items() if c["status"] != "pass"}
    assert checks["gap.verdict"]["explanation"].startswith("The gap is real"), checks["gap.verdict"]["explanation"]
    table = checks["models.table"]["metrics"]["sets"][MAIN]["models"]
    assert {r["model"]: r["role"] for r in table} == {"base": "base", "reference": "reference",
                                                       "alt-base": "alternative"}
    assert "The gap is real" in ok["html"] and "exact McNemar p" in ok["html"] and "Holm" in ok["html"]
    bad = _gap_run(broken_gap.base_already_passes(gap_world, tmp_path / "bad"), tmp_path / "bad")
    v = bad["checks"]["gap.verdict"]
    assert bad["rc"] != 0 and v["status"] == "fail", v["explanation"]
    assert v["explanation"].startswith("The gap is not real: the base already passes"), v["explanation"]
    assert bad["checks"]["gap.base_ceiling"]["status"] == "fail"


def test_an_alternative_base_that_already_passes_is_a_warning_naming_it():
    ok = healthy()
    assert gap.base_ceiling(_runs(*ok.runs.values(), _eval("alt", "alternative", 3, 100))).status is Status.PASS
    res = gap.base_ceiling(_runs(*ok.runs.values(), _eval("alt", "alternative", 88, 100)))
    assert res.status is Status.WARN and res.value == 0.05, res.explanation
    assert "alternative base(s) alt 88/100" in res.explanation and "role = \"reference\"" in res.fix
    assert gap.verdict(_runs(*ok.runs.values(), _eval("alt", "alternative", 88, 100))).value == "real"


@pytest.mark.slow
def test_an_alternative_that_is_really_tuned_is_named_on_the_fixture_world(gap_world, tmp_path):
    got = _gap_run(broken_gap.strong_alternative(gap_world, tmp_path), tmp_path)["checks"]
    c = got["gap.base_ceiling"]
    assert c["status"] == "warn" and "instruct-alt" in c["explanation"] and c["value"] < 0.1, c["explanation"]
    assert c["metrics"]["alternatives"]["instruct-alt"] > 0.8 and c["metrics"]["alternatives"]["alt-base"] < 0.1
    assert got["gap.verdict"]["status"] == "pass", got["gap.verdict"]["explanation"]


@pytest.mark.slow
def test_a_reference_that_cannot_do_the_task_fails_the_floor_on_the_fixture_world(gap_world, tmp_path):
    got = _gap_run(broken_gap.weak_reference(gap_world, tmp_path), tmp_path)["checks"]
    floor = got["gap.reference_floor"]
    assert floor["status"] == "fail" and floor["value"] < 0.1, floor["explanation"]
    assert floor["explanation"].startswith("The reference does not reach the floor 0.8: reference 0/120")
    v = got["gap.verdict"]["explanation"]
    assert v.startswith("The gap is not real: the reference does not reach the floor"), v


@pytest.mark.slow
def test_a_cue_that_unlocks_the_base_is_caught_by_the_sentinel(gap_world, tmp_path):
    """The capable model served with the bare question scores 0 % (looks like a base to train);
    with the cue 'Question: ...\\nAnswer:' it scores 93 %: the gap is not real."""
    got = _gap_run(broken_gap.cue_unlocks(gap_world, tmp_path), tmp_path)["checks"]
    s = got["gap.sentinel"]
    assert s["status"] == "fail" and s["metrics"]["accuracy_run_prompt"] < 0.1 and s["metrics"]["accuracy_cue"] > 0.8, s
    assert got["gap.base_ceiling"]["status"] == "pass"  # the bare prompt hides the capability from the ceiling
    v = got["gap.verdict"]["explanation"]
    assert v.startswith("The gap is not real: a plain format cue unlocks the base"), v
