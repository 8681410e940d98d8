"""The ``openai`` backend asks for the text with its special tokens (vLLM's
``skip_special_tokens: false`` / ``include_stop_str_in_output: true``) and streams when a
perf check runs: against the real fixture server honouring those parameters as vLLM does,
ignoring them, or refusing them with a 400 as OpenAI's API does; ``behaviour.no_role_leak``
says which markers it could not search."""
from __future__ import annotations

import pytest
from sftcheck.checks import behaviour
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet
from sftcheck.fixtures.broken.run_config import variant_config
from sftcheck.fixtures.openai_server import running

from sftcheck import config as cfgmod
from sftcheck.generation import GenerationSettings
from sftcheck.loading import load_tokenizer
from sftcheck.passes import openai_passes
from sftcheck.session_model import build_prompts, read_eval_rows

N = 8


def _passes(world, tmp_path, url, stream=False):
    cfg = cfgmod.load(variant_config(world, tmp_path, generation={
        "backend": "openai", "base_url": url, "base_model_name": "base", "tuned_model_name": "tuned",
        "concurrency": 2, "n_examples": N}))
    tok = load_tokenizer(cfg)
    return openai_passes(cfg, tok, stream=stream), build_prompts(cfg, tok, read_eval_rows(cfg)), cfg, tok


def test_streamed_pass_gives_the_same_outputs_and_a_first_token_time_per_request(world, tmp_path):
    with running(world.root) as url:
        plain, prompts, cfg, tok = _passes(world, tmp_path, url)
        streamed = _passes(world, tmp_path / "s", url, stream=True)[0]
        settings = GenerationSettings.from_config(cfg)
        a = plain.run(prompts, settings, "tuned", progress=False, use_cache=False)
        b = streamed.run(prompts, settings, "tuned", progress=False, use_cache=False)
        stop = streamed.run(prompts, GenerationSettings(stop_strings=("</answer>",)), "tuned", progress=False,
                            use_cache=False)
    keys = [(g.text, g.raw_text, g.new_tokens, g.finish_reason, g.prompt_tokens) for g in a.items]
    assert keys == [(g.text, g.raw_text, g.new_tokens, g.finish_reason, g.prompt_tokens) for g in b.items]
    assert all(tok.eos_token in g.raw_text for g in b.items)  # the stop token, as transformers' raw_text has it
    ttft = b.settings["ttft_seconds"]
    assert b.settings["streamed"] is True and len(ttft) == N
    assert all(0 < t <= g.seconds for t, g in zip(ttft, b.items, strict=True))
    # a stop string streams in pieces yet ends the text where the unstreamed pass does
    assert {g.finish_reason for g in stop.items} == {FinishReason.STOP}
    assert all(g.raw_text.endswith("</answer>") and "</" not in g.text for g in stop.items)


@pytest.mark.parametrize("extras, said", [("ignore", "ignored skip_special_tokens=false"),
                                          ("reject", "refused skip_special_tokens")])
def test_a_server_without_special_tokens_is_named_and_role_leak_says_what_it_missed(world, tmp_path, extras, said):
    with running(world.root, extras=extras) as url:
        passes, prompts, cfg, tok = _passes(world, tmp_path, url)
        out = passes.run(prompts, GenerationSettings.from_config(cfg), "tuned", progress=False)
    assert out.settings["raw_text_special_tokens"] is False
    assert said in out.settings["special_tokens_note"] and url in out.settings["special_tokens_note"]
    assert all(tok.eos_token not in g.raw_text and g.text.strip() for g in out.items)
    assert {g.finish_reason for g in out.items} == {FinishReason.EOS}
    markers = ("<|im_start|>", "\nUser:")
    result = behaviour.no_role_leak({"tuned": out}, markers)
    assert result.status is Status.PASS and "1 markers searched" in result.explanation
    assert "'<|im_start|>'" in result.explanation and said in result.explanation
    assert result.metrics["markers"] == ["\nUser:"]
    assert behaviour.no_role_leak({"tuned": out}, ("<|im_start|>",)).status is Status.SKIP


def _set(raw: str, shown):
    g = Generation(id="1", prompt="p", text=raw, raw_text=raw, prompt_tokens=1, new_tokens=3,
                   finish_reason=FinishReason.EOS, seconds=0.1)
    settings = {"raw_text_special_tokens": shown, "special_tokens_note": "the server ignored it",
                "unseen_special_tokens": ["<|im_start|>", "<|im_end|>"]}
    return {"tuned": GenerationSet(model="tuned", items=(g,), wall_seconds=0.1, batch_size=1, settings=settings)}


def test_role_leak_still_fails_on_what_it_can_see():
    result = behaviour.no_role_leak(_set("4\nUser: and now", False), ("<|im_start|>", "\nUser:"))
    assert result.status is Status.FAIL and "not searched" in result.explanation
    # where the text carries special tokens (True) or it is unknown (None), every marker is searched
    for shown in (True, None):
        assert behaviour.no_role_leak(_set("4<|im_start|>user", shown), ("<|im_start|>",)).status is Status.FAIL
