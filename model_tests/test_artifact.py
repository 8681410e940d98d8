"""Adapter artifact checks: files, headers, config, base fit, payloads, tokenizer.

Header-only except ``lora_b_nonzero`` / ``finite``, which read the small LoRA factors
one tensor at a time.  Nothing is written into the adapter folder.
"""
from sftcheck.checks import artifact


def test_adapter_files(sft_check, sft_config, sft_adapter_dir):
    sft_check(artifact.adapter_files, sft_adapter_dir, sft_config.model.allow_pickle)


def test_safetensors_valid(sft_check, sft_adapter_weights):
    sft_check(artifact.safetensors_valid, sft_adapter_weights)


def test_config_valid(sft_check, sft_adapter_config):
    sft_check(artifact.config_valid, sft_adapter_config)


def test_base_match(sft_check, sft_adapter_config, sft_adapter_weights, sft_base_info):
    sft_check(artifact.base_match, sft_adapter_config, sft_adapter_weights, sft_base_info)


def test_target_coverage(sft_check, sft_adapter_config, sft_adapter_weights, sft_base_info):
    sft_check(artifact.target_coverage, sft_adapter_config, sft_adapter_weights, sft_base_info)


def test_lora_b_nonzero(sft_check, sft_adapter_weights, sft_adapter_config, sft_base_tensor):
    sft_check(artifact.lora_b_nonzero, sft_adapter_weights, sft_adapter_config, sft_base_tensor)


def test_finite(sft_check, sft_adapter_weights):
    sft_check(artifact.finite, sft_adapter_weights)


def test_tokenizer_saved(sft_check, sft_config, sft_adapter_dir, sft_run):
    sft_check(artifact.tokenizer_saved, sft_adapter_dir, sft_config.model.tokenizer,
              sft_config.format.chat, sft_run.saved_tokenizer)


def test_vocab_consistent(sft_check, sft_tokenizer_len, sft_adapter_weights, sft_base_info):
    sft_check(artifact.vocab_consistent, sft_tokenizer_len, sft_adapter_weights, sft_base_info)
