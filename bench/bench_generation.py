"""Generating the eval set's answers, every way side by side: sftcheck's backends
(``transformers`` unmerged and merged, ``openai`` against the fixture OpenAI-compatible
server on 127.0.0.1) vs (a) the naive per-example ``model.generate`` loop, (b) the bare
batched forward passes of the very same tokens (prefill + one KV-cached step per generated
token, no decoding bookkeeping) and (c) lm-eval's HF backend when importable.

Run: ``OMP_NUM_THREADS=1 pytest bench/bench_generation.py --benchmark-group-by=group``
(or ``python bench/bench_generation.py`` for an examples/s table with the ratios).
Goals: engine >= 10x the naive loop; engine wall time <= 1.2x the bare forward passes;
engine >= 1.5x lm-eval's HF backend (median of 5); merged tuned pass faster than unmerged.
If ``lm_eval`` (lm-evaluation-harness) is importable, its HF backend (``HFLM`` with
``peft=``, same prompts, batch size, greedy, ``max_gen_toks``) runs side by side; install it
in a separate environment (``python -m venv --system-site-packages``; ``pip install lm-eval``)
so it cannot change the project's pinned packages.
"""
from __future__ import annotations

import sys
from pathlib import Path

from sftcheck import environment

environment.apply()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from timing import interleaved_medians, median_of

BATCH_SIZE = 32
MAX_NEW_TOKENS = 32


def setup_world():
    import torch
    from sftcheck.fixtures.world import build_world

    from sftcheck import config as cfgmod
    from sftcheck.generation import GenerationSettings
    from sftcheck.loading import load_model
    from sftcheck.session_model import build_prompts, read_eval_rows

    torch.set_num_threads(1)
    cfg = cfgmod.load(build_world().config)
    loaded = load_model(cfg)
    prompts = build_prompts(cfg, loaded.tokenizer, read_eval_rows(cfg))
    settings = GenerationSettings(max_new_tokens=MAX_NEW_TOKENS, batch_size=BATCH_SIZE)
    return loaded, prompts, settings


def engine(loaded, prompts, settings):
    """The transformers backend, tuned pass, adapter unmerged (PeftModel)."""
    from sftcheck.generation import generate

    return generate(loaded.model, loaded.tokenizer, prompts, settings, variant="tuned",
                    use_cache=False, progress=False)


def engine_merged(loaded, prompts, settings):
    """The transformers backend, tuned pass with the adapter merged in place (what a run does
    once behaviour.merge_parity holds)."""
    from sftcheck.generation import generate
    from sftcheck.merging import merged_in_place

    with merged_in_place(loaded.model) as model:
        return generate(model, loaded.tokenizer, prompts, settings, variant="tuned", use_cache=False,
                        progress=False)


def openai_runner(loaded, url, concurrency=8):
    """The openai backend against the fixture server (one prompt per request)."""
    from sftcheck.passes import openai_passes

    cfg = loaded.cfg.with_overrides("generation", backend="openai", base_url=url, base_model_name="base",
                                    tuned_model_name="tuned", concurrency=concurrency)
    passes = openai_passes(cfg, loaded.tokenizer)
    return lambda prompts, settings: passes.run(prompts, settings, "tuned", progress=False, use_cache=False)


def naive_loop(loaded, prompts, settings):
    """What most evaluation scripts do: one ``generate`` call per example."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    out = []
    with torch.inference_mode():
        for p in prompts:
            x = torch.tensor([list(p.input_ids)])
            g = model.generate(input_ids=x, attention_mask=torch.ones_like(x),
                               max_new_tokens=settings.max_new_tokens, do_sample=False,
                               pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
            out.append(tok.decode(g[0, x.shape[1]:], skip_special_tokens=True))
    return out


def lm_eval_runner(loaded, prompts, settings):
    """lm-evaluation-harness's HF backend on the same model and prompts (or None)."""
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        return None
    cfg = loaded.cfg
    lm = HFLM(pretrained=cfg.model.base, peft=cfg.model.adapter, tokenizer=loaded.tokenizer,
              batch_size=settings.batch_size, device=loaded.placement.device,
              dtype=loaded.placement.dtype, trust_remote_code=False)
    eos = loaded.tokenizer.eos_token
    reqs = [Instance(request_type="generate_until", doc={}, idx=i,
                     arguments=(p.text, {"until": [eos], "max_gen_toks": settings.max_new_tokens,
                                         "do_sample": False})) for i, p in enumerate(prompts)]
    return lambda: lm.generate_until(reqs, disable_tqdm=True)


def bare_plan(loaded, prompts, settings):
    """The engine's own batches and generated tokens, to replay as bare forward passes."""
    result = engine(loaded, prompts, settings)
    tok = loaded.tokenizer
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i].input_ids))
    plan = []
    for start in range(0, len(order), settings.batch_size):
        batch = order[start:start + settings.batch_size]
        new = [tok(result.items[i].raw_text, add_special_tokens=False).input_ids for i in batch]
        plan.append(([list(prompts[i].input_ids) for i in batch], new))
    return plan


def bare_forward(loaded, plan, pad_id):
    """Prefill + one cached step per generated token: the floor any generator pays."""
    import torch

    model = loaded.model
    with torch.inference_mode():
        for prompt_ids, new in plan:
            n, width = len(prompt_ids), max(len(r) for r in prompt_ids)
            ids = torch.full((n, width), pad_id)
            mask = torch.zeros((n, width), dtype=torch.long)
            for i, r in enumerate(prompt_ids):
                ids[i, width - len(r):] = torch.tensor(r)
                mask[i, width - len(r):] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                        logits_to_keep=1)
            cache = getattr(out, "cache", None) or out.past_key_values
            steps = max(len(x) for x in new)
            for t in range(steps - 1):
                step = torch.tensor([[x[t] if t < len(x) else pad_id] for x in new])
                mask = torch.cat([mask, torch.ones((n, 1), dtype=torch.long)], dim=1)
                pos = pos[:, -1:] + 1
                out = model(input_ids=step, attention_mask=mask, position_ids=pos, cache=cache,
                            use_cache=True, logits_to_keep=1)
                cache = getattr(out, "cache", None) or out.past_key_values
                out.logits[:, -1].argmax(-1)


@pytest.fixture(scope="module")
def world_setup():
    return setup_world()


@pytest.mark.parametrize("how", ["engine", "naive_loop", "bare_forward", "lm_eval_hf"])
def test_generate_eval_set(benchmark, world_setup, how):
    loaded, prompts, settings = world_setup
    benchmark.group = "generate 120 eval examples (tuned, greedy, 32 new tokens max)"
    benchmark.extra_info["examples"] = len(prompts)
    if how == "engine":
        result = benchmark.pedantic(engine, args=(loaded, prompts, settings), rounds=3, warmup_rounds=1)
        assert len(result.items) == len(prompts)
    elif how == "naive_loop":
        result = benchmark.pedantic(naive_loop, args=(loaded, prompts, settings), rounds=1, warmup_rounds=0)
        assert len(result) == len(prompts)
    elif how == "lm_eval_hf":
        run = lm_eval_runner(loaded, prompts, settings)
        if run is None:
            pytest.skip("lm-eval is not installed (optional: pip install lm-eval in a separate venv)")
        assert len(benchmark.pedantic(run, rounds=3, warmup_rounds=1)) == len(prompts)
    else:
        plan = bare_plan(loaded, prompts, settings)
        benchmark.pedantic(bare_forward, args=(loaded, plan, loaded.tokenizer.pad_token_id), rounds=3,
                           warmup_rounds=1)


def main() -> None:
    from sftcheck.fixtures.openai_server import running
    from sftcheck.fixtures.world import build_world

    loaded, prompts, settings = setup_world()
    engine(loaded, prompts, settings)  # warm-up
    plan = bare_plan(loaded, prompts, settings)
    methods = {"transformers backend (unmerged)": lambda: engine(loaded, prompts, settings),
               "transformers backend (merged)": lambda: engine_merged(loaded, prompts, settings),
               "bare forward": lambda: bare_forward(loaded, plan, loaded.tokenizer.pad_token_id)}
    run = lm_eval_runner(loaded, prompts, settings)
    if run is not None:
        run()  # warm-up
        methods["lm-eval HF backend (peft, unmerged)"] = run
    times = interleaved_medians(methods, rounds=5)  # one call of each per round
    rows = list(times.items())
    with running(build_world().root) as url:
        remote = openai_runner(loaded, url)
        remote(prompts[:8], settings)  # warm-up
        rows.append(("openai backend (fixture server)", median_of(remote, prompts, settings, rounds=3)))
    rows.append(("naive loop", median_of(naive_loop, loaded, prompts, settings, rounds=1)))
    n = len(prompts)
    times = dict(rows)
    t_engine, t_merged = times["transformers backend (unmerged)"], times["transformers backend (merged)"]
    print(f"{'method (tuned, 120 prompts, greedy, 32 new tokens)':<52}{'seconds':>9}{'examples/s':>12}")
    for name, t in rows:
        print(f"{name:<52}{t:>9.3f}{n / t:>12.1f}")
    print("(the first four: median of 5 rounds run in turn, one call of each per round)")
    print(f"engine vs naive loop: {times['naive loop'] / t_engine:.1f}x faster (goal >= 10x)")
    print(f"merged vs unmerged tuned pass: {t_engine / t_merged:.2f}x (goal > 1)")
    if run is not None:
        t_lm = times["lm-eval HF backend (peft, unmerged)"]
        print(f"engine vs lm-eval HF backend, same unmerged weights: {t_lm / t_engine:.2f}x "
              "(the same forward passes: both call transformers' generate)")
        print(f"engine's tuned pass as a run makes it (merged once merge_parity holds) vs lm-eval with peft=: "
              f"{t_lm / t_merged:.2f}x (goal >= 1.5x, median of 5)")
    print(f"engine overhead vs bare forward passes: {100 * (t_engine / times['bare forward'] - 1):+.1f}% (goal <= 20%)")
    print("(the fixture server decodes one prompt at a time: the openai row measures the client's "
          "overhead and concurrency, not a batching server such as vLLM)")


if __name__ == "__main__":
    main()
