"""Every gate / scoring check passes where it should and fails, naming the cause, where it
must: synthetic paired outcomes for the statistics, and the fixture world with its broken
variants (``sftcheck.fixtures.broken.gates``) for the real pipeline."""
from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest
from sftcheck.checks import gates, scoring
from sftcheck.checks.support.base_identity import BaseInfo, match_base
from sftcheck.checks.support.result import Image, Status, Table
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet, Outcome, Scored
from sftcheck.fixtures.broken import gates as broken

from sftcheck import config as cfgmod
from sftcheck import session_artifact, session_gates


def scored(correct, ids=None, unparsable=()):
    ids = ids or [f"e{i}" for i in range(len(correct))]
    out = []
    for i, c in zip(ids, correct):
        if i in unparsable:
            out.append(Scored(i, "1", None, Outcome.UNPARSABLE, None))
        else:
            out.append(Scored(i, "1", "1" if c else "0", Outcome.CORRECT if c else Outcome.INCORRECT,
                              "strict", 1.0 if c else 0.0))
    return out


def pattern(n, p, seed):
    rng = random.Random(seed)
    return [rng.random() < p for _ in range(n)]


def gen_set(model, ids, new_tokens=5, reason=FinishReason.EOS, wall=2.0):
    items = tuple(Generation(i, "Q", f"<answer>{i}</answer>", f"<answer>{i}</answer>", 5, new_tokens,
                             reason, wall / len(ids)) for i in ids)
    return GenerationSet(model, items, wall, 8)


N = 100
IDS = [f"e{i}" for i in range(N)]
BASE_LOW = scored(pattern(N, 0.1, 1))
TUNED_HIGH = scored(pattern(N, 0.92, 2))


# --------------------------------------------------------------------- synthetic, both ways


def test_base_ceiling_both_ways():
    assert gates.base_ceiling(BASE_LOW, IDS).status is Status.PASS
    r = gates.base_ceiling(scored(pattern(N, 0.7, 3)), IDS)
    assert r.status is Status.FAIL
    assert "instruct" in r.explanation and "0.3" in r.threshold
    assert r.metrics["wilson_95"][0] < r.value < r.metrics["wilson_95"][1]


def test_tuned_floor_both_ways_and_carries_the_summary():
    bg, tg = gen_set("base", IDS, 30, FinishReason.LENGTH, 4.0), gen_set("tuned", IDS, 6, wall=1.0)
    r = gates.tuned_floor(BASE_LOW, TUNED_HIGH, IDS, bg, tg)
    assert r.status is Status.PASS
    table = next(e for e in r.evidence if isinstance(e, Table) and e.title.startswith("summary"))
    assert table.columns == ("benchmark", "metric", "base", "tuned", "change")
    assert [row[1] for row in table.rows] == ["accuracy (95 % CI)", "answer rate", "stop rate",
                                             "examples/s (generation pass)", "tokens/s (generation pass)"]
    summary = r.to_dict()["metrics"]["summary"]
    assert summary["stop rate"] == {"base": 0.0, "tuned": 1.0, "change": 1.0}
    assert summary["examples/s"]["change_ratio"] == pytest.approx(4.0)
    images = [e for e in r.evidence if isinstance(e, Image)]
    assert len(images) == 4  # accuracy CI, rates, output length, reward
    assert all(im.png.startswith(b"\x89PNG") for im in images)

    low = gates.tuned_floor(BASE_LOW, scored(pattern(N, 0.5, 4)), IDS)
    assert low.status is Status.FAIL and "parsed but wrong" in low.explanation


def test_tuned_floor_blames_the_format_when_outputs_are_unparsable():
    tuned = scored([True] * N, unparsable=set(IDS[:60]))
    r = gates.tuned_floor(BASE_LOW, tuned, IDS)
    assert r.status is Status.FAIL
    assert "60 of the 60 misses are unparsable" in r.explanation and "prompt" in r.explanation


def test_mcnemar_both_ways():
    bg, tg = gen_set("base", IDS), gen_set("tuned", IDS)
    ok = gates.mcnemar(BASE_LOW, TUNED_HIGH, IDS, bg, tg)
    assert ok.status is Status.PASS and ok.value < 0.01
    assert ok.metrics["discordant_tuned_only"] > ok.metrics["discordant_base_only"]
    assert any(e.kind == "side_by_side" for e in ok.evidence)


def test_mcnemar_identical_models_have_no_discordant_pairs():
    r = gates.mcnemar(BASE_LOW, BASE_LOW, IDS)
    assert r.status is Status.FAIL and r.value == 1.0
    assert "b = c = 0" in r.explanation and "adapter is not applied" in r.explanation


def test_mcnemar_regression_fails_even_when_significant():
    r = gates.mcnemar(TUNED_HIGH, BASE_LOW, IDS)
    assert r.status is Status.FAIL and r.value < 0.01
    assert "not ahead" in r.explanation


def test_mcnemar_too_few_examples_says_how_many_are_needed():
    ids = IDS[:6]
    r = gates.mcnemar(scored([False] * 6, ids), scored([True] * 6, ids), ids)
    assert r.status is Status.FAIL and r.value == pytest.approx(2 * 0.5 ** 6)
    assert "too small" in r.explanation and "at least 8 discordant pairs" in r.explanation
    assert "n_examples" in r.fix


def test_effect_size_both_ways():
    assert gates.effect_size(BASE_LOW, TUNED_HIGH, IDS).status is Status.PASS
    r = gates.effect_size(BASE_LOW, scored(pattern(N, 0.2, 5)), IDS)
    assert r.status is Status.FAIL and r.value < 0.5 and "Cohen's h" in r.explanation


@pytest.mark.parametrize("fn", [gates.tuned_floor, gates.mcnemar, gates.effect_size])
def test_paired_gates_fail_loudly_on_duplicate_and_missing_ids(fn):
    dup = fn(BASE_LOW + BASE_LOW[:3], TUNED_HIGH + TUNED_HIGH[:3], IDS + IDS[:3])
    assert dup.status is Status.FAIL and dup.value == "unpaired" and "duplicate" in dup.explanation
    missing = fn(BASE_LOW[:-1], TUNED_HIGH, IDS)
    assert missing.status is Status.FAIL and "scored for tuned but not base" in missing.explanation


def test_base_ceiling_fails_loudly_on_duplicate_eval_ids():
    r = gates.base_ceiling(BASE_LOW, IDS + ["e0"])
    assert r.status is Status.FAIL and "duplicate" in r.explanation


# --------------------------------------------------------------------- contamination


def test_instruct_markers():
    for name in ("Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-2-7b-chat-hf", "google/gemma-2-2b-it",
                 "/models/mistral-7b-instruct-v0.2", "allenai/tulu-2-dpo-7b", "my-sft-model"):
        assert gates.instruct_markers(name), name
    for name in ("Qwen/Qwen2.5-0.5B", "/tmp/test_instruct0/base", "meta-llama/Llama-3.1-8B",
                 "gpt2", "EleutherAI/pythia-160m", "commit-lm"):
        assert not gates.instruct_markers(name), name


def test_one_matcher_matches_hub_ids_and_local_snapshots():
    """match_base (artifact.base_match and gate.contamination both use it): a folder of the
    hub id's name only suggests the identity; a cache snapshot of the id confirms it."""
    by_name = match_base("Qwen/Qwen2.5-0.5B", BaseInfo("/data/models/Qwen2.5-0.5B"))
    assert by_name is not None and not by_name.confirmed and by_name.how == "same model name"
    snap = match_base("/root/.cache/huggingface/hub/models--Qwen--Qwen2.5-0.5B/snapshots/abc",
                      BaseInfo("Qwen/Qwen2.5-0.5B"))
    assert snap is not None and snap.confirmed and snap.how == "hub cache snapshot"
    assert match_base("Qwen/Qwen2.5-0.5B-Instruct", BaseInfo("Qwen/Qwen2.5-0.5B")) is None
    declared = match_base("org/m", BaseInfo("/local/x", declared_id="org/m"))
    assert declared is not None and declared.confirmed and declared.source == "[model] base_id"
    # a merged model keeps its parent's _name_or_path: the gate does not take it as the base's name
    parent = BaseInfo("/local/merged-Instruct", config_name="/work/base")
    assert match_base("/work/base", parent).confirmed
    assert match_base("/work/base", parent, config_name=False) is None


def test_contamination_passes_on_the_healthy_world(world):
    info = session_artifact.read_base_info(cfgmod.load(world.config))
    assert info.chat_template is None and info.recorded == "sftcheck-fixtures/unitconv-base-1m"
    r = gates.contamination(info, 0.0)
    assert r.status is Status.PASS, r.summary()


def test_contamination_fails_on_a_declared_instruct_base(world, tmp_path):
    info = session_artifact.read_base_info(cfgmod.load(broken.instruct_declared(world, tmp_path)))
    r = gates.contamination(info, 0.0)
    assert r.status is Status.FAIL and "Qwen/Qwen2.5-0.5B-Instruct" in r.explanation
    assert "instruct" in r.explanation


def test_contamination_fails_on_a_merged_instruct_base(world, tmp_path):
    info = session_artifact.read_base_info(cfgmod.load(broken.instruct_base(world, tmp_path)))
    assert info.chat_template is not None
    r = gates.contamination(info, None)
    assert r.status is Status.FAIL
    assert "Instruct" in r.explanation and f"records base {str(world.base)!r}" in r.explanation
    assert "chat template" in r.explanation


def test_contamination_both_ways_on_world2(world2, tmp_path):
    """World 2 (a Llama base recorded by hub id, base_id set as the README's GSM8K example
    says): its real base passes; an instruct id declared, or the tuned weights merged into
    an '-Instruct' base with the chat template, fail naming the marker."""
    healthy = gates.contamination(session_artifact.read_base_info(cfgmod.load(world2.config)), 0.0)
    assert healthy.status is Status.PASS, healthy.summary()
    declared = gates.contamination(session_artifact.read_base_info(
        cfgmod.load(broken.instruct_declared(world2, tmp_path / "declared"))), 0.0)
    assert declared.status is Status.FAIL and "Qwen/Qwen2.5-0.5B-Instruct" in declared.explanation
    merged = gates.contamination(session_artifact.read_base_info(
        cfgmod.load(broken.instruct_base(world2, tmp_path / "merged"))), None)
    assert merged.status is Status.FAIL and "Instruct" in merged.explanation
    assert "chat template" in merged.explanation


def test_contamination_base_score_and_template_alone():
    info = BaseInfo(configured="org/plain-base", chat_template="tokenizer_config.json")
    assert gates.contamination(info, 0.1).status is Status.WARN
    high = gates.contamination(info, 0.75)
    assert high.status is Status.FAIL and "already scores 75.0%" in high.explanation


# --------------------------------------------------------------------- judge calibration


def test_judge_calibrated_skips_when_not_configured():
    assert scoring.judge_calibrated(None, {"a": 1}).status is Status.SKIP
    assert scoring.judge_calibrated({"a": 1.0}, None).status is Status.SKIP
    r = scoring.judge_calibrated(None, None, "human labels", "judge.py:score")
    assert r.status is Status.SKIP and "scorer = 'judge.py:score' is set" in r.explanation
    assert "set [scoring] human_labels" in r.explanation and "set [scoring] scorer" not in r.explanation
    assert "set [scoring] scorer" in scoring.judge_calibrated(None, {"a": 1}).explanation


def test_judge_calibrated_synthetic_both_ways():
    human = {f"e{i}": i % 2 for i in range(40)}
    good = {k: float(v) if k != "e0" else 1.0 for k, v in human.items()}  # one disagreement
    assert scoring.judge_calibrated(good, human).status is Status.PASS
    lenient = {k: 1.0 for k in human}
    r = scoring.judge_calibrated(lenient, human)
    assert r.status is Status.FAIL and "lenient/strict bias" in r.explanation


def _judge_results(config_path: Path):
    cfg = cfgmod.load(config_path)
    labels = session_gates.read_human_labels(cfg.scoring.human_labels)
    module, func = cfg.scoring.scorer.split(":")
    spec = importlib.util.spec_from_file_location(module, Path(cfg.source).parent / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    examples = {json.loads(ln)["id"]: json.loads(ln) for ln in Path(cfg.data.eval).read_text().splitlines()}
    verdicts = session_gates.judge_verdicts(getattr(mod, func), labels, examples, {})
    return scoring.judge_calibrated(verdicts, {k: r["label"] for k, r in labels.items()})


@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_judge_calibrated_on_the_fixture_judges(request, tmp_path, world_name):
    world = request.getfixturevalue(world_name)
    ok = _judge_results(broken.calibrated_judge(world, tmp_path / "honest"))
    assert ok.status is Status.PASS and ok.value == pytest.approx(1.0)
    bad = _judge_results(broken.contrarian_judge(world, tmp_path / "contrarian"))
    assert bad.status is Status.FAIL and bad.value == pytest.approx(-1.0)
    assert "inverted scale" in bad.explanation


def test_human_labels_file_errors_name_the_line(tmp_path):
    p = tmp_path / "labels.jsonl"
    p.write_text('{"id": "a", "label": 1}\n{"id": "b"}\n')
    with pytest.raises(ValueError, match="line 2: needs \"id\" and \"label\""):
        session_gates.read_human_labels(p)


# --------------------------------------------------------------------- the real pipeline


def run_gates(config_path: Path) -> dict:
    """The gates on a run config, with inputs built the way the session fixtures build them:
    the run's stop set, outputs read up to their first stop, scored against the gold answer."""
    from sftcheck import session_model as sm
    from sftcheck.generation import GenerationSettings
    from sftcheck.loading import load_model
    from sftcheck.passes import stop_set, transformers_passes

    cfg = cfgmod.load(config_path)
    rows = sm.read_eval_rows(cfg)
    loaded = load_model(cfg)
    prompts = sm.build_prompts(cfg, loaded.tokenizer, rows)
    settings = GenerationSettings.from_config(cfg)
    gens = transformers_passes(loaded, stop_set(cfg, loaded.tokenizer)).both(prompts, settings, progress=False,
                                                                             use_cache=False)
    sc = sm.score(cfg, rows, gens, "strict", rewards=False)
    ids = [r.id for r in rows]
    return {r.id: r for r in (
        gates.base_ceiling(sc["base"], ids), gates.tuned_floor(sc["base"], sc["tuned"], ids, gens["base"],
                                                              gens["tuned"]),
        gates.mcnemar(sc["base"], sc["tuned"], ids), gates.effect_size(sc["base"], sc["tuned"], ids))}


@pytest.fixture(scope="module")
def healthy_gates(world):
    return run_gates(world.config)


@pytest.mark.parametrize("check_id", ["gate.base_ceiling", "gate.tuned_floor", "gate.mcnemar",
                                      "gate.effect_size"])
def test_gates_pass_on_the_healthy_world(healthy_gates, check_id):
    r = healthy_gates[check_id]
    assert r.status is Status.PASS, r.summary()


def test_gates_pass_on_healthy_world2(world2):
    """World 2's '#### N' worked solutions, scored against the gold number inside them."""
    results = run_gates(world2.config)
    assert all(r.status is Status.PASS for r in results.values()), [r.summary() for r in results.values()]


@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_too_few_examples_fails_mcnemar(request, tmp_path, world_name):
    r = run_gates(broken.too_few_examples(request.getfixturevalue(world_name), tmp_path))
    assert r["gate.mcnemar"].status is Status.FAIL
    assert r["gate.mcnemar"].metrics["n"] == 6 and "too small" in r["gate.mcnemar"].explanation


@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_duplicate_eval_ids_fail_every_paired_gate(request, tmp_path, world_name):
    r = run_gates(broken.duplicate_ids(request.getfixturevalue(world_name), tmp_path))
    for check_id in ("gate.base_ceiling", "gate.tuned_floor", "gate.mcnemar", "gate.effect_size"):
        assert r[check_id].status is Status.FAIL, check_id
        assert "10 duplicate example id(s)" in r[check_id].explanation, r[check_id].explanation


@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_merged_instruct_base_fails_the_base_ceiling(request, tmp_path, world_name):
    r = run_gates(broken.instruct_base(request.getfixturevalue(world_name), tmp_path))
    ceiling = r["gate.base_ceiling"]
    assert ceiling.status is Status.FAIL and ceiling.value > 0.3, ceiling.summary()
    assert "instruct/chat model or already contains the tuned weights" in ceiling.explanation
