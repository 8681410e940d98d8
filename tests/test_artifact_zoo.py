"""End to end: the artifact and training model tests run through pytest against every
broken variant (no INTERNALERROR, no traceback, the expected check id caught), and
leave the healthy adapter folder byte-identical."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

# Imported once here so pytester's in-process runs (which restore sys.modules after each
# run) do not re-import torch / transformers / matplotlib for every variant.
import matplotlib.figure  # noqa: F401
import pytest
from sftcheck.checks.support.registry import load_all
from sftcheck.fixtures.broken import artifact as broken
from transformers import AutoTokenizer  # noqa: F401

import sftcheck.plugin
import sftcheck.session_artifact
from sftcheck.loading import load_tokenizer  # noqa: F401

load_all()
sftcheck.plugin.area_plugins()  # imports each area plugin before pytester snapshots sys.modules

ROOT = Path(__file__).resolve().parent.parent
MODEL_TESTS = [str(ROOT / "model_tests" / "test_artifact.py"), str(ROOT / "model_tests" / "test_training.py")]


def _run(pytester: pytest.Pytester, *args: str):
    return pytester.runpytest_inprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", "--assert=plain",
                                        "-p", "no:hypothesispytest",
                                        "-o", "addopts=",
                                        "-W", "ignore::pytest.PytestAssertRewriteWarning", *MODEL_TESTS, *args)


def _records(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text())
    return {c["id"]: c for c in data["checks"]}


@pytest.mark.parametrize("world_name", ["world", "world2"])
@pytest.mark.parametrize("variant", sorted(broken.VARIANTS))
def test_zoo_variant_runs_clean_and_is_caught(request, pytester, tmp_path, variant, world_name):
    """Every artifact / training-log variant, on world 1 (Qwen2) and world 2 (Llama)."""
    world = request.getfixturevalue(world_name)
    dest = tmp_path / "variant"
    dest.mkdir()
    config = broken.VARIANTS[variant](world, dest)
    verdict = tmp_path / "verdict.json"
    result = _run(pytester, "--sft-config", str(config), "--sft-json", str(verdict))
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    assert "Traceback" not in out
    check_id, status = broken.EXPECTED[variant]
    records = _records(verdict)
    assert records[check_id]["status"] == status, out[-3000:]
    assert not [c for c in records.values() if c["status"] == "error"], out[-3000:]
    name = check_id.split(".", 1)[1]
    if status == "fail":
        result.stdout.fnmatch_lines([f"*test_{name}*", f"*FAIL {check_id}: measured*"])
        assert result.ret == pytest.ExitCode.TESTS_FAILED


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("world_name", ["world", "world2"])
def test_adapter_folder_is_byte_identical_after_a_run(request, pytester, world_name):
    world = request.getfixturevalue(world_name)
    before = _digest(world.adapter)
    result = _run(pytester, "--sft-config", str(world.config))
    result.assert_outcomes(passed=10)
    assert _digest(world.adapter) == before


def test_unresolvable_base_is_not_a_pass(world, pytester, tmp_path):
    """Nothing about the base can be read: base_match and vocab_consistent skip with the
    reason instead of passing with 'shapes not checked' / '(None rows)'."""
    dest = tmp_path / "variant"
    dest.mkdir()
    verdict = tmp_path / "verdict.json"
    _run(pytester, "--sft-config", str(broken.unresolvable_base(world, dest)), "--sft-json", str(verdict))
    records = _records(verdict)
    for check_id in ("artifact.base_match", "artifact.vocab_consistent"):
        assert records[check_id]["status"] == "skip", records[check_id]
    assert "nothing about the base was verified" in records["artifact.base_match"]["explanation"]
    assert "compared with nothing" in records["artifact.vocab_consistent"]["explanation"]
