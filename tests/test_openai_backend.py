"""The ``openai`` backend against a real OpenAI-compatible server process on 127.0.0.1
(``sftcheck.fixtures.openai_server`` in front of the fixture world): token-identical greedy
outputs with the transformers backend, the served model list checked, retries with
backoff, a server that is down or dies mid-run named in the error, ``max_time`` honoured,
and the model tests end to end."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch
from sftcheck.checks.support.samples import FinishReason
from sftcheck.fixtures.broken.run_config import variant_config
from sftcheck.fixtures.openai_server import running

from sftcheck import config as cfgmod
from sftcheck.backends.openai_api import ServerError
from sftcheck.generation import GenerationSettings
from sftcheck.loading import load_model, load_tokenizer
from sftcheck.passes import openai_passes, stop_set, transformers_passes
from sftcheck.session_model import build_prompts, read_eval_rows

N = 24


@pytest.fixture(scope="module")
def server(world):
    with running(world.root) as url:
        yield url


def openai_config(world, tmp_path, url, **generation):
    gen = {"backend": "openai", "base_url": url, "base_model_name": "base", "tuned_model_name": "tuned",
           "concurrency": 4, "n_examples": N, **generation}
    return cfgmod.load(variant_config(world, tmp_path, generation=gen))


def prompts_for(cfg, tok):
    return build_prompts(cfg, tok, read_eval_rows(cfg))


def test_greedy_outputs_are_token_identical_with_the_transformers_backend(world, tmp_path, server):
    torch.set_num_threads(1)
    cfg = openai_config(world, tmp_path, server)
    tok = load_tokenizer(cfg)
    prompts = prompts_for(cfg, tok)
    settings = GenerationSettings.from_config(cfg)
    remote = openai_passes(cfg, tok).both(prompts, settings, progress=False)
    loaded = load_model(cfg, tok)
    local = transformers_passes(loaded, stop_set(cfg, tok)).both(prompts, settings, use_cache=False,
                                                                 progress=False)
    eos = tok.eos_token_id
    for variant in ("base", "tuned"):
        assert remote[variant].settings["backend"] == "openai"
        assert remote[variant].settings["served_model"] == variant
        for r, h in zip(remote[variant].items, local[variant].items, strict=True):
            assert r.id == h.id
            assert r.text == h.text, (variant, r.id)
            assert r.raw_text == h.raw_text, (variant, r.id)  # special tokens and the stop token kept
            h_ids = tok(h.raw_text, add_special_tokens=False).input_ids
            assert tok(r.text, add_special_tokens=False).input_ids == [t for t in h_ids if t != eos]
            assert (r.new_tokens, r.finish_reason, r.prompt_tokens) == (h.new_tokens, h.finish_reason,
                                                                          h.prompt_tokens)
    assert {g.finish_reason for g in remote["tuned"].items} == {FinishReason.EOS}
    assert remote["tuned"].settings["raw_text_special_tokens"] is True
    assert "ttft_seconds" not in remote["tuned"].settings  # not streamed unless perf asks


def test_stop_strings_and_length_and_chat(world, tmp_path, server):
    cfg = openai_config(world, tmp_path, server, max_new_tokens=4, n_examples=6)
    tok = load_tokenizer(cfg)
    prompts = prompts_for(cfg, tok)
    p = openai_passes(cfg, tok)
    short = p.run(prompts, GenerationSettings.from_config(cfg), "tuned", progress=False)
    assert {(g.finish_reason, g.new_tokens) for g in short.items} == {(FinishReason.LENGTH, 4)}
    stop = p.run(prompts, GenerationSettings(stop_strings=("</answer>",)), "tuned", progress=False)
    assert {g.finish_reason for g in stop.items} == {FinishReason.STOP}
    assert all(g.text.strip().startswith("<answer>") and "</" not in g.text for g in stop.items)
    chat = openai_passes(openai_config(world, tmp_path / "chat", server, openai_api="chat", n_examples=6), tok)
    out = chat.run(prompts, GenerationSettings(max_new_tokens=8), "tuned", progress=False)
    assert len(out.items) == 6 and all(g.new_tokens > 0 for g in out.items)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_names_the_url_and_the_fix(world, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    cfg = openai_config(world, tmp_path, url, retries=1)
    t0 = time.monotonic()
    with pytest.raises(ServerError) as err:
        openai_passes(cfg, load_tokenizer(cfg))
    msg = str(err.value)
    assert f"cannot reach the OpenAI-compatible server at {url}" in msg
    assert "Connection" in msg and "Fix: start the server" in msg and "base_url" in msg
    assert time.monotonic() - t0 < 10


def test_wrong_model_names_list_what_is_served(world, tmp_path, server):
    cfg = openai_config(world, tmp_path, server, tuned_model_name="my-lora")
    with pytest.raises(ServerError) as err:
        openai_passes(cfg, load_tokenizer(cfg))
    msg = str(err.value)
    assert "serves ['base', 'tuned'], not [generation] tuned_model_name = 'my-lora'" in msg
    assert "--lora-modules" in msg


def test_missing_keys_and_bad_choices_are_usage_errors(world, tmp_path, server):
    with pytest.raises(cfgmod.ConfigError, match="backend = 'ollama': not one of the allowed values transformers, openai, vllm"):
        openai_config(world, tmp_path, server, backend="ollama")
    cfg = openai_config(world, tmp_path / "b", server, tuned_model_name=None)
    cfg = cfg.with_overrides("generation", base_url="")
    with pytest.raises(ServerError, match="needs \\[generation\\] base_url"):
        openai_passes(cfg, load_tokenizer(cfg))


def test_retries_then_a_server_that_dies_mid_run(world, tmp_path):
    with running(world.root, fail_first=2, die_after=6) as url:
        cfg = openai_config(world, tmp_path, url, concurrency=1, retries=0, n_examples=8)
        tok = load_tokenizer(cfg)
        prompts = prompts_for(cfg, tok)
        settings = GenerationSettings(max_new_tokens=8)
        with pytest.raises(ServerError, match="HTTP 503"):  # request 1: no retry allowed
            openai_passes(cfg, tok).run(prompts[:1], settings, "tuned", progress=False)
        retrying = openai_passes(cfg.with_overrides("generation", retries=2), tok)
        ok = retrying.run(prompts[:3], settings, "tuned", progress=False)  # request 2 is a 503, retried
        assert all(g.new_tokens > 0 for g in ok.items)
        t0 = time.monotonic()
        with pytest.raises(ServerError) as err:  # the server exits on request 7
            retrying.run(prompts[3:], settings, "base", progress=False, use_cache=False)
        msg = str(err.value)
        assert "the base pass failed on example" in msg and url in msg and "Fix: check the server" in msg
        assert time.monotonic() - t0 < 30


def test_max_time_bounds_the_pass(world, tmp_path, server):
    cfg = openai_config(world, tmp_path, server, max_time=0.0)
    out = openai_passes(cfg, load_tokenizer(cfg)).run(prompts_for(cfg, load_tokenizer(cfg)),
                                                      GenerationSettings.from_config(cfg), "tuned",
                                                      progress=False)
    assert {g.finish_reason for g in out.items} == {FinishReason.TIME}


@pytest.mark.slow
def test_model_tests_end_to_end_over_the_server(world, tmp_path, server):
    """``sftcheck demo --backend openai``: behaviour, gates and perf run on the server's
    generations; logit checks read the local weights the config names, and skip with the
    reason when it names none."""
    from sftcheck.fixtures.broken.run_config import REMOVE

    gen = {"backend": "openai", "base_url": server, "base_model_name": "base", "tuned_model_name": "tuned"}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SFTCHECK_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider", "-q", "-rs",
           "--pyargs", "sftcheck.model_tests", "-m", "behaviour or gate or perf", "--sft-config"]
    demo = subprocess.run([sys.executable, "-m", "sftcheck.cli", "demo", "--backend", "openai", "--json", "r.json",
                           "-m", "behaviour or gate or perf"], capture_output=True, text=True, env=env, check=False,
                          timeout=600, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-3000:]
    verdict = json.loads((tmp_path / "r.json").read_text())
    # world 1's four [[suites]] run over the server too (log-likelihoods from the local weights)
    skips = [c for c in verdict["checks"] if c["status"] == "skip"]
    assert not [c for c in skips if c["id"].startswith("suite.")], skips
    # the only other skip: the world names no reference model (N-way, README 'N models in one run')
    # (and the conversation checks: world 1 names no conversation suite)
    assert all(c["id"] == "models.tuned_vs_reference" and "No model of role reference" in c["explanation"]
               or c["id"].startswith("conversation.") and "[[suites]]" in c["explanation"] for c in skips), skips
    assert {c["nodeid"].split("::")[1] for c in verdict["checks"] if c["id"] == "suite.win_rate"} == {
        "test_win_rate[units-alpaca]"}
    perf = next(c for c in verdict["checks"] if c["id"] == "perf.throughput")
    assert perf["metrics"]["tuned"]["backend"] == "openai" and "via the openai backend" in perf["explanation"]
    assert perf["metrics"]["tuned"]["median_ttft_s"] > 0 and "first token after" in perf["explanation"]  # streamed
    passes = verdict["provenance"]["generation passes"]
    assert not [p for p in passes.values() if p["cache"] == "off"], passes  # no extra (timed) pass
    assert verdict["verdict"] == "pass" and len(verdict["checks"]) >= 16
    no_weights = variant_config(world, tmp_path / "without", generation=gen, model={
        "base": REMOVE, "adapter": REMOVE, "tokenizer": world.adapter})
    out = subprocess.run([*cmd, str(no_weights)], check=False, capture_output=True, text=True, env=env, timeout=600,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:]
    skipped = [ln for ln in out.stdout.splitlines() if ln.startswith("SKIPPED") and "test_suite.py" not in ln
               and "[[suites]]" not in ln]   # the conversation checks: no conversation suite in world 1
    weights = [ln for ln in skipped if "no local weights are configured" in ln]
    assert len(weights) == 2, out.stdout
    # besides those two, only the N-way reference comparison (no reference model configured)
    assert all("No model of role reference" in ln for ln in skipped if ln not in weights), out.stdout
    # the multiple-choice suite is scored by its generated letters; the log-likelihoods need weights
    suite_skips = [ln for ln in out.stdout.splitlines() if ln.startswith("SKIPPED") and "test_suite.py" in ln]
    assert len(suite_skips) == 1 and "not scored by log-likelihood" in suite_skips[0], out.stdout


def test_readme_vllm_serving_config_is_valid():
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Generation backends", 1)[1]
    assert "vllm serve" in section and "--enable-lora --lora-modules tuned=" in section
    sample = section.split("```toml\n", 1)[1].split("```", 1)[0]
    cfg = cfgmod.parse(tomllib.loads(sample), "README", Path.cwd())
    assert cfg.generation.backend == "openai" and cfg.generation.tuned_model_name == "tuned"
