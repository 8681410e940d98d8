"""Pre-training gate: label masks after the user's formatter and collator.
Every input comes, by parameter name, from the session's ``PretrainInputs`` (``sft_inputs``)."""
from sftcheck.checks import labels


def test_not_all_masked(sft_check, sft_inputs):
    sft_check(labels.not_all_masked, **sft_inputs)


def test_prompt_masked(sft_check, sft_inputs):
    sft_check(labels.prompt_masked, **sft_inputs)


def test_response_span(sft_check, sft_inputs):
    sft_check(labels.response_span, **sft_inputs)


def test_eos_trained(sft_check, sft_inputs):
    sft_check(labels.eos_trained, **sft_inputs)


def test_padding_side(sft_check, sft_inputs):
    sft_check(labels.padding_side, **sft_inputs)
