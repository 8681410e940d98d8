"""One stop set: built by one function (``sftcheck.stopset``), stopped on by the engine,
judged by ``format.stop_tokens``, shown as evidence; the serving stop set can be named in
the config ([format] stop_ids / generation_config)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftcheck.checks.support.result import Status, Table
from sftcheck.checks.support.samples import FinishReason, Generation
from sftcheck.fixtures.broken.pretrain import CHAT_COMPLETION, write_config

from sftcheck import config as cfgmod
from sftcheck.stopset import StopSetError, build_stop_set
from tests.pretrain_inputs import Inputs

IM_END, ENDOFTEXT = 4, 2   # the world tokenizer's <|im_end|> and EOS (<|endoftext|>)


def chat_gate(world, dest: Path, **fmt_keys) -> Path:
    """A tokenizer + base pre-training gate (no adapter) of a chat run: the labels end with
    <|im_end|>, while the base's generation_config.json stops on <|endoftext|> only."""
    return write_config(world, dest, fmt={"chat": True, "prompt_builder": None, "train_formatter": None,
                                          "completion_template": CHAT_COMPLETION, **fmt_keys},
                        model={"adapter": None, "tokenizer": str(world.adapter)})


def test_world_stop_set_comes_from_the_base_generation_config(world):
    cfg = cfgmod.load(world.config)
    stops = build_stop_set(cfg, Inputs(world.config).tokenizer)
    assert stops.ids == (ENDOFTEXT,)
    assert stops.id_sources[ENDOFTEXT] == f"{Path(cfg.model.base) / 'generation_config.json'} eos_token_id"


def test_gate_with_base_only_fails_when_serving_stops_are_unnamed(world, tmp_path):
    r = Inputs(chat_gate(world, tmp_path)).run("format.stop_tokens")
    assert r.status is Status.FAIL
    assert "'<|im_end|>'" in r.explanation and "generation_config.json eos_token_id" in r.explanation
    assert "[format] generation_config" in r.fix
    table = next(e for e in r.evidence if isinstance(e, Table))
    assert table.rows == (("token id", ENDOFTEXT, "<|endoftext|>",
                           f"{world.base / 'generation_config.json'} eos_token_id"),)


@pytest.mark.parametrize("how", ["stop_ids", "generation_config"])
def test_naming_the_serving_stop_set_passes(world, tmp_path, how):
    serve = tmp_path / "serve"
    serve.mkdir()
    (serve / "generation_config.json").write_text(json.dumps({"eos_token_id": [ENDOFTEXT, IM_END]}))
    keys = {"stop_ids": [IM_END]} if how == "stop_ids" else {"generation_config": str(serve / "generation_config.json")}
    r = Inputs(chat_gate(world, tmp_path / "run", **keys)).run("format.stop_tokens")
    assert r.status is Status.PASS, r.explanation
    sources = {row[1]: row[3] for row in next(e for e in r.evidence if isinstance(e, Table)).rows}
    assert IM_END in sources and (sources[IM_END] == "[format] stop_ids" if how == "stop_ids"
                                  else "[format] generation_config" in sources[IM_END])


def test_stop_strings_join_the_set_with_their_source(world, tmp_path):
    cfg = cfgmod.load(chat_gate(world, tmp_path, stop_strings=["<|im_end|>"]))
    tok = Inputs(world.config).tokenizer
    stops = build_stop_set(cfg, tok)
    assert stops.strings == ("<|im_end|>",) and stops.string_sources == {"<|im_end|>": "[format] stop_strings"}
    assert Inputs(cfg.source).run("format.stop_tokens").status is Status.PASS


@pytest.mark.parametrize("content, words", [
    ("{not json", ["cannot read it", "JSONDecodeError"]),
    ('{"eos_token_id": "eos"}', ["is not an id or a list of ids"]),
    ('{"bos_token_id": 1}', ["has no eos_token_id"]),
])
def test_unreadable_serving_generation_config_is_named(world, tmp_path, content, words):
    gc = tmp_path / "generation_config.json"
    gc.write_text(content)
    cfg = cfgmod.load(chat_gate(world, tmp_path / "run", generation_config=str(gc)))
    with pytest.raises(StopSetError) as err:
        build_stop_set(cfg, Inputs(world.config).tokenizer)
    assert str(gc) in str(err.value) and "Fix:" in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_engine_stops_on_exactly_the_stop_set_the_check_judges(world, tmp_path):
    """Healthy: the engine's stop ids are the check's (EOS) and rows stop.  Named stop ids
    that leave out the trained EOS: the check fails and the engine, on the same set, runs on."""
    import torch
    from sftcheck.checks import behaviour

    from sftcheck.generation import GenerationSettings
    from sftcheck.loading import load_model
    from sftcheck.session_model import build_prompts, generate_both, read_eval_rows, score

    torch.set_num_threads(1)
    runs = []
    for stop_ids, check, finish in (([], Status.PASS, FinishReason.EOS), ([IM_END], Status.FAIL, FinishReason.LENGTH)):
        path = write_config(world, tmp_path / f"v{len(stop_ids)}", fmt={"stop_ids": stop_ids or None})
        cfg = cfgmod.load(path).with_overrides("generation", n_examples=6, disk_cache=False)
        loaded = load_model(cfg)
        stops = build_stop_set(cfg, loaded.tokenizer, model=loaded.model)
        gens = generate_both(loaded, build_prompts(cfg, loaded.tokenizer, read_eval_rows(cfg)),
                             GenerationSettings.from_config(cfg), stops)
        assert gens["tuned"].settings["stop_ids"] == list(stops.ids)
        assert {g.finish_reason for g in gens["tuned"].items} == {finish}
        assert Inputs(path).run("format.stop_tokens").status is check
        runs.append((cfg, read_eval_rows(cfg), gens))
    # scoring reads each output up to its first stop: the run-on variant scores as the healthy
    # one, the text after the missed EOS is run-on evidence, and stop_rate names the stop set
    (cfg, rows, healthy), (_, _, runon) = runs
    assert all(not g.missed_stop for g in healthy["tuned"].items)
    assert all(g.missed_stop == "<|endoftext|>" and g.run_on.strip() for g in runon["tuned"].items)
    assert [g.text for g in runon["tuned"].items] == [g.text for g in healthy["tuned"].items]
    assert [s.outcome for s in score(cfg, rows, runon, "strict")["tuned"]] == \
        [s.outcome for s in score(cfg, rows, healthy, "strict")["tuned"]]
    assert behaviour.stop_rate(healthy).status is Status.PASS
    r = behaviour.stop_rate(runon)
    assert r.status is Status.FAIL and "'<|endoftext|>'" in r.explanation
    assert "stop-set problem, not a training one" in r.explanation and "[format] stop_ids" in r.fix


def test_run_on_past_a_missed_end_token_is_not_scored_as_the_answer(world):
    """`#### 19<|im_end|>9`: a server stopping on <|im_end|> returns `#### 19`; with the
    special token stripped and the run-on joined it would score as 199."""
    from sftcheck.checks.support.answers import score_one
    from sftcheck.checks.support.stops import StopSet, read_to_first_stop

    from sftcheck.stopset import end_markers

    tok = Inputs(world.config).tokenizer
    g = Generation(id="a", prompt="p", text="#### 199", raw_text="#### 19<|im_end|>9", prompt_tokens=3,
                   new_tokens=5, finish_reason=FinishReason.LENGTH, seconds=0.0)
    pattern = r"####\s*(-?[\d,.]+)"
    assert score_one("a", g.text, "19", pattern=pattern).extracted == "199"        # the bug being fixed
    read = read_to_first_stop(g, end_markers(StopSet(ids=(ENDOFTEXT,)), tok), tok.all_special_tokens)
    assert (read.text, read.run_on, read.missed_stop) == ("#### 19", "9", "<|im_end|>")
    assert score_one("a", read.text, "19", pattern=pattern).outcome.value == "correct"
    # an output that simply ends with its end tokens is left as it is
    done = Generation(id="b", prompt="p", text="#### 19", raw_text="#### 19<|im_end|><|endoftext|>",
                      prompt_tokens=3, new_tokens=4, finish_reason=FinishReason.EOS, seconds=0.0)
    assert read_to_first_stop(done, end_markers(StopSet(ids=(ENDOFTEXT,)), tok), tok.all_special_tokens) is done
