"""training.log_sane: passes on the healthy world's log, fails with the cause on broken logs."""
from __future__ import annotations

import json

from sftcheck.checks.support.lora_layout import Unreadable
from sftcheck.checks.support.result import Image, Status
from sftcheck.checks.training import log_sane


def _log(losses, grads=None, **extra):
    grads = grads or [1.0] * len(losses)
    return {"log_history": [{"step": 10 * (i + 1), "loss": l, "grad_norm": g}
                            for i, (l, g) in enumerate(zip(losses, grads))], **extra}


def test_healthy_world_log_passes_with_a_curve(world):
    state = json.loads((world.adapter / "trainer_state.json").read_text())
    final = [e["loss"] for e in state["log_history"] if "loss" in e][-1]
    r = log_sane(state, min_final_loss=min(0.1, final / 2))  # the world's task is deterministic
    assert r.status is Status.PASS, r.summary()
    assert r.metrics["trainable_parameters"] > 0
    assert any(isinstance(e, Image) and e.png.startswith(b"\x89PNG") for e in r.evidence)


def test_nan_loss_fails_naming_the_step():
    r = log_sane(_log([3.0, 2.0, float("nan"), 1.5]))
    assert r.status is Status.FAIL and "step 30" in r.explanation and "fp16" in r.explanation


def test_nan_written_as_a_string_is_caught():
    r = log_sane({"log_history": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": "NaN"}]})
    assert r.status is Status.FAIL


def test_exactly_zero_loss_fails_and_a_low_final_loss_warns():
    r = log_sane(_log([2.0, 0.5, 0.0, 0.0]))
    assert r.status is Status.FAIL and "exactly 0.0" in r.explanation and "step 30" in r.explanation
    low = _log([2.0, 0.5, 0.05, 0.01])
    assert log_sane(low).status is Status.WARN
    assert "0.01 < 0.1" in log_sane(low).explanation
    assert log_sane(low, min_final_loss=0.001).status is Status.PASS


def test_zero_grad_norm_fails():
    r = log_sane(_log([2.0, 1.9, 1.8], grads=[0.0, 0.0, 0.0]))
    assert r.status is Status.FAIL and "enable_input_require_grads" in r.fix


def test_zero_trainable_parameters_fails():
    r = log_sane(_log([2.0, 1.0], trainable_parameters=0))
    assert r.status is Status.FAIL and "0 trainable" in r.explanation


def test_flat_loss_warns_and_high_loss_fails():
    assert log_sane(_log([2.0, 2.1, 2.0, 2.05])).status is Status.WARN
    assert log_sane(_log([11.0, 10.5, 10.4, 10.3])).status is Status.FAIL


def test_missing_and_unreadable_logs():
    assert log_sane(None).status is Status.SKIP
    assert log_sane(Unreadable("x.json: not valid JSON")).status is Status.FAIL
    assert log_sane({"log_history": []}).status is Status.WARN


def test_a_non_finite_trainable_count_is_not_a_crash():
    for count in (float("nan"), "inf", "-Infinity"):
        r = log_sane(_log([2.0, 1.0], trainable_parameters=count))
        assert r.status is Status.PASS, r.summary()
        assert r.metrics["trainable_parameters"] is None
    assert log_sane(_log([2.0, 1.0], trainable_parameters=0)).status is Status.FAIL
