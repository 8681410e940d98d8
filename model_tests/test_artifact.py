"""Adapter artifact checks: files, headers, config, base fit, payloads, tokenizer.

Header-only except ``lora_b_nonzero`` / ``finite``, which read the small LoRA factors
one tensor at a time.  Nothing is written into the adapter folder.  Every input comes,
by parameter name, from the session's ``ArtifactInputs`` (``sft_inputs``).
"""
from sftcheck.checks import artifact


def test_adapter_files(sft_check, sft_inputs):
    sft_check(artifact.adapter_files, **sft_inputs)


def test_safetensors_valid(sft_check, sft_inputs):
    sft_check(artifact.safetensors_valid, **sft_inputs)


def test_config_valid(sft_check, sft_inputs):
    sft_check(artifact.config_valid, **sft_inputs)


def test_base_match(sft_check, sft_inputs):
    sft_check(artifact.base_match, **sft_inputs)


def test_target_coverage(sft_check, sft_inputs):
    sft_check(artifact.target_coverage, **sft_inputs)


def test_lora_b_nonzero(sft_check, sft_inputs):
    sft_check(artifact.lora_b_nonzero, **sft_inputs)


def test_finite(sft_check, sft_inputs):
    sft_check(artifact.finite, **sft_inputs)


def test_tokenizer_saved(sft_check, sft_inputs):
    sft_check(artifact.tokenizer_saved, **sft_inputs)


def test_vocab_consistent(sft_check, sft_inputs):
    sft_check(artifact.vocab_consistent, **sft_inputs)
