"""N models side by side ([models.<name>]): the N-way table and the gated pairs."""
from sftcheck.checks import models


def test_table(sft_check, sft_model_runs):
    sft_check(models.table, sft_model_runs)


def test_tuned_vs_base(sft_check, sft_model_runs):
    sft_check(models.tuned_vs_base, sft_model_runs)


def test_tuned_vs_reference(sft_check, sft_model_runs):
    sft_check(models.tuned_vs_reference, sft_model_runs)
