"""Behaviour checks: what the tuned model generates (one shared generation pass).
Every input comes, by parameter name, from the session's ``BehaviourInputs`` (``sft_inputs``)."""
from sftcheck.checks import behaviour


def test_answer_rate(sft_check, sft_inputs):
    sft_check(behaviour.answer_rate, **sft_inputs)


def test_accuracy(sft_check, sft_inputs):
    sft_check(behaviour.accuracy, **sft_inputs)


def test_stop_rate(sft_check, sft_inputs):
    sft_check(behaviour.stop_rate, **sft_inputs)


def test_no_role_leak(sft_check, sft_inputs):
    sft_check(behaviour.no_role_leak, **sft_inputs)


def test_not_empty(sft_check, sft_inputs):
    sft_check(behaviour.not_empty, **sft_inputs)


def test_adapter_effect(sft_check, sft_inputs):
    sft_check(behaviour.adapter_effect, **sft_inputs)


def test_merge_parity(sft_check, sft_inputs):
    sft_check(behaviour.merge_parity, **sft_inputs)


def test_reward_spread(sft_check, sft_inputs):
    sft_check(behaviour.reward_spread, **sft_inputs)


def test_length_bias(sft_check, sft_inputs):
    sft_check(behaviour.length_bias, **sft_inputs)


def test_sentinel(sft_check, sft_inputs):
    sft_check(behaviour.sentinel, **sft_inputs)
