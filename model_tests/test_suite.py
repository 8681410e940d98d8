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


def test_summary(sft_check, sft_suite_all):
    sft_check(suite.summary, sft_suite_all)
