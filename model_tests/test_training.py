"""Training-log sanity, from the run's trainer_state.json (skipped when there is none)."""
import pytest
from sftcheck.checks import training

pytestmark = pytest.mark.training


def test_log_sane(sft_check, sft_trainer_state):
    sft_check(training.log_sane, sft_trainer_state)
