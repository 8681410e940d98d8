"""Stages follow from what is configured: without an adapter or a fine-tuned model, the
checks that judge one are skipped with the reason — no ``-m`` flag needed."""
from __future__ import annotations

from pathlib import Path

from sftcheck.fixtures.broken.pretrain import write_config

from sftcheck import config as cfgmod
from sftcheck.session_model import missing_tuned_model
from tests.test_row_hooks import HEALTHY_DATA, gsm_run

ROOT = Path(__file__).resolve().parent.parent


def test_a_tuned_model_runs_every_stage_and_a_base_alone_does_not(world, tmp_path):
    assert missing_tuned_model(cfgmod.load(world.config)) is None
    why = missing_tuned_model(cfgmod.load(write_config(world, tmp_path, model={"adapter": None})))
    assert why and "[model] adapter and finetuned are unset" in why and "nothing tuned from it" in why


def test_tokenizer_and_data_only_is_the_pretrain_gate_without_flags(pytester, world, tmp_path):
    cfg = gsm_run(world, tmp_path, data=HEALTHY_DATA)
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", str(ROOT / "model_tests"),
                                           "--sft-config", str(cfg), "--rootdir", str(ROOT), "-rs")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 11
    out = result.stdout.str()
    for module, n in (("test_behaviour.py", 10), ("test_gates.py", 5), ("test_scoring.py", 2), ("test_perf.py", 1)):
        assert f"SKIPPED [{n}] " in out and f"model_tests/{module}: no tuned model configured" in out, module
