"""The generation cache is keyed by content (issue 9 item 1): the three stale-cache cases
that once returned a wrong verdict now miss the cache, and a corrupt or partial entry is
discarded with a warning, never used."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import pytest
import torch
from sftcheck.fixtures.broken.run_config import variant_config

from sftcheck import config as cfgmod
from sftcheck import content_id, generation
from sftcheck.generation import CacheWarning, GenerationSettings
from sftcheck.loading import load_model, model_identity, resolve_placement
from sftcheck.passes import stop_set, transformers_passes
from sftcheck.session_model import build_prompts, read_eval_rows


def copy_world(world, dest, **model):
    """The world's base and adapter copied (they get changed), data shared, config rewritten."""
    shutil.copytree(world.base, dest / "base")
    shutil.copytree(world.adapter, dest / "adapter")
    keys = {"base": dest / "base", "adapter": dest / "adapter", **model}
    return cfgmod.load(variant_config(world, dest, model=keys, generation={"n_examples": 8}))


def identity(cfg):
    return model_identity(cfg, resolve_placement(cfg))


def test_lora_alpha_change_misses_the_cache_with_the_tokenizer_from_the_base(world, tmp_path, monkeypatch):
    """Stale case 1: adapter_config.json changed, [model] tokenizer points at the base."""
    torch.set_num_threads(1)
    monkeypatch.setenv("SFTCHECK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(generation, "_CACHE", {})
    cfg = copy_world(world, tmp_path / "run", tokenizer=tmp_path / "run" / "base")
    settings = GenerationSettings(max_new_tokens=12, batch_size=8)

    def passes():
        loaded = load_model(cfg)
        p = transformers_passes(loaded, stop_set(cfg, loaded.tokenizer))
        return p, build_prompts(cfg, loaded.tokenizer, read_eval_rows(cfg))

    p, prompts = passes()
    first = p.run(prompts, settings, "tuned", progress=False)
    assert "from_disk_cache" not in first.settings
    monkeypatch.setattr(generation, "_CACHE", {})
    p, _ = passes()
    assert "from_disk_cache" in p.run(prompts, settings, "tuned", progress=False).settings  # unchanged: hit
    assert p.log[-1]["cache"].startswith("hit: ")
    path = tmp_path / "run" / "adapter" / "adapter_config.json"
    data = json.loads(path.read_text())
    data["lora_alpha"] = 0  # the adapter's update scaled to nothing: base behaviour
    path.write_text(json.dumps(data))
    monkeypatch.setattr(generation, "_CACHE", {})
    p, _ = passes()
    again = p.run(prompts, settings, "tuned", progress=False)
    assert "from_disk_cache" not in again.settings and p.log[-1]["cache"] == "generated"
    assert [g.text for g in again.items] != [g.text for g in first.items]


def test_base_rewritten_at_the_same_size_with_the_mtime_restored(world, tmp_path, monkeypatch):
    """Stale case 2 (rsync -a / tar restore mtimes), for a fully hashed and a sampled file."""
    cfg = copy_world(world, tmp_path / "run")
    weights = tmp_path / "run" / "base" / "model.safetensors"
    for full_limit in (content_id.FULL_HASH_BYTES, 0):  # 0: even this small file is sampled
        monkeypatch.setattr(content_id, "FULL_HASH_BYTES", full_limit)
        before, keyed = identity(cfg)
        assert keyed
        st = weights.stat()
        data = bytearray(weights.read_bytes())
        header = 8 + int.from_bytes(data[:8], "little")
        k = header + (len(data) - header) // 3 + 12345  # inside the tensors, between sampled blocks
        data[k] ^= 0xFF
        weights.write_bytes(bytes(data))
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert weights.stat().st_size == st.st_size and weights.stat().st_mtime_ns == st.st_mtime_ns
        assert identity(cfg)[0] != before


def fake_hub_snapshot(cache, repo, files, revision="a" * 40):
    root = cache / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    for f in files:
        shutil.copy(f, snap / f.name)
    return snap


def test_a_hub_id_base_is_identified_by_its_cached_snapshot(world, tmp_path, monkeypatch):
    """Stale case 3: a hub id's cached snapshot changes; an id not in the cache is never
    written to the disk cache (paths identify it for the session only)."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = fake_hub_snapshot(cache, "org/tiny-base", sorted(world.base.iterdir()))
    cfg = cfgmod.load(variant_config(world, tmp_path / "run", model={"base": "org/tiny-base"}))
    assert cfg.model.base == "org/tiny-base"
    before, keyed = identity(cfg)
    assert keyed and before.startswith("content:")
    config = json.loads((snap / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (snap / "config.json").write_text(json.dumps(config))
    assert identity(cfg)[0] != before
    missing = cfgmod.load(variant_config(world, tmp_path / "run2", model={"base": "org/not-cached"}))
    model_id, keyed = identity(missing)
    assert not keyed and model_id.startswith("paths:")


def test_tokenizer_chat_template_and_generation_config_are_in_the_key(world, tmp_path):
    cfg = copy_world(world, tmp_path / "run")
    seen = {identity(cfg)[0]}
    for path, text in ((tmp_path / "run" / "adapter" / "chat_template.jinja", "{{ messages }}"),
                       (tmp_path / "run" / "base" / "generation_config.json",
                        json.dumps({"eos_token_id": 2, "repetition_penalty": 1.3}))):
        path.write_text(text)
        seen.add(identity(cfg)[0])
    assert len(seen) == 3


@pytest.mark.parametrize("damage", ["empty list", "truncated json", "partial items", "wrong key"])
def test_corrupt_or_partial_entries_are_discarded_with_a_warning(world, tmp_path, monkeypatch, damage):
    torch.set_num_threads(1)
    monkeypatch.setenv("SFTCHECK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(generation, "_CACHE", {})
    cfg = cfgmod.load(variant_config(world, tmp_path / "run", generation={"n_examples": 6}))
    loaded = load_model(cfg)
    prompts = build_prompts(cfg, loaded.tokenizer, read_eval_rows(cfg))
    settings = GenerationSettings(max_new_tokens=6)
    p = transformers_passes(loaded, stop_set(cfg, loaded.tokenizer))
    good = p.run(prompts, settings, "base", progress=False)
    (entry,) = (tmp_path / "cache" / "generations").glob("*.json")
    raw = json.loads(entry.read_text())
    entry.write_text({"empty list": "[]", "truncated json": entry.read_text()[:200],
                      "partial items": json.dumps({**raw, "items": raw["items"][:5]}),
                      "wrong key": json.dumps({**raw, "key": "0" * 64})}[damage])
    monkeypatch.setattr(generation, "_CACHE", {})
    with pytest.warns(CacheWarning, match=f"ignoring the generation cache entry {entry}"):
        again = p.run(prompts, settings, "base", progress=False)
    assert "from_disk_cache" not in again.settings
    assert [g.raw_text for g in again.items] == [g.raw_text for g in good.items]
    monkeypatch.setattr(generation, "_CACHE", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # the regenerated entry is sound again
        assert "from_disk_cache" in p.run(prompts, settings, "base", progress=False).settings
