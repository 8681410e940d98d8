"""Training-log sanity, from the run's trainer_state.json (skipped when there is none)."""
import pytest

import checks.training

pytestmark = pytest.mark.training


def test_log_sane(sft_check, sft_trainer_state):
    sft_check(checks.training.log_sane, sft_trainer_state)
