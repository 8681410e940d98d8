"""Base-vs-tuned gates: base ceiling, tuned floor, paired McNemar, effect size, contamination.
Every input comes, by parameter name, from the session's ``GateInputs`` (``sft_inputs``)."""
from sftcheck.checks import gates


def test_base_ceiling(sft_check, sft_inputs):
    sft_check(gates.base_ceiling, **sft_inputs)


def test_tuned_floor(sft_check, sft_inputs):
    sft_check(gates.tuned_floor, **sft_inputs)


def test_mcnemar(sft_check, sft_inputs):
    sft_check(gates.mcnemar, **sft_inputs)


def test_effect_size(sft_check, sft_inputs):
    sft_check(gates.effect_size, **sft_inputs)


def test_contamination(sft_check, sft_inputs):
    sft_check(gates.contamination, **sft_inputs)
