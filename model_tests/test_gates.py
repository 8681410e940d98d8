"""Base-vs-tuned gates: base ceiling, tuned floor, paired McNemar, effect size, contamination."""
from sftcheck.checks import gates


def test_base_ceiling(sft_check, sft_scored, sft_eval_ids):
    sft_check(gates.base_ceiling, sft_scored["base"], sft_eval_ids)


def test_tuned_floor(sft_check, sft_scored, sft_eval_ids, sft_generations):
    sft_check(gates.tuned_floor, sft_scored["base"], sft_scored["tuned"], sft_eval_ids,
              sft_generations["base"], sft_generations["tuned"])


def test_mcnemar(sft_check, sft_scored, sft_eval_ids, sft_generations):
    sft_check(gates.mcnemar, sft_scored["base"], sft_scored["tuned"], sft_eval_ids,
              sft_generations["base"], sft_generations["tuned"])


def test_effect_size(sft_check, sft_scored, sft_eval_ids):
    sft_check(gates.effect_size, sft_scored["base"], sft_scored["tuned"], sft_eval_ids)


def test_contamination(sft_check, sft_base_info, sft_base_accuracy):
    sft_check(gates.contamination, sft_base_info, sft_base_accuracy)
