"""The generation engine on the fixture world: token-exact with transformers' ``generate``
(greedy), order kept, finish reasons, stop strings, time cap, cache, seeded sampling, and
the in-place merge that restores the weights bit for bit."""
from __future__ import annotations

import copy

import pytest
import torch
from sftcheck.checks.support.samples import FinishReason

from sftcheck import config as cfgmod
from sftcheck.generation import GenerationSettings, forward_logits, generate
from sftcheck.loading import load_model
from sftcheck.merging import merged_in_place
from sftcheck.session_model import build_prompts, read_eval_rows


@pytest.fixture(scope="module")
def setup(world):
    torch.set_num_threads(1)
    cfg = cfgmod.load(world.config).with_overrides("generation", n_examples=20)
    loaded = load_model(cfg)
    rows = read_eval_rows(cfg)
    return cfg, loaded, build_prompts(cfg, loaded.tokenizer, rows)


def hf_generate(model, tok, prompt_ids, max_new_tokens):
    out = []
    for ids in prompt_ids:
        x = torch.tensor([ids])
        g = model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens,
                           do_sample=False, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
        out.append(g[0, len(ids):].tolist())
    return out


@pytest.mark.parametrize("variant", ["tuned", "base"])
def test_engine_is_token_exact_with_hf_generate(setup, variant):
    _, loaded, prompts = setup
    tok = loaded.tokenizer
    settings = GenerationSettings(max_new_tokens=24, batch_size=6)  # uneven batches, mixed lengths
    with loaded.variant(variant) as model:
        ours = generate(model, tok, prompts, settings, variant=variant, use_cache=False, progress=False)
        ref = hf_generate(model, tok, [list(p.input_ids) for p in prompts], 24)
    assert [g.id for g in ours.items] == [p.id for p in prompts]  # sorted internally, order restored
    for g, r in zip(ours.items, ref):
        assert tok(g.raw_text, add_special_tokens=False).input_ids == r
        assert g.new_tokens == len(r)
        assert g.finish_reason is (FinishReason.EOS if r[-1] == tok.eos_token_id else FinishReason.LENGTH)


def test_length_stop_string_and_time_cap(setup):
    _, loaded, prompts = setup
    tok, model = loaded.tokenizer, loaded.model
    short = generate(model, tok, prompts, GenerationSettings(max_new_tokens=3), variant="tuned",
                     use_cache=False, progress=False)
    assert {g.finish_reason for g in short.items} == {FinishReason.LENGTH}
    assert {g.new_tokens for g in short.items} == {3}
    stop = generate(model, tok, prompts, GenerationSettings(stop_strings=("</answer>",)), variant="tuned",
                    use_cache=False, progress=False)
    assert {g.finish_reason for g in stop.items} == {FinishReason.STOP}
    assert all(g.text.strip().startswith("<answer>") and "</" not in g.text for g in stop.items)
    capped = generate(model, tok, prompts, GenerationSettings(max_time=0.0), variant="tuned",
                      use_cache=False, progress=False)
    assert {g.finish_reason for g in capped.items} == {FinishReason.TIME}


def test_cache_is_keyed_by_model_prompts_and_settings(setup):
    _, loaded, prompts = setup
    s = GenerationSettings(max_new_tokens=8)
    a = generate(loaded.model, loaded.tokenizer, prompts, s, variant="tuned", model_id=loaded.model_id,
                 progress=False)
    assert generate(loaded.model, loaded.tokenizer, prompts, s, variant="tuned",
                    model_id=loaded.model_id, progress=False) is a
    other = GenerationSettings(max_new_tokens=9)
    assert generate(loaded.model, loaded.tokenizer, prompts, other, variant="tuned",
                    model_id=loaded.model_id, progress=False) is not a
    assert generate(loaded.model, loaded.tokenizer, prompts[:5], s, variant="tuned",
                    model_id=loaded.model_id, progress=False) is not a


def test_sampling_is_reproducible_by_seed(setup):
    _, loaded, prompts = setup
    s = GenerationSettings(do_sample=True, temperature=1.5, seed=3, max_new_tokens=12)
    runs = [generate(loaded.model, loaded.tokenizer, prompts, s, variant="tuned", use_cache=False,
                     progress=False) for _ in range(2)]
    assert [g.raw_text for g in runs[0].items] == [g.raw_text for g in runs[1].items]


def test_top_k_one_sampling_is_greedy_and_generation_config_is_honoured(setup):
    from sftcheck.backends.hf import generation_config

    _, loaded, prompts = setup
    tok, model = loaded.tokenizer, loaded.model
    greedy = generate(model, tok, prompts, GenerationSettings(max_new_tokens=12), variant="tuned",
                      use_cache=False, progress=False)
    top1 = generate(model, tok, prompts, GenerationSettings(max_new_tokens=12, do_sample=True, top_k=1,
                                                            temperature=2.0, seed=5),
                    variant="tuned", use_cache=False, progress=False)
    assert [g.raw_text for g in top1.items] == [g.raw_text for g in greedy.items]
    assert top1.settings["top_k"] == 1 and top1.settings["backend"] == "transformers"
    # the model's own generation_config is the starting point; the run's settings override it
    saved = model.generation_config.repetition_penalty
    model.generation_config.repetition_penalty = 1.7
    try:
        _, eff = generation_config(model, GenerationSettings(), [2], 0)
        assert eff["repetition_penalty"] == 1.7
        _, eff = generation_config(model, GenerationSettings(repetition_penalty=1.1), [2], 0)
        assert eff["repetition_penalty"] == 1.1
        penalised = generate(model, tok, prompts, GenerationSettings(max_new_tokens=12), variant="tuned",
                             use_cache=False, progress=False)
    finally:
        model.generation_config.repetition_penalty = saved
    assert [g.raw_text for g in penalised.items] != [g.raw_text for g in greedy.items]


def test_in_place_merge_matches_merge_and_unload_and_restores_weights(setup):
    _, loaded, prompts = setup
    tok, model = loaded.tokenizer, loaded.model
    seqs = [list(p.input_ids) for p in prompts[:6]]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    adapter = forward_logits(model, tok, seqs)
    from peft.tuners.lora import LoraLayer

    wrappers = [name for name, mod in model.named_modules() if isinstance(mod, LoraLayer)]
    assert wrappers
    with merged_in_place(model) as m:
        # merged, the wrappers are out of the tree (as merge_and_unload leaves it): no per-layer detour
        assert not any(isinstance(mod, LoraLayer) for mod in m.modules())
        merged = forward_logits(m, tok, seqs)
    assert [name for name, mod in model.named_modules() if isinstance(mod, LoraLayer)] == wrappers
    reference = forward_logits(copy.deepcopy(model).merge_and_unload(), tok, seqs)
    assert torch.allclose(merged, reference, atol=1e-5)
    assert (adapter.argmax(-1) == merged.argmax(-1)).float().mean() >= 0.99
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(forward_logits(model, tok, seqs), adapter)


def test_disk_cache_round_trips_and_is_keyed(setup, tmp_path, monkeypatch):
    from sftcheck import generation
    from sftcheck.session_model import generate_both

    monkeypatch.setenv("SFTCHECK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(generation, "_CACHE", {})
    _, loaded, prompts = setup
    s = GenerationSettings(max_new_tokens=10, batch_size=7)
    first = generate_both(loaded, prompts, s)
    files = sorted((tmp_path / "generations").glob("*.json"))
    assert len(files) == 2  # base and tuned
    monkeypatch.setattr(generation, "_CACHE", {})
    again = generate_both(loaded, prompts, s)
    assert again["tuned"].settings["from_disk_cache"].startswith(str(tmp_path))
    assert again["tuned"].items == first["tuned"].items and again["base"].items == first["base"].items
    generate_both(loaded, prompts, GenerationSettings(max_new_tokens=11, batch_size=7))
    assert len(list((tmp_path / "generations").glob("*.json"))) == 4


def test_tuned_pass_runs_merged_once_merge_parity_holds(setup):
    from dataclasses import replace

    from sftcheck.passes import stop_set, transformers_passes

    cfg, loaded, prompts = setup
    s = GenerationSettings(max_new_tokens=16, batch_size=8)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    merged = transformers_passes(loaded, stop_set(cfg, loaded.tokenizer))
    out = merged.run(prompts, s, "tuned", progress=False, use_cache=False)
    assert merged.tuned_weights.startswith("merged into the weights (top-1 agreement 1.000")
    assert out.settings["tuned_weights"] == merged.tuned_weights
    assert all(torch.equal(before[k], v) for k, v in loaded.model.state_dict().items())  # restored
    unmerged = transformers_passes(replace(loaded, cfg=cfg.with_overrides("generation", merged_tuned_pass=False)))
    ref = unmerged.run(prompts, s, "tuned", progress=False, use_cache=False)
    assert unmerged.tuned_weights == "unmerged LoRA (PeftModel)"
    assert out.settings["cache_key"] != ref.settings["cache_key"]  # merged and unmerged are cached apart
    assert [g.raw_text for g in out.items] == [g.raw_text for g in ref.items]
    strict = replace(cfg, gates=replace(cfg.gates, thresholds={"behaviour.merge_parity": {"min_agreement": 1.5}}))
    refused = transformers_passes(replace(loaded, cfg=strict))
    refused.run(prompts[:4], s, "tuned", progress=False, use_cache=False)
    assert refused.tuned_weights.startswith("unmerged LoRA: merged weights disagree")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("room", [True, False], ids=["device-copies", "host-copies"])
def test_in_place_merge_on_a_gpu_restores_bit_for_bit_with_or_without_room(world, monkeypatch, room):
    """On an accelerator the original weights wait on the device when it has room for them,
    else in host memory; either way the restored model is bit-identical."""
    from sftcheck import merging

    cfg = cfgmod.load(world.config).with_overrides("model", device="cuda")
    loaded = load_model(cfg)
    model = loaded.model
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if not room:
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (0, 1))
    layers = merging._lora_layers(model)
    assert merging._aside_device(layers) == (None if room else "cpu")
    with merged_in_place(model):
        pass
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_in_place_merge_on_the_cpu_keeps_its_copies_where_the_weights_are(setup):
    from sftcheck import merging

    _, loaded, _ = setup
    assert merging._aside_device(merging._lora_layers(loaded.model)) is None
