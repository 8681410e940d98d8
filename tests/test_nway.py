"""N models in one run ([models.<name>]): config validation, the [model] section's implied
base / tuned, the pairwise statistics (exact McNemar, Holm), and the N-way checks proven
both ways on the fixture world (an extra model runs; one that cannot be loaded is named)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.checks import models
from sftcheck.checks.support.nway import MAIN, ModelEval, ModelInfo, ModelRuns, find_pair, pairwise
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet, Outcome, Scored

from sftcheck import config
from sftcheck.nway.spec import implied_models

REPO = Path(__file__).resolve().parent.parent


def _load(tmp_path: Path, body: str):
    (tmp_path / "ref").mkdir(exist_ok=True)
    (tmp_path / "lora").mkdir(exist_ok=True)
    p = tmp_path / "run.toml"
    p.write_text(body)
    return config.load(p)


def test_models_tables_load_with_roles_and_resolved_paths(tmp_path):
    cfg = _load(tmp_path, '[models.ref]\nrole = "reference"\npath = "ref"\n'
                          '[models.other]\nrole = "alternative"\npath = "org/some-base"\n'
                          '[models.lora]\nrole = "tuned"\nadapter = "lora"\nbase = "ref"\n')
    ref, other, lora = cfg.models
    assert (ref.role, ref.path) == ("reference", str(tmp_path / "ref"))
    assert other.path == "org/some-base"  # a hub id stays an id
    assert (lora.adapter, lora.base) == (str(tmp_path / "lora"), str(tmp_path / "ref"))


def test_the_model_section_still_means_base_and_tuned(tmp_path):
    cfg = _load(tmp_path, '[model]\nbase = "ref"\nadapter = "lora"\n'
                          '[models.instruct]\nrole = "reference"\npath = "ref"\n')
    got = [(m.name, m.role, m.implied) for m in implied_models(cfg)]
    assert got == [("base", "base", "base"), ("tuned", "tuned", "tuned"), ("instruct", "reference", None)]
    # a [models.*] entry of role base replaces the implied one
    cfg = _load(tmp_path, '[model]\nbase = "ref"\nadapter = "lora"\n[models.b]\nrole = "base"\npath = "ref"\n')
    assert [(m.name, m.role) for m in implied_models(cfg)] == [("tuned", "tuned"), ("b", "base")]


@pytest.mark.parametrize("body, words", [
    ('[models.x]\nrole = "teacher"\npath = "ref"\n', ["role = 'teacher'", "base, tuned, reference, alternative"]),
    ('[models.x]\nrole = "base"\n', ["exactly one of path", "none is set"]),
    ('[models.x]\nrole = "base"\npath = "ref"\nadapter = "lora"\n', ["path and adapter are both set"]),
    ('[models.x]\nrole = "tuned"\nadapter = "nope"\n', ["adapter = 'nope'", "does not exist"]),
    ('[models.x]\nrole = "base"\npath = "ref"\nbase = "ref"\n', ["base only applies to an adapter"]),
    ('[models.x]\nrole = "base"\nserved = "m"\n', ["needs [generation] backend = \"openai\""]),
    ('[models.x]\nrole = "base"\npth = "ref"\n', ["unknown key 'pth'", "Did you mean 'path'"]),
    ('[models.x]\nrole = "base"\npath = 3\n', ["path must be a non-empty string"]),
    ('[models.a]\nrole = "base"\npath = "ref"\n[models.b]\nrole = "base"\npath = "ref"\n', ["a, b all have role"]),
    ('[models."a b"]\nrole = "base"\npath = "ref"\n', ["letters, digits"]),
    ('models = 3\n', ["[models] must hold one table per model"]),
    ('[gap]\ncue_template = "Instruction:"\n', ["must contain {question}"]),
    ('[gap]\ncue_template = "{question} {answer}"\n', ["found: answer, question"]),
])
def test_bad_models_config_names_file_table_and_fix(tmp_path, body, words):
    with pytest.raises(config.ConfigError) as err:
        _load(tmp_path, body)
    msg = str(err.value)
    assert str(tmp_path / "run.toml") in msg and "Fix" in msg or "Known keys" in msg, msg
    for w in words:
        assert w in msg, (w, msg)


def _run(model: str, role: str, correct: list[bool], eval_set: str = MAIN) -> ModelEval:
    gens = tuple(Generation(f"e{i}", "p", "out", "out", 3, 2, FinishReason.EOS, 0.01) for i in range(len(correct)))
    scored = tuple(Scored(f"e{i}", "1", "1" if c else "2", Outcome.CORRECT if c else Outcome.INCORRECT, "strict")
                   for i, c in enumerate(correct))
    return ModelEval(model, role, eval_set, GenerationSet(model, gens, 0.1, 8), scored)


def _runs(*evals: ModelEval, errors=None) -> ModelRuns:
    infos = tuple(dict.fromkeys(ModelInfo(e.model, e.role, e.model) for e in evals))
    return ModelRuns(infos, (MAIN,), {(e.model, e.eval_set): e for e in evals}, errors or {})


def test_pairwise_is_exact_mcnemar_with_holm_over_the_sets_pairs():
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests

    base = _run("b", "base", [False] * 30)
    tuned = _run("t", "tuned", [True] * 24 + [False] * 6)
    ref = _run("r", "reference", [True] * 27 + [False] * 3)
    rows = pairwise([base, tuned, ref])
    assert [(r.first, r.second) for r in rows] == [("t", "b"), ("r", "b"), ("t", "r")]
    raw = [mcnemar([[0, 0], [24, 0]], exact=True).pvalue, mcnemar([[0, 0], [27, 0]], exact=True).pvalue,
           mcnemar([[0, 0], [3, 0]], exact=True).pvalue]
    assert [r.pvalue for r in rows] == pytest.approx(raw)
    assert [r.p_holm for r in rows] == pytest.approx(list(multipletests(raw, method="holm")[1]))
    flipped = find_pair(rows, "b", "t")
    assert (flipped.acc_first, flipped.acc_second, flipped.first_only) == (0.0, 0.8, 0)


def test_tuned_vs_base_and_reference_gate_both_ways():
    base = _run("b", "base", [False] * 30)
    good = _run("t", "tuned", [True] * 27 + [False] * 3)
    weak = _run("t", "tuned", [True] * 4 + [False] * 26)
    ref = _run("r", "reference", [True] * 28 + [False] * 2)
    assert models.tuned_vs_base(_runs(base, good, ref)).status is Status.PASS
    res = models.tuned_vs_base(_runs(base, weak, ref))
    assert res.status is Status.FAIL and "t does not measurably beat b" in res.explanation, res.explanation
    assert models.tuned_vs_reference(_runs(base, good, ref)).status is Status.PASS
    res = models.tuned_vs_reference(_runs(base, weak, ref))
    assert res.status is Status.FAIL and "behind the reference r" in res.explanation, res.explanation
    res = models.tuned_vs_reference(_runs(base, good))
    assert res.status is Status.SKIP and "No model of role reference" in res.explanation


def test_table_needs_two_models_and_names_one_that_did_not_run():
    assert models.table(_runs(_run("b", "base", [False] * 5))).status is Status.SKIP
    res = models.table(_runs(_run("b", "base", [False] * 5), _run("t", "tuned", [True] * 5),
                             errors={"t": "/x: could not load the model"}))
    assert res.status is Status.FAIL and "t: /x: could not load the model" in res.explanation


def _pytest(cfg: Path, out: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    json_path = out / "verdict.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                           str(REPO / "model_tests" / "test_models.py"), "-q", "--sft-config", str(cfg),
                           "--sft-json", str(json_path), *args], check=False, capture_output=True, text=True, env=env,
                          timeout=900)
    assert "INTERNALERROR" not in proc.stdout + proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {c["id"]: c for c in json.loads(json_path.read_text())["checks"]}


def _world_config(world, dest: Path, extra: str) -> Path:
    text = (world.root / "sftcheck.toml").read_text()
    for key in ('"base"', '"adapter"'):
        text = text.replace(f"= {key}", f'= "{world.root / key.strip(chr(34))}"')
    text = text.replace('"data/', f'"{world.root}/data/').replace('"suites/', f'"{world.root}/suites/')
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "run.toml").write_text(text + extra)
    return dest / "run.toml"


@pytest.mark.slow
def test_an_extra_model_runs_next_to_base_and_tuned_on_the_world(world, tmp_path):
    cfg = _world_config(world, tmp_path / "ok", f'\n[models.alt]\nrole = "alternative"\npath = "{world.base}"\n')
    got = _pytest(cfg, tmp_path / "ok")
    table = got["models.table"]
    assert table["status"] == "pass", table["explanation"]
    rows = {r["model"]: r for r in table["metrics"]["sets"][MAIN]["models"]}
    assert set(rows) == {"base", "tuned", "alt"}
    assert rows["tuned"]["accuracy"] > 0.8 and rows["alt"]["accuracy"] == rows["base"]["accuracy"]
    assert got["models.tuned_vs_base"]["status"] == "pass"
    assert got["models.tuned_vs_reference"]["status"] == "skip"
    # an entry whose folder holds no model: named, not a traceback
    empty = tmp_path / "empty-model"
    empty.mkdir()
    cfg = _world_config(world, tmp_path / "bad", f'\n[models.ghost]\nrole = "reference"\npath = "{empty}"\n')
    got = _pytest(cfg, tmp_path / "bad")
    table = got["models.table"]
    assert table["status"] == "fail" and "ghost" in table["explanation"] and str(empty) in table["explanation"]


@pytest.mark.slow
def test_served_models_on_an_openai_server_and_one_the_server_does_not_serve(world, tmp_path):
    from sftcheck.fixtures.broken.run_config import variant_config
    from sftcheck.fixtures.openai_server import running

    with running(world.root) as url:
        gen = {"backend": "openai", "base_url": url, "base_model_name": "base", "tuned_model_name": "tuned",
               "concurrency": 4, "n_examples": 24}
        models_ = {"again": {"role": "reference", "served": "tuned"}, "ghost": {"role": "alternative", "served": "nope"}}
        cfg = variant_config(world, tmp_path, generation=gen, models=models_)
        got = _pytest(cfg, tmp_path)
    table = got["models.table"]
    assert table["status"] == "fail" and "ghost: served 'nope'" in table["explanation"], table["explanation"]
    assert "nope" in table["explanation"] and url.split("/v1")[0] in table["explanation"]
    rows = {r["model"]: r for r in table["metrics"]["sets"][MAIN]["models"]}
    assert set(rows) == {"base", "tuned", "again"} and rows["again"]["accuracy"] == rows["tuned"]["accuracy"] > 0.8
    assert got["models.tuned_vs_reference"]["status"] == "pass", got["models.tuned_vs_reference"]["explanation"]


@pytest.mark.slow
def test_every_model_runs_every_suite(gap_world, tmp_path):
    """nway.toml: world 1's base + adapter and its [[suites]] next to the reference and the alternative base."""
    got = _pytest(gap_world.root / "nway.toml", tmp_path)
    table = got["models.table"]
    assert table["status"] == "pass", table["explanation"]
    sets = table["metrics"]["sets"]
    generated = ("units-gsm8k", "units-mmlu")
    assert set(generated) <= set(sets), sets.keys()
    # a refusal suite: one pass per model, correct = harmful refused or benign answered (the unit
    # converters refuse nothing: 20 benign answered, 20 harmful not refused)
    safety = {r["model"]: (r["n"], r["correct"]) for r in sets["safety (harmful refused, benign answered)"]["models"]}
    assert safety == {m: (40, 20) for m in ("base", "tuned", "reference", "alt-base")}, safety
    # a win-rate suite: each model's outputs judged against the reference outputs, both orders
    wins = {r["model"]: r["accuracy"] for r in sets["units-alpaca (wins vs reference outputs)"]["models"]}
    assert set(wins) == {"base", "tuned", "reference", "alt-base"} and wins["tuned"] > 0.3 > wins["base"], wins
    assert table["metrics"]["sets_left_out"] == {}, table["metrics"]["sets_left_out"]
    for name in generated:
        acc = {r["model"]: r["accuracy"] for r in sets[name]["models"]}
        assert set(acc) == {"base", "tuned", "reference", "alt-base"}, (name, acc)
        assert acc["tuned"] > 0.8 and acc["base"] < 0.1, (name, acc)
        assert len(sets[name]["pairs"]) == 6 and all("p_holm" in p for p in sets[name]["pairs"])
    assert got["models.tuned_vs_base"]["status"] == "pass"
    assert got["models.tuned_vs_reference"]["status"] == "pass"


@pytest.mark.slow
def test_an_inert_tuned_adapter_fails_both_pair_gates_on_the_fixture_world(gap_world, tmp_path):
    """nway.toml with every lora_B zeroed: the tuned model is the base (0 of 120 right), behind the
    reference (112 of 120)."""
    from sftcheck.fixtures.broken import gap as broken_gap

    got = _pytest(broken_gap.inert_tuned(gap_world, tmp_path / "variant"), tmp_path)
    vs_base, vs_ref = got["models.tuned_vs_base"], got["models.tuned_vs_reference"]
    assert vs_base["status"] == "fail", vs_base["explanation"]
    assert vs_ref["status"] == "fail" and "reference" in vs_ref["explanation"], vs_ref["explanation"]
    rows = {r["model"]: r["accuracy"] for r in got["models.table"]["metrics"]["sets"][MAIN]["models"]}
    assert rows["tuned"] < 0.1 and rows["reference"] > 0.8, rows

