"""The ``vllm`` backend: its settings mapping and its error without vLLM run everywhere; the
comparison with the transformers backend needs a CUDA GPU and vLLM (marked ``gpu``)."""
from __future__ import annotations

import importlib.util

import pytest
import torch
from sftcheck.fixtures.broken.run_config import variant_config

from sftcheck import config as cfgmod
from sftcheck.backends.vllm_engine import VLLMBackend, VLLMUnavailable
from sftcheck.generation import GenerationSettings
from sftcheck.passes import vllm_passes

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_sampling_settings_map_to_vllm_sampling_params():
    backend = VLLMBackend(None, "", None, "", None, dict, "test")
    greedy = backend.sampling_params(GenerationSettings(max_new_tokens=7, stop_strings=("</answer>",)), [2, 5])
    assert greedy == {"max_tokens": 7, "seed": 0, "stop_token_ids": [2, 5], "skip_special_tokens": False,
                      "include_stop_str_in_output": True, "spaces_between_special_tokens": False,
                      "stop": ["</answer>"], "temperature": 0.0}
    sampled = backend.sampling_params(GenerationSettings(do_sample=True, temperature=0.7, top_k=20,
                                                         repetition_penalty=1.05), [2])
    assert sampled["temperature"] == 0.7 and sampled["top_k"] == 20 and "top_p" not in sampled
    assert sampled["repetition_penalty"] == 1.05


@pytest.mark.skipif(HAS_VLLM and torch.cuda.is_available(), reason="vLLM and a GPU are present")
def test_without_vllm_or_a_gpu_the_error_says_how_to_get_it(world, tmp_path):
    cfg = cfgmod.load(variant_config(world, tmp_path, generation={"backend": "vllm"}))
    with pytest.raises(VLLMUnavailable) as err:
        vllm_passes(cfg, None)
    msg = str(err.value)
    assert 'backend = "vllm"' in msg and "Fix:" in msg and ("sftcheck[vllm]" in msg or "GPU" in msg)


@pytest.mark.gpu
@pytest.mark.skipif(not (HAS_VLLM and torch.cuda.is_available()), reason="needs vLLM and a CUDA GPU")
def test_vllm_greedy_outputs_match_the_transformers_backend(world, tmp_path):
    from sftcheck.loading import load_model, load_tokenizer
    from sftcheck.passes import stop_set, transformers_passes
    from sftcheck.session_model import build_prompts, read_eval_rows

    cfg = cfgmod.load(variant_config(world, tmp_path, generation={"backend": "vllm", "n_examples": 40},
                                     model={"dtype": "float32"}))
    tok = load_tokenizer(cfg)
    prompts = build_prompts(cfg, tok, read_eval_rows(cfg))
    settings = GenerationSettings.from_config(cfg)
    stops = stop_set(cfg, tok)
    remote = vllm_passes(cfg, tok).both(prompts, settings, use_cache=False, progress=False)
    local = transformers_passes(load_model(cfg, tok), stops).both(prompts, settings, use_cache=False,
                                                                 progress=False)
    for variant in ("base", "tuned"):
        same = sum(a.text == b.text for a, b in zip(remote[variant].items, local[variant].items, strict=True))
        assert same >= 0.95 * len(prompts), (variant, same)  # GPU kernels may flip a near-tie
        raw = sum(a.raw_text == b.raw_text for a, b in zip(remote[variant].items, local[variant].items, strict=True))
        assert raw >= 0.95 * len(prompts), (variant, raw)  # special tokens and the stop token kept
    assert remote["tuned"].settings["lora_request"] and not remote["base"].settings["lora_request"]


def test_vllm_text_leaves_out_the_special_tokens_its_raw_text_keeps():
    from types import SimpleNamespace

    from sftcheck.checks.support.samples import FinishReason

    backend = VLLMBackend(None, "", None, "", None, dict, "test")
    backend.specials = ("<|im_end|>", "<|im_start|>")
    out = SimpleNamespace(prompt_token_ids=[1, 2], outputs=[SimpleNamespace(
        text=" <answer>4</answer><|im_end|>", token_ids=[5, 6, 7], finish_reason="stop", stop_reason=None)])
    g = backend._item(SimpleNamespace(id="1", text="p"), out, GenerationSettings(), 0.1)
    assert (g.text, g.raw_text, g.finish_reason) == (" <answer>4</answer>", " <answer>4</answer><|im_end|>",
                                                     FinishReason.EOS)
