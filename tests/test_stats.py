"""Properties of the paired statistics behind the gates (hypothesis) and loud pairing errors."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sftcheck.checks.support import stats
from sftcheck.checks.support.samples import Outcome, Scored

counts = st.integers(min_value=0, max_value=200)
probs = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def scored(ids, correct):
    return [Scored(i, "1", "1" if c else "0", Outcome.CORRECT if c else Outcome.INCORRECT, "strict")
            for i, c in zip(ids, correct)]


@settings(max_examples=60, deadline=None)
@given(counts, counts)
def test_mcnemar_symmetric_in_b_and_c(b, c):
    assert stats.mcnemar_exact(b, c).pvalue == pytest.approx(stats.mcnemar_exact(c, b).pvalue)


@settings(max_examples=60, deadline=None)
@given(counts, counts)
def test_mcnemar_p_is_a_probability(b, c):
    p = stats.mcnemar_exact(b, c).pvalue
    assert 0.0 <= p <= 1.0
    if b == c:
        assert p == pytest.approx(1.0)


def test_mcnemar_no_discordant_pairs_is_p_one():
    assert stats.mcnemar_exact(0, 0).pvalue == 1.0


def test_mcnemar_reference_value():
    # all 10 discordant pairs one way: two-sided binomial p = 2 * 0.5**10
    assert stats.mcnemar_exact(0, 10).pvalue == pytest.approx(2 * 0.5 ** 10)


@settings(max_examples=80, deadline=None)
@given(probs, probs, probs)
def test_cohens_h_monotone_in_tuned_accuracy(base, p1, p2):
    lo, hi = sorted((p1, p2))
    assert stats.cohens_h(lo, base) <= stats.cohens_h(hi, base) + 1e-12


@settings(max_examples=60, deadline=None)
@given(probs, probs)
def test_cohens_h_antisymmetric(p1, p2):
    assert stats.cohens_h(p1, p2) == pytest.approx(-stats.cohens_h(p2, p1), abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=1, max_value=500), st.data())
def test_wilson_contains_the_observed_share(n, data):
    k = data.draw(st.integers(min_value=0, max_value=n))
    lo, hi = stats.wilson(k, n)
    assert 0.0 <= lo <= k / n + 1e-12
    assert k / n - 1e-12 <= hi <= 1.0


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=60),
       st.integers(min_value=0, max_value=2**16))
def test_bootstrap_is_deterministic_and_bounded(pairs, seed):
    ids = [f"e{i}" for i in range(len(pairs))]
    p = stats.pair(scored(ids, [a for a, _ in pairs]), scored(ids, [b for _, b in pairs]))
    ci1 = stats.bootstrap_diff_ci(p, n_resamples=300, seed=seed)
    ci2 = stats.bootstrap_diff_ci(p, n_resamples=300, seed=seed)
    assert ci1 == ci2
    assert -1.0 <= ci1[0] <= ci1[1] <= 1.0


def test_n_for_power_shrinks_as_the_effect_grows():
    assert stats.n_for_power(0.2) > stats.n_for_power(0.5) > stats.n_for_power(0.8)
    assert math.isinf(stats.n_for_power(0.0))


def test_discordant_counts():
    ids = ["a", "b", "c", "d", "e"]
    p = stats.pair(scored(ids, [1, 1, 0, 0, 0]), scored(ids, [1, 0, 1, 1, 0]))
    assert p.discordant() == (1, 2)
    assert p.table() == [[1, 1], [2, 1]]


def test_pairing_is_by_id_not_by_position():
    base = scored(["a", "b"], [1, 0])
    tuned = scored(["b", "a"], [0, 1])
    assert stats.pair(base, tuned).discordant() == (0, 0)


def test_duplicate_ids_fail_loudly():
    with pytest.raises(stats.PairingError, match="duplicate example id.*'a'"):
        stats.pair(scored(["a", "a", "b"], [1, 0, 1]), scored(["a", "b"], [1, 1]))


def test_duplicate_eval_ids_fail_loudly_even_when_scores_are_unique():
    with pytest.raises(stats.PairingError, match="in the eval data"):
        stats.pair(scored(["a", "b"], [1, 0]), scored(["a", "b"], [1, 1]), expected_ids=["a", "b", "b"])


def test_missing_ids_fail_loudly():
    with pytest.raises(stats.PairingError, match="scored for base but not tuned: 'c'"):
        stats.pair(scored(["a", "b", "c"], [1, 0, 1]), scored(["a", "b"], [1, 1]))
    with pytest.raises(stats.PairingError, match="scored for neither model: 'z'"):
        stats.pair(scored(["a"], [1]), scored(["a"], [1]), expected_ids=["a", "z"])


def test_holm_matches_statsmodels_and_leaves_the_collector_as_it_found_it(monkeypatch):
    import gc

    from sftcheck.checks.support import stats
    from statsmodels.stats.multitest import multipletests

    monkeypatch.setattr(stats, "_RUN_KEEPS_FROZEN", False)  # as a library caller (this pytest's own run froze)
    ps = [0.01, 0.04, 0.03, 0.2]
    assert stats.holm(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]))
    assert stats.holm([]) == []
    was_frozen = gc.get_freeze_count() > 0  # this pytest process may have frozen its own
    gc.unfreeze()
    try:
        stats.holm(ps)
        assert gc.get_freeze_count() == 0  # a library caller's objects are not left frozen
        gc.freeze()
        stats.holm(ps)
        assert gc.get_freeze_count() > 0  # a run that froze its objects keeps them frozen
    finally:
        gc.unfreeze()
        if was_frozen:
            gc.freeze()


def test_holm_in_a_run_that_keeps_objects_frozen_does_not_walk_them(monkeypatch):
    """gc.get_freeze_count() walks every frozen object (0.5 M over torch & co.): a run that
    keeps them frozen (sftcheck.gc_freeze) says so, and holm does not ask."""
    import gc

    from sftcheck.checks.support import stats
    from statsmodels.stats.multitest import multipletests

    def walk():
        raise AssertionError("gc.get_freeze_count() called")

    ps = [0.01, 0.04, 0.03, 0.2]
    monkeypatch.setattr(gc, "get_freeze_count", walk)
    monkeypatch.setattr(stats, "_RUN_KEEPS_FROZEN", True)
    assert stats.holm(ps) == pytest.approx(list(multipletests(ps, method="holm")[1]))
    monkeypatch.setattr(stats, "_RUN_KEEPS_FROZEN", False)
    with pytest.raises(AssertionError, match="get_freeze_count"):
        stats.holm(ps)  # a library caller: it must ask
