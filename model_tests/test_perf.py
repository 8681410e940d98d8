"""Throughput of the session's generation passes, base and tuned (extra timed rounds only
when ``[scoring] perf_rounds`` asks for them)."""
from sftcheck.checks import perf


def test_throughput(sft_check, sft_throughput):
    base, tuned = sft_throughput
    sft_check(perf.throughput, base, tuned)
