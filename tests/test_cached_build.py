"""``fixtures.world.cached_build``: a world built in ``<root>.building`` and renamed carries a run
config naming its final folder (a fresh CI machine once ran the conversation suite against
``conversation.building/adapter``, which no longer existed, and wrote no verdict)."""
from __future__ import annotations

from pathlib import Path

from sftcheck.fixtures.world import cached_build


def _write_config(root: Path) -> None:
    (root / "run.toml").write_text(f'adapter = "{root.resolve() / "adapter"}"\n')


def _build(dest: Path, log) -> None:
    (dest / "adapter").mkdir(parents=True)
    _write_config(dest)
    (dest / "VERSION").write_text("1")


def test_a_fresh_build_names_its_final_folder(tmp_path):
    world = cached_build(tmp_path / "w", "1", _build, _write_config, "a test world", log=lambda m: None)
    text = (world.root / "run.toml").read_text()
    assert ".building" not in text and str((tmp_path / "w" / "adapter").resolve()) in text, text
    assert not (tmp_path / "w.building").exists()


def test_a_cached_world_is_not_rebuilt_and_its_config_is_rewritten(tmp_path):
    calls = []
    cached_build(tmp_path / "w", "1", _build, _write_config, "a test world", log=calls.append)
    (tmp_path / "w" / "run.toml").write_text("stale")
    world = cached_build(tmp_path / "w", "1", _build, _write_config, "a test world", log=calls.append)
    assert len(calls) == 1  # built once
    assert "stale" not in (world.root / "run.toml").read_text()
