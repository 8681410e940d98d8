"""The gap before training ([models.<name>]: base, reference, alternative; no adapter needed)."""
from sftcheck.checks import gap


def test_base_ceiling(sft_check, sft_model_runs):
    sft_check(gap.base_ceiling, sft_model_runs)


def test_reference_floor(sft_check, sft_model_runs):
    sft_check(gap.reference_floor, sft_model_runs)


def test_significance(sft_check, sft_model_runs):
    sft_check(gap.significance, sft_model_runs)


def test_effect_size(sft_check, sft_model_runs):
    sft_check(gap.effect_size, sft_model_runs)


def test_sentinel(sft_check, sft_model_runs):
    sft_check(gap.sentinel, sft_model_runs)


def test_power(sft_check, sft_model_runs):
    sft_check(gap.power, sft_model_runs)


def test_verdict(sft_check, sft_model_runs, sft_gap_thresholds):
    sft_check(gap.verdict, sft_model_runs, sft_gap_thresholds)
