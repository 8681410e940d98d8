"""Header-only adapter validation vs loading the adapter, on a synthetic ~1 GB adapter.

The adapter has a 7B model's LoRA layout (Llama-2-7B shapes: 32 layers, hidden 4096,
MLP 11008, vocab 32000; r = 64 on q/k/v/o/gate/up/down in fp32, plus ``lm_head`` saved
as modules_to_save in bf16), written once with safetensors into a cache folder
(``$SFTCHECK_BENCH_DIR``, default ``<tmp>/sftcheck-bench``).  "Header-only" is what
``artifact.adapter_files``, ``safetensors_valid``, ``config_valid``, ``base_match`` and
``target_coverage`` do: parse the header and compare shapes with the base's (the base's
shapes are given, as its own headers would give them).  The baseline loads the adapter
the way ``PeftModel.from_pretrained`` does: ``peft.utils.load_peft_weights`` (a lazy,
memory-mapped ``safetensors.torch.load_file``) and then copying every tensor into the
model's LoRA parameters (preallocated here, outside the timing, since a 7B base does not
fit this machine).  The lazy step alone is reported too: it reads no tensor data.

Run: ``OMP_NUM_THREADS=1 pytest bench/bench_artifact_headers.py --benchmark-group-by=group``
(or ``python bench/bench_artifact_headers.py`` for the table and the ratio).
Goals: header-only >= 20x faster than loading, and <= 0.2 s absolute.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from sftcheck import environment

environment.apply()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from timing import best_of

LAYERS, HIDDEN, MLP, VOCAB, RANK = 32, 4096, 11008, 32000, 64
TARGETS = {"self_attn.q_proj": (HIDDEN, HIDDEN), "self_attn.k_proj": (HIDDEN, HIDDEN),
           "self_attn.v_proj": (HIDDEN, HIDDEN), "self_attn.o_proj": (HIDDEN, HIDDEN),
           "mlp.gate_proj": (MLP, HIDDEN), "mlp.up_proj": (MLP, HIDDEN), "mlp.down_proj": (HIDDEN, MLP)}
VERSION = "1"


def base_shapes() -> dict[str, tuple[int, ...]]:
    """The 7B base's weight shapes (what its safetensors headers would say)."""
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, HIDDEN),
                                          "lm_head.weight": (VOCAB, HIDDEN), "model.norm.weight": (HIDDEN,)}
    for i in range(LAYERS):
        for mod, (out_dim, in_dim) in TARGETS.items():
            shapes[f"model.layers.{i}.{mod}.weight"] = (out_dim, in_dim)
    return shapes


def adapter_config() -> dict:
    return {"peft_type": "LORA", "r": RANK, "lora_alpha": 2 * RANK, "lora_dropout": 0.05,
            "target_modules": sorted({m.split(".")[-1] for m in TARGETS}), "modules_to_save": ["lm_head"],
            "base_model_name_or_path": "meta-llama/Llama-2-7b-hf", "task_type": "CAUSAL_LM",
            "bias": "none", "fan_in_fan_out": False, "rank_pattern": {}, "alpha_pattern": {}}


def synthetic_adapter() -> Path:
    """Write the ~1 GB adapter once (cached across runs; rewritten when VERSION changes)."""
    import torch
    from safetensors.torch import save_file

    folder = Path(os.environ.get("SFTCHECK_BENCH_DIR", Path(tempfile.gettempdir()) / "sftcheck-bench"))
    folder = folder / f"adapter-7b-r{RANK}-v{VERSION}"
    if (folder / "DONE").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for i in range(LAYERS):
        for mod, (out_dim, in_dim) in TARGETS.items():
            key = f"base_model.model.model.layers.{i}.{mod}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(RANK, in_dim, generator=g) * 0.01
            tensors[f"{key}.lora_B.weight"] = torch.randn(out_dim, RANK, generator=g) * 0.001
    tensors["base_model.model.lm_head.weight"] = (torch.randn(VOCAB, HIDDEN, generator=g) * 0.02).bfloat16()
    save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config(), indent=2))
    (folder / "DONE").write_text("")
    return folder


def header_only(folder: Path, shapes: dict) -> list:
    """What the header-only artifact checks do: read the config + header, compare shapes."""
    from sftcheck.checks import artifact
    from sftcheck.checks.support.base_identity import BaseInfo
    from sftcheck.checks.support.lora_layout import layer_of, parse_key
    from sftcheck.checks.support.safetensors_header import read_header

    parse_key.cache_clear()  # a fresh process: no key parsed yet
    layer_of.cache_clear()
    cfg = json.loads((folder / "adapter_config.json").read_text())
    header = read_header(folder / "adapter_model.safetensors")
    base = BaseInfo(configured="meta-llama/Llama-2-7b-hf", declared_id="meta-llama/Llama-2-7b-hf",
                    shapes=shapes, shapes_source="safetensors headers", config={"vocab_size": VOCAB})
    results = [artifact.adapter_files(folder), artifact.safetensors_valid(header), artifact.config_valid(cfg),
               artifact.base_match(cfg, header, base), artifact.target_coverage(cfg, header, base)]
    bad = [r.summary() for r in results if r.status.value != "pass"]
    assert not bad, bad
    return results


def peft_load(folder: Path) -> int:
    """peft's lazy step only: memory-maps the file, reads no tensor data yet."""
    from peft.utils import load_peft_weights

    state = load_peft_weights(str(folder), device="cpu")
    return sum(t.numel() for t in state.values())


def parameters_for(folder: Path) -> dict:
    """Destination tensors standing in for the model's LoRA parameters."""
    import torch
    from sftcheck.checks.support.safetensors_header import read_header

    dt = {"F32": torch.float32, "BF16": torch.bfloat16}
    return {k: torch.empty(t.shape, dtype=dt[t.dtype])
            for k, t in read_header(folder / "adapter_model.safetensors").tensors.items()}


def peft_load_into_model(folder: Path, params: dict) -> int:
    """load_peft_weights + copying each tensor into the parameters (set_peft_model_state_dict)."""
    import torch
    from peft.utils import load_peft_weights

    state = load_peft_weights(str(folder), device="cpu")
    with torch.no_grad():
        for k, t in state.items():
            params[k].copy_(t)
    return len(state)


@pytest.fixture(scope="module")
def adapter():
    return synthetic_adapter(), base_shapes()


@pytest.mark.parametrize("how", ["header_only", "peft_load_into_model", "peft_load_lazy"])
def test_validate_1gb_adapter(benchmark, adapter, how):
    folder, shapes = adapter
    size = (folder / "adapter_model.safetensors").stat().st_size
    benchmark.group = f"validate a {size / 1e9:.2f} GB 7B r={RANK} adapter"
    benchmark.extra_info["adapter_bytes"] = size
    if how == "header_only":
        results = benchmark.pedantic(header_only, args=(folder, shapes), rounds=20, warmup_rounds=2)
        assert len(results) == 5
    elif how == "peft_load_into_model":
        params = parameters_for(folder)
        assert benchmark.pedantic(peft_load_into_model, args=(folder, params), rounds=3,
                                  warmup_rounds=1) == len(params)
    else:
        assert benchmark.pedantic(peft_load, args=(folder,), rounds=3, warmup_rounds=1) > 0


def main() -> None:
    folder, shapes = synthetic_adapter(), base_shapes()
    size = (folder / "adapter_model.safetensors").stat().st_size
    params = parameters_for(folder)
    header_only(folder, shapes)
    peft_load_into_model(folder, params)  # warm the page cache: the baseline at its fastest
    t_header = best_of(header_only, folder, shapes, rounds=10)
    t_load = best_of(peft_load_into_model, folder, params)
    t_lazy = best_of(peft_load, folder)
    print(f"synthetic adapter: {size / 1e9:.2f} GB, {folder}")
    print(f"{'method':<44}{'seconds':>9}")
    for name, t in (("header-only (5 artifact checks)", t_header),
                    ("peft load_peft_weights + copy into params", t_load),
                    ("peft load_peft_weights alone (lazy mmap)", t_lazy)):
        print(f"{name:<44}{t:>9.4f}")
    print(f"header-only vs loading with peft: {t_load / t_header:.0f}x faster (goal >= 20x); "
          f"absolute {t_header:.4f} s (goal <= 0.2 s)")


if __name__ == "__main__":
    main()
