"""checks.support.answer_key: a shifted multiple-choice key is read from the model's choices,
and nothing healthy (a good model, a guessing one, one that always answers "A") looks shifted."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from sftcheck.checks.support.answer_key import shifted_key
from sftcheck.checks.support.samples import Outcome, Scored

L = "ABCD"


def _scored(golds: list[str], picks: list[str]) -> tuple[list[Scored], dict[str, int]]:
    out = [Scored(f"r{i}", g, p, Outcome.CORRECT if g == p else Outcome.INCORRECT, "loglik")
           for i, (g, p) in enumerate(zip(golds, picks, strict=True))]
    return out, {s.id: 4 for s in out}


def test_a_key_shifted_by_one_is_found_with_its_direction():
    rng = random.Random(0)
    truth = [rng.choice(L) for _ in range(40)]
    key = [L[(L.index(t) + 1) % 4] for t in truth]   # the file's key names the next choice
    shift = shifted_key(*_scored(key, truth))       # a good model picks the truth
    assert shift is not None and shift.offset == -1 and shift.rows == 40 and shift.pvalue < 1e-10
    assert "the choice before the key's letter" in shift.describe()


def test_a_good_model_a_guessing_one_and_an_always_a_one_are_not_shifted():
    rng = random.Random(1)
    key = [rng.choice(L) for _ in range(60)]
    assert shifted_key(*_scored(key, key)) is None                                  # right every time
    assert shifted_key(*_scored(key, [rng.choice(L) for _ in key])) is None         # guessing
    assert shifted_key(*_scored(key, ["A"] * len(key))) is None                      # position bias


def test_one_key_letter_throughout_is_not_read_as_a_shift():
    """Every key letter B and a model that always says A: one offset, but only one key letter."""
    assert shifted_key(*_scored(["B"] * 30, ["A"] * 30)) is None


def test_a_few_rows_are_not_enough():
    key = list("ABCDABCD")
    assert shifted_key(*_scored(key, [L[(L.index(k) + 1) % 4] for k in key])) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(L), st.sampled_from(L)), min_size=10, max_size=80),
       st.floats(min_value=0.0, max_value=1.0))
def test_picks_mostly_on_the_key_never_read_as_shifted(pairs, right_share):
    """Whatever the wrong picks are, a model right on at least half the rows is never 'shifted'."""
    golds = [g for g, _ in pairs]
    n_right = max(len(pairs) // 2, round(right_share * len(pairs)))
    picks = [g if i < n_right else p for i, (g, p) in enumerate(pairs)]
    assert shifted_key(*_scored(golds, picks)) is None
