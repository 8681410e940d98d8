"""Answer parsing: three states, strict vs lenient, numeric tolerance; hypothesis properties."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sftcheck.checks.support.answers import (
    as_number,
    equivalent,
    extract_lenient,
    extract_strict,
    rates,
    score_all,
    score_one,
)
from sftcheck.checks.support.samples import FinishReason, Generation, Outcome


def gen(i: str, text: str) -> Generation:
    return Generation(i, "p", text, text, 3, 4, FinishReason.EOS, 0.01)


def test_strict_extracts_the_tag_and_names_the_rule():
    s = score_one("a", " <answer>2400</answer>", "2400")
    assert (s.outcome, s.extracted, s.rule) == (Outcome.CORRECT, "2400", "strict")


def test_wrong_answer_is_incorrect_not_unparsable():
    s = score_one("a", "<answer>12</answer>", "2400")
    assert s.outcome is Outcome.INCORRECT and s.extracted == "12"


def test_missing_tag_is_unparsable_in_strict_but_lenient_recovers_it():
    strict = score_one("a", "It is 2400 grams.", "2400")
    lenient = score_one("a", "It is 2400 grams.", "2400", mode="lenient")
    assert strict.outcome is Outcome.UNPARSABLE and strict.rule is None
    assert lenient.outcome is Outcome.CORRECT and lenient.rule == "lenient:last_number"


def test_lenient_reads_an_unclosed_tag():
    got = extract_lenient(" <answer>820<|endoftext|>")
    assert (got.answer, got.rule) == ("820", "lenient:unclosed_tag")


def test_numeric_tolerance_relative_and_absolute():
    assert equivalent("2400.0", "2,400")
    assert not equivalent("2401", "2400")
    assert equivalent("2401", "2400", rel_tol=1e-3)
    assert equivalent("2400.4", "2400", abs_tol=0.5)


def test_user_parser_hook_is_the_strict_rule():
    def last_word(text):
        return text.split()[-1] if text.split() else None

    got = extract_strict("so the answer is 7", parser=last_word)
    assert (got.answer, got.rule) == ("7", "hook:last_word")


def test_pattern_without_group_is_rejected_with_the_fix():
    with pytest.raises(ValueError, match="capturing group"):
        extract_strict("<answer>1</answer>", pattern="<answer>.*</answer>")


def test_score_all_default_score_is_exact_match_and_scorer_is_used():
    gens = [gen("a", "<answer>1</answer>"), gen("b", "<answer>2</answer>"), gen("c", "none")]
    gold = {"a": "1", "b": "3", "c": "4"}
    assert [s.score for s in score_all(gens, gold)] == [1.0, 0.0, 0.0]
    scored = score_all(gens, gold, scorer=lambda text, ex: float(len(text)))
    assert [s.score for s in scored] == [18.0, 18.0, 4.0]
    r = rates(scored)
    assert r["correct"] + r["incorrect"] + r["unparsable"] == pytest.approx(1.0)


answers = st.one_of(st.integers(-10**6, 10**6).map(str),
                    st.text(alphabet="abcxyz ", min_size=1, max_size=8).filter(str.strip))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60), gold=answers, mode=st.sampled_from(["strict", "lenient"]))
def test_every_output_lands_in_exactly_one_state(text, gold, mode):
    s = score_one("x", text, gold, mode=mode)
    assert s.outcome in (Outcome.CORRECT, Outcome.INCORRECT, Outcome.UNPARSABLE)
    assert (s.outcome is Outcome.UNPARSABLE) == (s.extracted is None) == (s.rule is None)


@settings(max_examples=200, deadline=None)
@given(gold=answers, prefix=st.text(alphabet="abc .,:\n", max_size=20),
       suffix=st.text(alphabet="abc .,:\n", max_size=20))
def test_a_tagged_gold_answer_is_always_correct(gold, prefix, suffix):
    text = f"{prefix}<answer>{gold}</answer>{suffix}"
    assert score_one("x", text, gold).outcome is Outcome.CORRECT


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60), gold=answers)
def test_lenient_never_loses_what_strict_finds(text, gold):
    strict = score_one("x", text, gold)
    lenient = score_one("x", text, gold, mode="lenient")
    if strict.outcome is not Outcome.UNPARSABLE:
        assert (lenient.outcome, lenient.extracted) == (strict.outcome, strict.extracted)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(-1e9, 1e9, allow_nan=False), rel=st.floats(0, 0.5))
def test_numeric_equivalence_is_symmetric_and_reflexive(x, rel):
    a = repr(x)
    assert as_number(a) == x
    assert equivalent(a, a)
    b = repr(x * (1 + rel / 2))
    assert equivalent(a, b, rel_tol=rel) == equivalent(b, a, rel_tol=rel)
