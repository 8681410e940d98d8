"""Pre-training gate: token ids fit the embedding; template tokens exist and are trained.
Every input comes, by parameter name, from the session's ``PretrainInputs`` (``sft_inputs``)."""
from sftcheck.checks import tokens


def test_vocab_bounds(sft_check, sft_inputs):
    sft_check(tokens.vocab_bounds, **sft_inputs)


def test_format_embeddings_trained(sft_check, sft_inputs):
    sft_check(tokens.format_embeddings_trained, **sft_inputs)
