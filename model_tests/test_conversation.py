"""Multi-turn conversation suites ([[suites]] kind = "conversation"): one test per suite and check."""
from sftcheck.checks import conversation


def _scope(run):
    return run.name if run is not None else None


def test_turn_success(sft_check, sft_conversation_run):
    sft_check(conversation.turn_success, sft_conversation_run, scope=_scope(sft_conversation_run))


def test_turn_format(sft_check, sft_conversation_run):
    sft_check(conversation.turn_format, sft_conversation_run, scope=_scope(sft_conversation_run))


def test_judge_calibrated(sft_check, sft_conversation_run):
    sft_check(conversation.judge_calibrated, sft_conversation_run, scope=_scope(sft_conversation_run))
