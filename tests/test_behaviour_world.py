"""Behaviour checks on the real fixture world and its broken variants (in-process, the same
functions the session fixtures call), plus end-to-end pytest runs of model_tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from sftcheck.checks.support.result import Status
from sftcheck.fixtures.broken import behaviour as broken

from sftcheck import config as cfgmod
from sftcheck.check_inputs import bundle_for, run_check
from sftcheck.loading import load_model

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _private_generation_cache(tmp_path_factory, monkeypatch):
    """Generations are cached on disk by default; keep this module's out of ~/.cache."""
    monkeypatch.setenv("SFTCHECK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "sftcheck-cache"))


BEHAVIOUR_IDS = ("behaviour.answer_rate", "behaviour.accuracy", "behaviour.stop_rate", "behaviour.no_role_leak",
                 "behaviour.not_empty", "behaviour.adapter_effect", "behaviour.merge_parity",
                 "behaviour.reward_spread", "behaviour.length_bias", "behaviour.sentinel")


def evaluate(config_path: Path, n: int = 32) -> dict:
    """Every behaviour check's result for a run config, with the session's own inputs
    (``BehaviourInputs``, built as the plugin builds it) and the config's thresholds."""
    import torch

    torch.set_num_threads(1)
    cfg = cfgmod.load(config_path).with_overrides("generation", n_examples=n, sentinel_examples=16,
                                                  probe_examples=8)
    inputs = bundle_for(cfg, "behaviour")
    results = [run_check(check_id, inputs) for check_id in BEHAVIOUR_IDS]
    return {r.id: r for r in results}


def test_healthy_world_passes_every_behaviour_check(world):
    results = evaluate(world.config)
    bad = {k: r.summary() for k, r in results.items() if r.status is not Status.PASS}
    assert not bad
    assert results["behaviour.adapter_effect"].value > 1e-3
    assert results["behaviour.merge_parity"].value >= 0.99


# variant -> words its failing explanation must contain (the cause, named)
CAUSE = {
    "adapter_not_applied": "no effect",
    "zero_adapter": "no effect",
    "constant_reward": "insensitive scorer",
    "missing_marker_reward": "only in the prompt template",
    "start_token_reward": "'Assistant start token not found' on 32 of them",
    "refuses": "the model refuses: 32 of 32 outputs are refusals",
    "blind_reward": "insensitive scorer",
    "mcp_scorer": "scorer: MCP tool",
    "length_biased_reward": "track output length",
    "instruct_base": "already answers in the trained format",
    "never_stops": "never learned to stop",
    "role_leak": "role headers",
    "merge_not_applied": "your merged checkpoint",
    "merged_checkpoint": "your merged checkpoint",
    "finetuned_is_base": "fine-tuned model behaves like its base",
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(broken.EXPECTED))
def test_broken_variant_fails_its_check(world, tmp_path, variant):
    check_id, status = broken.EXPECTED[variant]
    config = getattr(broken, variant)(world, tmp_path)
    result = evaluate(config)[check_id]
    assert result.status.value == status, result.summary()
    assert CAUSE[variant] in result.explanation
    assert result.fix or status == "pass"  # a passing counterpart (merged_checkpoint) needs no fix


# Variants that break nothing world-specific (the adapter's weights, the merge, the base, the
# scorer): proven on world 2 too (start_token_reward: the unnamed token is world 2's own
# assistant header, the tail of its chat prompts).  World 1 only: never_stops / role_leak /
# refuses (each trains its own adapter with world 1's prompt format: minutes),
# missing_marker_reward (its marker 'Answer:' is world 1's prompt tail; world 2's chat prompt
# has none to miss), mcp_scorer (the fixture MCP server scores world 1's <answer> format).
ON_WORLD2 = ("adapter_not_applied", "zero_adapter", "constant_reward", "blind_reward", "length_biased_reward",
             "instruct_base", "merge_not_applied", "merged_checkpoint", "finetuned_is_base", "start_token_reward")
WORLD1_ONLY = ("never_stops", "role_leak", "refuses", "missing_marker_reward", "mcp_scorer")


def test_every_behaviour_variant_is_on_world2_or_says_why_not():
    assert set(broken.EXPECTED) == set(ON_WORLD2) | set(WORLD1_ONLY)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ON_WORLD2)
def test_broken_variant_fails_its_check_on_world2(world2, tmp_path, variant):
    check_id, status = broken.EXPECTED[variant]
    result = evaluate(getattr(broken, variant)(world2, tmp_path))[check_id]
    assert result.status.value == status, result.summary()
    assert CAUSE[variant] in result.explanation
    assert result.fix or status == "pass"  # merged_checkpoint is the passing counterpart


@pytest.mark.slow
@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_serving_stop_set_without_the_end_token_is_named(request, tmp_path, world_name):
    """A healthy adapter whose generation_config stops on another token than the one training
    ended with (pretrain variant wrong_stop_token: world 2's server stops on <|end_of_text|>,
    its rows end with <|eot_id|>): outputs run on, and stop_rate blames the stop set, not training."""
    from sftcheck.fixtures.broken import pretrain as broken_pretrain

    config = broken_pretrain.wrong_stop_token(request.getfixturevalue(world_name), tmp_path)
    results = evaluate(config)
    result = results["behaviour.stop_rate"]
    assert result.status is Status.FAIL, result.summary()
    assert "ran on past it" in result.explanation and "stop-set problem, not a training one" in result.explanation
    assert "no retraining needed" in result.fix, result.summary()
    assert results["behaviour.no_role_leak"].status is Status.FAIL
    assert results["behaviour.accuracy"].status is Status.PASS, "outputs are scored up to the missed end token"


@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_parser_for_another_format_fails_answer_rate_and_accuracy(request, tmp_path, world_name):
    """The answer pattern of the other world (pretrain variant parser_mismatch: '####' on world
    1's <answer> tags, an <answer> tag on world 2's '#### N'): nothing parses, lenient
    extraction still finds the answers."""
    from sftcheck.fixtures.broken import pretrain as broken_pretrain

    results = evaluate(broken_pretrain.parser_mismatch(request.getfixturevalue(world_name), tmp_path))
    rate, accuracy = results["behaviour.answer_rate"], results["behaviour.accuracy"]
    assert rate.status is Status.FAIL and "match the answer pattern" in rate.explanation, rate.summary()
    assert "Lenient extraction finds an answer in 100%" in rate.explanation, rate.summary()
    assert accuracy.status is Status.FAIL and "most outputs are unparsable" in accuracy.explanation
    assert results["behaviour.not_empty"].status is Status.PASS


def test_unreadable_adapter_keys_are_reported(world, tmp_path):
    """peft's missing-key warning reaches the adapter_effect explanation as evidence."""
    cfg = cfgmod.load(broken.adapter_not_applied(world, tmp_path))
    loaded = load_model(cfg)
    assert loaded.has_adapter and len(loaded.adapter_sha256) == 64
    assert any("missing adapter keys" in n for n in loaded.notes)


def _run(pytester, *args):
    env = {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "SFTCHECK_CACHE_DIR": str(pytester.path / "cache")}
    for k, v in env.items():
        pytester._monkeypatch.setenv(k, v)
    return pytester.runpytest_subprocess("-p", "sftcheck.plugin", str(ROOT / "model_tests" / "test_behaviour.py"),
                                         "-p", "no:cacheprovider", *args)


@pytest.mark.slow
def test_end_to_end_healthy_world(pytester, world):
    result = _run(pytester, "--sft-config", str(world.config))
    result.assert_outcomes(passed=10)


# variant -> (-k selection, outcomes, lines the failure prints)
END_TO_END = {
    "never_stops": ("stop_rate or not_empty", {"failed": 1, "passed": 1},
                    ["*FAIL behaviour.stop_rate: measured 0*", "*never learned to stop*"]),
    "stops_before_answering": ("not_empty", {"failed": 1},  # a stop string that empties every output
                               ["*FAIL behaviour.not_empty: measured 1*", "*are empty or whitespace*"]),
    "merge_not_applied": ("merge_parity", {"failed": 1},  # a "merged" checkpoint that is the base
                          ["*FAIL behaviour.merge_parity*", "*your merged checkpoint*"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(END_TO_END))
def test_end_to_end_broken_variant_fails_naming_its_cause(pytester, world, tmp_path, variant):
    select, outcomes, lines = END_TO_END[variant]
    config = getattr(broken, variant)(world, tmp_path / "variant")
    result = _run(pytester, "--sft-config", str(config), "-k", select)
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(lines)
    assert "Traceback" not in result.stdout.str()


def test_end_to_end_bad_scorer_is_a_clean_failure(pytester, world, tmp_path):
    config = broken.write_config(world, tmp_path / "v", scorer="no_such_module:score")
    result = _run(pytester, "--sft-config", str(config), "-k", "reward_spread")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*[[]scoring[]] scorer*no_such_module*Fix*"])
    assert "INTERNALERROR" not in result.stdout.str()


def test_fully_finetuned_model_is_accepted(world, tmp_path):
    """[model] finetuned (a merged model) instead of an adapter: same generations as
    base + adapter; adapter-only checks skip; the base is loaded separately for "base"."""
    merged_cfg = cfgmod.load(broken.instruct_base(world, tmp_path))  # writes tmp_path/merged_base
    text = (f'[model]\nfinetuned = "{tmp_path / "merged_base"}"\nbase = "{world.base}"\n'
            f'[format]\nprompt_builder = "sftcheck.fixtures.user_code:build_prompt"\n'
            f'[data]\neval = "{world.eval}"\n[generation]\nn_examples = 12\nprobe_examples = 4\n')
    (tmp_path / "ft.toml").write_text(text)
    results = evaluate(tmp_path / "ft.toml", n=12)
    effect = results["behaviour.adapter_effect"]
    assert effect.status is Status.PASS and "fine-tuned model moves logits" in effect.explanation, effect.summary()
    assert results["behaviour.merge_parity"].status is Status.SKIP
    assert results["behaviour.answer_rate"].status is Status.PASS
    assert results["behaviour.sentinel"].status is Status.PASS  # the separately loaded base is the real one
    assert merged_cfg.model.base.endswith("merged_base")


def test_bad_model_paths_raise_load_errors_with_the_fix(world, tmp_path, monkeypatch):
    from sftcheck.loading import LoadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "a.toml").write_text(f'[model]\nbase = "no-such-org/no-such-model"\n'
                                     f'tokenizer = "{world.adapter}"\n')
    with pytest.raises(LoadError, match="(?s)could not load the model.*Fix:"):
        load_model(cfgmod.load(tmp_path / "a.toml"))
    empty = tmp_path / "empty_adapter"
    empty.mkdir()
    (tmp_path / "b.toml").write_text(f'[model]\nbase = "{world.base}"\nadapter = "{empty}"\n'
                                     f'tokenizer = "{world.adapter}"\n')
    with pytest.raises(LoadError, match="(?s)no adapter_model.safetensors.*Fix:"):
        load_model(cfgmod.load(tmp_path / "b.toml"))


def test_missing_eval_file_is_a_clean_failure(pytester, world, tmp_path):
    cfg = tmp_path / "noeval.toml"
    cfg.write_text(f'[model]\nbase = "{world.base}"\nadapter = "{world.adapter}"\n')
    result = _run(pytester, "--sft-config", str(cfg), "-k", "stop_rate")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no [[]data[]] eval file. Fix: set [[]data[]] eval*"])
    assert "Traceback" not in result.stdout.str()
