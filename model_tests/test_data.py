"""Pre-training gate: the data files (rows parse, truncation, answer round trip, leakage).
Every input comes, by parameter name, from the session's ``PretrainInputs`` (``sft_inputs``)."""
from sftcheck.checks import data


def test_schema(sft_check, sft_inputs):
    sft_check(data.schema, **sft_inputs)


def test_truncation(sft_check, sft_inputs):
    sft_check(data.truncation, **sft_inputs)


def test_answer_roundtrip(sft_check, sft_inputs):
    sft_check(data.answer_roundtrip, **sft_inputs)


def test_leakage(sft_check, sft_inputs):
    sft_check(data.leakage, **sft_inputs)
