"""The configured judge / scorer against human labels (skipped when not configured)."""
from sftcheck.checks import scoring


def test_judge_calibrated(sft_check, sft_config, sft_judge_verdicts, sft_human_labels):
    human = {k: r["label"] for k, r in sft_human_labels.items()} if sft_human_labels else None
    sft_check(scoring.judge_calibrated, sft_judge_verdicts, human,
              str(sft_config.scoring.human_labels or "human labels"), sft_config.scoring.scorer)
