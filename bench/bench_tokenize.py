"""Tokenizing homework-size question/answer rows for the pre-training gate: one fast-tokenizer
batch call vs the same rows one at a time (and through the world's own per-row formatter).

Run: ``OMP_NUM_THREADS=1 pytest bench/bench_tokenize.py --benchmark-group-by=group``
(or ``python bench/bench_tokenize.py`` for a rows/s table).  Goal: >= 10k rows/s batched.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from sftcheck import environment

environment.apply()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from sftcheck.checks.support.rows import Example

from sftcheck.hooks import DEFAULT_COMPLETION, DEFAULT_PROMPT, template_train, template_train_batch

N_ROWS = 5000


def rows_and_tokenizer():
    from sftcheck.fixtures.world import build_world
    from transformers import AutoTokenizer

    from sftcheck.dataio import iter_examples

    world = build_world()
    base = list(iter_examples(world.train))
    rows = [Example(e.file, i + 1, f"r{i}", e.question, e.answer) for i, e in
            enumerate((base * (N_ROWS // len(base) + 1))[:N_ROWS])]
    return rows, AutoTokenizer.from_pretrained(str(world.adapter))


def one_at_a_time(rows, tok):
    return [template_train(r, tok, DEFAULT_PROMPT, DEFAULT_COMPLETION) for r in rows]


def batched(rows, tok):
    return template_train_batch(rows, tok, DEFAULT_PROMPT, DEFAULT_COMPLETION)


def user_formatter(rows, tok):
    from sftcheck.fixtures.user_code import format_example

    return [format_example(r.question, r.answer, tok) for r in rows]


@pytest.fixture(scope="module")
def data():
    return rows_and_tokenizer()


@pytest.mark.parametrize("how", [batched, one_at_a_time, user_formatter], ids=lambda f: f.__name__)
def test_tokenize_rows(benchmark, data, how):
    rows, tok = data
    benchmark.group = f"tokenize {N_ROWS} QA rows"
    out = benchmark.pedantic(how, args=(rows, tok), rounds=3, iterations=1)
    assert len(out) == N_ROWS and out[0] == template_train(rows[0], tok, DEFAULT_PROMPT, DEFAULT_COMPLETION)


def _time(fn, rows, tok) -> float:
    t0 = time.perf_counter()
    fn(rows, tok)
    return time.perf_counter() - t0


if __name__ == "__main__":
    rows, tok = rows_and_tokenizer()
    results = {}
    for fn in (batched, one_at_a_time, user_formatter):
        best = min(_time(fn, rows, tok) for _ in range(3))
        results[fn.__name__] = N_ROWS / best
    for name, rate in results.items():
        print(f"{name:16s} {rate:10,.0f} rows/s   x{rate / results['one_at_a_time']:.1f} vs one at a time")
