"""Pre-training gate: label masks after the user's formatter and collator."""
import pytest

import checks.labels

pytestmark = pytest.mark.pretrain


def test_not_all_masked(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(checks.labels.not_all_masked, sft_train_rows, sft_tokenizer)


def test_prompt_masked(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(checks.labels.prompt_masked, sft_train_rows, sft_tokenizer)


def test_response_span(sft_check, sft_train_rows, sft_tokenizer, sft_config):
    sft_check(checks.labels.response_span, sft_train_rows, sft_tokenizer, sft_config.format.completion_template)


def test_eos_trained(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(checks.labels.eos_trained, sft_train_rows, sft_tokenizer)


def test_padding_side(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(checks.labels.padding_side, sft_train_rows, sft_tokenizer)
