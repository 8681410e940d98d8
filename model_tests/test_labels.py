"""Pre-training gate: label masks after the user's formatter and collator."""
from sftcheck.checks import labels


def test_not_all_masked(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(labels.not_all_masked, sft_train_rows, sft_tokenizer)


def test_prompt_masked(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(labels.prompt_masked, sft_train_rows, sft_tokenizer)


def test_response_span(sft_check, sft_train_rows, sft_tokenizer, sft_config, sft_infer_prompts):
    sft_check(labels.response_span, sft_train_rows, sft_tokenizer, sft_config.format.completion_template,
              sft_infer_prompts)


def test_eos_trained(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(labels.eos_trained, sft_train_rows, sft_tokenizer)


def test_padding_side(sft_check, sft_train_rows, sft_tokenizer):
    sft_check(labels.padding_side, sft_train_rows, sft_tokenizer)
