"""perf.throughput: the measurement arithmetic and the verdict, both ways."""
from __future__ import annotations

import pytest
from sftcheck.checks import perf
from sftcheck.checks.support.result import Status


def tp(model, seconds, tokens=(300,), examples=100):
    return perf.Throughput(model=model, examples=examples, new_tokens=list(tokens) * len(seconds),
                           seconds=list(seconds), batch_size=32, device="cpu float32")


def test_median_of_timed_rounds():
    t = tp("tuned", [2.0, 1.0, 10.0])
    assert t.median_seconds == 2.0
    assert t.examples_per_s == pytest.approx(50.0)
    assert t.tokens_per_s == pytest.approx(150.0)


def test_throughput_passes_above_the_floor_and_carries_the_table():
    r = perf.throughput(tp("base", [1.0]), tp("tuned", [2.0]), min_examples_per_s=10)
    assert r.status is Status.PASS
    table = r.evidence[0]
    assert table.columns == ("benchmark", "metric", "base", "tuned", "change")
    assert table.rows[0] == ("eval", "examples/s", "100.0", "50.0", "×0.50")
    assert r.to_dict()["metrics"]["change"]["examples_per_s_ratio"] == pytest.approx(0.5)


def test_throughput_fails_below_the_floor_with_causes():
    r = perf.throughput(tp("base", [1.0]), tp("tuned", [20.0]), min_examples_per_s=10)
    assert r.status is Status.FAIL
    assert "tuned runs 5.00 examples/s (< 10)" in r.explanation and "base runs" not in r.explanation
    assert "batch size" in r.explanation and "batch_size" in r.fix


def test_no_timed_rounds_is_an_error_not_a_pass():
    r = perf.throughput(tp("base", []), tp("tuned", []))
    assert r.status is Status.ERROR and "No timed rounds" in r.explanation
