"""Pre-training gate: the inference prompt is the training prompt; BOS and stop tokens agree.
Every input comes, by parameter name, from the session's ``PretrainInputs`` (``sft_inputs``)."""
from sftcheck.checks import format


def test_train_infer_aligned(sft_check, sft_inputs):
    sft_check(format.train_infer_aligned, **sft_inputs)


def test_bos_single(sft_check, sft_inputs):
    sft_check(format.bos_single, **sft_inputs)


def test_stop_tokens(sft_check, sft_inputs):
    sft_check(format.stop_tokens, **sft_inputs)
