"""The generation cache is keyed by content (issue 9 item 1).  The three stale-cache cases
that once returned a wrong verdict, and the empty / partial entries, are rows of
``tests/test_reproductions.py`` built on the helpers here; this file keeps the other key
parts and entry damages."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch
from sftcheck.fixtures.broken.run_config import variant_config

from sftcheck import config as cfgmod
from sftcheck import generation
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


def fake_hub_snapshot(cache, repo, files, revision="a" * 40):
    root = cache / f"models--{repo.replace('/', '--')}"
    snap = root / "snapshots" / revision
    snap.mkdir(parents=True, exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(revision)
    for f in files:
        shutil.copy(f, snap / f.name)
    return snap


def test_tokenizer_chat_template_and_generation_config_are_in_the_key(world, tmp_path):
    cfg = copy_world(world, tmp_path / "run")
    seen = {identity(cfg)[0]}
    for path, text in ((tmp_path / "run" / "adapter" / "chat_template.jinja", "{{ messages }}"),
                       (tmp_path / "run" / "base" / "generation_config.json",
                        json.dumps({"eos_token_id": 2, "repetition_penalty": 1.3}))):
        path.write_text(text)
        seen.add(identity(cfg)[0])
    assert len(seen) == 3


def rerun_with_damaged_entry(world, tmp_path, monkeypatch, damage) -> tuple[str, bool]:
    """Generate once, damage the cache entry (``damage``), generate again: (the CacheWarning's
    message, whether the damaged entry was used).  The rerun's outputs equal the first's, and
    the regenerated entry is sound again."""
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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        again = p.run(prompts, settings, "base", progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert [g.raw_text for g in again.items] == [g.raw_text for g in good.items]
    monkeypatch.setattr(generation, "_CACHE", {})
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)  # the regenerated entry is sound again
        assert "from_disk_cache" in p.run(prompts, settings, "base", progress=False).settings
    return " | ".join(messages), "from_disk_cache" in again.settings


# "empty list" and "partial items" are rows of tests/test_reproductions.py (issue 9's reproductions)
@pytest.mark.parametrize("damage", ["truncated json", "wrong key"])
def test_corrupt_or_partial_entries_are_discarded_with_a_warning(world, tmp_path, monkeypatch, damage):
    message, used = rerun_with_damaged_entry(world, tmp_path, monkeypatch, damage)
    assert not used
    assert message.startswith("sftcheck: ignoring the generation cache entry "), message
