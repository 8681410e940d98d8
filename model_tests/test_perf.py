"""Throughput of the shared generation engine, base and tuned, timed with pytest-benchmark."""
from sftcheck.checks import perf


def test_throughput(sft_check, benchmark, sft_perf_runner):
    run = sft_perf_runner
    benchmark.pedantic(run, rounds=run.rounds, warmup_rounds=run.warmup, iterations=1)
    run.ensure_timed()
    base, tuned = run.throughput("base"), run.throughput("tuned")
    benchmark.extra_info.update({"base_examples_per_s": base.examples_per_s,
                                 "tuned_examples_per_s": tuned.examples_per_s,
                                 "base_tokens_per_s": base.tokens_per_s,
                                 "tuned_tokens_per_s": tuned.tokens_per_s})
    sft_check(perf.throughput, base, tuned)
