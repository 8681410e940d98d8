"""The configured judge / scorer against human labels (skipped when not configured)."""
from sftcheck.checks import scoring
from sftcheck.checks.support.calibration import human_judgements


def test_judge_calibrated(sft_check, sft_config, sft_judge_verdicts, sft_human_labels, sft_scorer_name):
    component = sft_config.scoring.label_component
    human = human_judgements(sft_human_labels, component) if sft_human_labels else None
    sft_check(scoring.judge_calibrated, sft_judge_verdicts, human,
              str(sft_config.scoring.human_labels or "human labels"), sft_scorer_name, component)


def test_reward_components(sft_check, sft_rewards, sft_scorer_name):
    sft_check(scoring.reward_components, sft_rewards, sft_scorer_name)


def test_length_flip(sft_check, sft_length_flips):
    sft_check(scoring.length_flip, sft_length_flips)
