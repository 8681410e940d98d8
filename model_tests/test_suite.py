"""Evaluation suites ([[suites]]): one test per suite and check, plus the summary table."""
from sftcheck.checks import suite


def test_data(sft_check, sft_suite_run):
    sft_check(suite.data, sft_suite_run, scope=sft_suite_run.name)


def test_accuracy(sft_check, sft_suite_run):
    sft_check(suite.accuracy, sft_suite_run, scope=sft_suite_run.name)


def test_loglik_accuracy(sft_check, sft_suite_run):
    sft_check(suite.loglik_accuracy, sft_suite_run, scope=sft_suite_run.name)


def test_unparsable(sft_check, sft_suite_run):
    sft_check(suite.unparsable, sft_suite_run, scope=sft_suite_run.name)


def test_safe_rate(sft_check, sft_suite_run):
    sft_check(suite.safe_rate, sft_suite_run, scope=sft_suite_run.name)


def test_over_refusal(sft_check, sft_suite_run):
    sft_check(suite.over_refusal, sft_suite_run, scope=sft_suite_run.name)


def test_refusal_classifier(sft_check, sft_suite_run):
    sft_check(suite.refusal_classifier, sft_suite_run, scope=sft_suite_run.name)


def test_win_rate(sft_check, sft_suite_run):
    sft_check(suite.win_rate, sft_suite_run, scope=sft_suite_run.name)


def test_length_bias(sft_check, sft_suite_run):
    sft_check(suite.length_bias, sft_suite_run, scope=sft_suite_run.name)


def test_judge_agreement(sft_check, sft_suite_run):
    sft_check(suite.judge_agreement, sft_suite_run, scope=sft_suite_run.name)


def test_summary(sft_check, sft_suite_all):
    sft_check(suite.summary, sft_suite_all)
