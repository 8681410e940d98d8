"""Behaviour checks: what the tuned model generates (one shared generation pass)."""
from sftcheck.checks import behaviour


def test_answer_rate(sft_check, sft_generations, sft_scored, sft_scored_lenient):
    sft_check(behaviour.answer_rate, sft_generations, sft_scored, sft_scored_lenient)


def test_accuracy(sft_check, sft_generations, sft_scored):
    sft_check(behaviour.accuracy, sft_generations, sft_scored)


def test_stop_rate(sft_check, sft_generations):
    sft_check(behaviour.stop_rate, sft_generations)


def test_no_role_leak(sft_check, sft_generations, sft_output_markers):
    sft_check(behaviour.no_role_leak, sft_generations, sft_output_markers.markers,
              sft_output_markers.stop_tokens)


def test_not_empty(sft_check, sft_generations):
    sft_check(behaviour.not_empty, sft_generations)


def test_adapter_effect(sft_check, sft_probe_logits, sft_generations):
    sft_check(behaviour.adapter_effect, sft_probe_logits.tuned, sft_probe_logits.base,
              sft_generations, sft_probe_logits.notes, sft_probe_logits.subject)


def test_merge_parity(sft_check, sft_probe_logits):
    sft_check(behaviour.merge_parity, sft_probe_logits.tuned, sft_probe_logits.merged,
              sft_probe_logits.merged_source)


def test_reward_spread(sft_check, sft_config, sft_generations, sft_scored, sft_output_markers, sft_scorer_name,
                       sft_rewards):
    sft_check(behaviour.reward_spread, sft_generations, sft_scored, sft_output_markers.markers,
              sft_output_markers.stop_tokens, sft_scorer_name, sft_rewards, sft_config.scoring.markers)


def test_length_bias(sft_check, sft_generations, sft_scored):
    sft_check(behaviour.length_bias, sft_generations, sft_scored)


def test_sentinel(sft_check, sft_scored, sft_sentinel_scored):
    sft_check(behaviour.sentinel, sft_scored, sft_sentinel_scored)
