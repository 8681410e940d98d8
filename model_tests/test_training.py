"""Training-log sanity, from the run's trainer_state.json (skipped when there is none)."""
from sftcheck.checks import training


def test_log_sane(sft_check, sft_inputs):
    sft_check(training.log_sane, **sft_inputs)
