"""Pre-training gate: the inference prompt is the training prompt; BOS and stop tokens agree."""
from sftcheck.checks import format


def test_train_infer_aligned(sft_check, sft_train_rows, sft_infer_prompts, sft_tokenizer):
    sft_check(format.train_infer_aligned, sft_train_rows, sft_infer_prompts, sft_tokenizer)


def test_bos_single(sft_check, sft_train_rows, sft_infer_prompts, sft_tokenizer):
    sft_check(format.bos_single, sft_train_rows, sft_infer_prompts, sft_tokenizer)


def test_stop_tokens(sft_check, sft_train_rows, sft_stop_set, sft_tokenizer):
    sft_check(format.stop_tokens, sft_train_rows, sft_stop_set, sft_tokenizer)
