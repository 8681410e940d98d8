"""End-to-end: ``pytest -m pretrain`` on model_tests via the plugin, healthy and broken."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sftcheck.fixtures.broken import pretrain as broken

ROOT = Path(__file__).resolve().parent.parent
PRETRAIN_FILES = [str(ROOT / "model_tests" / f"test_{a}.py") for a in ("data", "labels", "format", "tokens")]


def run(pytester, cfg, *extra):
    return pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", *PRETRAIN_FILES,
                                         "-m", "pretrain", "--sft-config", str(cfg), "--rootdir", str(ROOT),
                                         *extra)


def digests(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_healthy_world_passes_and_data_is_untouched(pytester, world):
    before = {**digests(world.train.parent), **digests(world.adapter), **digests(world.base)}
    result = run(pytester, world.config)
    result.assert_outcomes(passed=14)
    after = {**digests(world.train.parent), **digests(world.adapter), **digests(world.base)}
    assert after == before, "the run must not write into the user's data or checkpoint folders"


def test_broken_variant_fails_its_check_with_the_cause(pytester, world, tmp_path):
    cfg = broken.pad_is_eos(world, tmp_path)
    result = run(pytester, cfg)
    result.assert_outcomes(failed=1, passed=12, skipped=1)
    result.stdout.fnmatch_lines(["*FAIL labels.eos_trained*", "*pad == eos*", "Fix: *"])


def test_bad_hook_path_is_a_clean_failure_not_internalerror(pytester, world, tmp_path):
    cfg = broken.write_config(world, tmp_path, fmt={"train_formatter": "missing_hooks.py:format"})
    result = run(pytester, cfg)
    assert "INTERNALERROR" not in result.stdout.str()
    result.stdout.fnmatch_lines(["*train_formatter = 'missing_hooks.py:format'*does not exist*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
