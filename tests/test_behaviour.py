"""Behaviour checks called directly on small synthetic generation sets: each passes on a
healthy set and fails, naming the cause, on a broken one."""
from __future__ import annotations

import pytest
import torch
from sftcheck.checks import behaviour
from sftcheck.checks.support.answers import score_all
from sftcheck.checks.support.outputs import role_markers
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet

EOS = "<|endoftext|>"
MARKERS = role_markers(["<|bos|>", EOS, "<|pad|>", "<|im_start|>", "<|im_end|>"], {EOS, "<|pad|>"},
                       "Question: How many grams are in 2 kilograms?\nAnswer:",
                       "How many grams are in 2 kilograms?")
STOPS = (EOS, "<|pad|>")


def make(outputs: list[str], *, base: list[str] | None = None, finish=FinishReason.EOS) -> dict:
    def gs(name, texts):
        items = tuple(Generation(f"e{i}", "Question: q\nAnswer:", t.replace(EOS, ""),
                                 t + (EOS if finish is FinishReason.EOS else ""), 5, 8, finish, 0.01)
                      for i, t in enumerate(texts))
        return GenerationSet(name, items, 0.1, 8, {"max_new_tokens": 32, "stop_ids": [2]})
    return {"base": gs("base", base or [" 2000 grams."] * len(outputs)), "tuned": gs("tuned", outputs)}


GOLD = {f"e{i}": str(1000 * (i + 1)) for i in range(10)}
GOOD = [f" <answer>{1000 * (i + 1)}</answer>" for i in range(10)]


def scored(gens, scorer=None):
    return {k: score_all(v.items, GOLD, scorer=scorer) for k, v in gens.items()}


def test_answer_rate_both_ways():
    gens = make(GOOD)
    assert behaviour.answer_rate(gens, scored(gens)).status is Status.PASS
    bad = make([f" {1000 * (i + 1)} grams" for i in range(10)])
    lenient = {k: score_all(v.items, GOLD, mode="lenient") for k, v in bad.items()}
    r = behaviour.answer_rate(bad, scored(bad), lenient)
    assert r.status is Status.FAIL and r.value == 0.0
    assert "not in the trained format" in r.explanation and "prompt" in r.explanation


def test_accuracy_both_ways_with_wilson_interval():
    gens = make(GOOD)
    r = behaviour.accuracy(gens, scored(gens))
    assert r.status is Status.PASS
    assert r.metrics["tuned"]["ci_low"] == pytest.approx(0.722, abs=1e-3)  # Wilson, 10/10, 95 %
    wrong = make([" <answer>7</answer>"] * 10)
    r = behaviour.accuracy(wrong, scored(wrong))
    assert r.status is Status.FAIL and "parse but are wrong" in r.explanation


def test_accuracy_shows_every_example_filterable_to_discordant_pairs():
    gens = make(GOOD[:5] + [" <answer>7</answer>"] * 4 + [" no tags"], base=GOOD[:2] + [" x"] * 8)
    table = behaviour.accuracy(gens, scored(gens)).evidence[-1]
    assert table.title == "every example, base vs tuned" and len(table.rows) == 10
    by_tag = {}
    for row, tags in zip(table.rows, table.row_tags):
        for tag in tags:
            by_tag.setdefault(tag, []).append(row[0])
    # base right on e0, e1 only; tuned right on e0..e4: e2..e4 are the discordant pairs
    assert by_tag["discordant (base vs tuned)"] == ["e2", "e3", "e4"]
    assert by_tag["tuned incorrect"] == ["e5", "e6", "e7", "e8"]
    assert by_tag["tuned unparsable"] == ["e9"]


def test_stop_rate_both_ways():
    assert behaviour.stop_rate(make(GOOD)).status is Status.PASS
    r = behaviour.stop_rate(make(GOOD, finish=FinishReason.LENGTH))
    assert r.status is Status.FAIL and r.value == 0.0
    assert "never learned to stop" in r.explanation and "EOS" in r.fix


def test_no_role_leak_both_ways():
    assert behaviour.no_role_leak(make(GOOD), MARKERS, STOPS).status is Status.PASS
    leaky = make([g + "\nQuestion: Convert 3 days to hours." for g in GOOD])
    r = behaviour.no_role_leak(leaky, MARKERS, STOPS)
    assert r.status is Status.FAIL and "'Question:'" in r.explanation
    chat = make([g + "<|im_start|>user" for g in GOOD])
    assert behaviour.no_role_leak(chat, MARKERS, STOPS).metrics["by_marker"] == {"<|im_start|>": 10}


def test_not_empty_both_ways():
    assert behaviour.not_empty(make(GOOD)).status is Status.PASS
    r = behaviour.not_empty(make(["  "] * 10))
    assert r.status is Status.FAIL and "emits EOS at once" in r.explanation


def test_adapter_effect_both_ways():
    torch.manual_seed(0)
    base = torch.randn(40, 16)
    tuned = base + 0.5 * torch.randn(40, 16)
    assert behaviour.adapter_effect(tuned, base, make(GOOD)).status is Status.PASS
    same = make(GOOD, base=GOOD)
    r = behaviour.adapter_effect(base.clone(), base, same, ["Found missing adapter keys"])
    assert r.status is Status.FAIL and r.value == 0.0
    assert "no effect" in r.explanation and "missing adapter keys" in r.explanation
    # logits move but every generation equals the base's: still not applied where it matters
    assert behaviour.adapter_effect(tuned, base, same).status is Status.FAIL
    assert behaviour.adapter_effect(tuned, None, same).status is Status.SKIP


def test_merge_parity_both_ways():
    torch.manual_seed(0)
    tuned = torch.randn(200, 32)
    assert behaviour.merge_parity(tuned, tuned + 1e-6).status is Status.PASS
    # "merge_and_unload() result not assigned": the merged model is the plain base
    r = behaviour.merge_parity(tuned, torch.randn(200, 32))
    assert r.status is Status.FAIL and r.value < 0.5 and "not assigned" in r.explanation
    assert behaviour.merge_parity(tuned, None).status is Status.SKIP


def test_reward_spread_both_ways():
    gens = make(GOOD[:5] + [" <answer>1</answer>"] * 5)
    assert behaviour.reward_spread(gens, scored(gens), MARKERS, STOPS).status is Status.PASS
    r = behaviour.reward_spread(gens, scored(gens, scorer=lambda t, e: -10.0), MARKERS, STOPS, "m:const")
    assert r.status is Status.FAIL and r.value == 0.0 and "same score -10" in r.explanation
    # all-penalty run: outputs never stop and leak the next turn -> named in the classes
    leaky = make([" 2000\nQuestion: next"] * 10, finish=FinishReason.LENGTH)
    r = behaviour.reward_spread(leaky, scored(leaky, scorer=lambda t, e: -10.0), MARKERS, STOPS, "m:fmt")
    assert r.status is Status.FAIL
    assert r.metrics["classes"]["no stop"] == 10 and r.metrics["classes"]["role leak"] == 10
    assert r.metrics["classes"]["missing tags"] == 10


def test_reward_spread_default_scorer_all_correct_passes():
    gens = make(GOOD)
    r = behaviour.reward_spread(gens, scored(gens), MARKERS, STOPS)
    assert r.status is Status.PASS and "all 1" in r.explanation


def test_length_bias_both_ways():
    texts = [" <answer>1</answer>" + "x" * i for i in range(12)]
    gold = {f"e{i}": "1" for i in range(12)}
    gens = make(texts)
    fair = {k: score_all(v.items, gold, scorer=lambda t, e: float(hash(t) % 7)) for k, v in gens.items()}
    r_fair = behaviour.length_bias(gens, fair)
    assert r_fair.status in (Status.PASS, Status.WARN) and abs(r_fair.value) < 0.8
    biased = {k: score_all(v.items, gold, scorer=lambda t, e: -float(len(t))) for k, v in gens.items()}
    r = behaviour.length_bias(gens, biased)
    assert r.status is Status.FAIL and r.value == -1.0 and "shorter outputs score higher" in r.explanation


def test_length_bias_is_judged_within_correctness_classes():
    """Exact match on a mix where the wrong answers are the long ones: overall score and
    length correlate, but the scorer does not look at length — no bias."""
    texts = [" <answer>1</answer>"] * 10 + [" <answer>" + "9" * (3 + i) + "</answer>" for i in range(10)]
    gold = {f"e{i}": "1" for i in range(20)}
    gens = make(texts)
    exact = {k: score_all(v.items, gold) for k, v in gens.items()}
    r = behaviour.length_bias(gens, exact)
    assert r.metrics["overall_rho"] < -0.8
    assert r.status is Status.PASS and "depends on correctness, not on length" in r.explanation
    # a '> N chars = failure' heuristic: among correct outputs, the long ones are punished
    padded = [" <answer>1</answer>" + " " * i for i in range(20)]
    gens = make(padded)
    heuristic = {k: score_all(v.items, gold, scorer=lambda t, e: 1.0 if len(t) < 30 else 0.0)
                 for k, v in gens.items()}
    r = behaviour.length_bias(gens, heuristic)
    assert r.status is Status.FAIL and r.metrics["worst_class"] == "correct"


def test_sentinel_both_ways():
    gens = make(GOOD)
    raw = make([" 2000 grams."] * 10, base=[" 2000 grams."] * 10)
    assert behaviour.sentinel(scored(gens), scored(raw)).status is Status.PASS
    instruct = make(GOOD, base=GOOD)
    r = behaviour.sentinel(scored(instruct), scored(raw))
    assert r.status is Status.FAIL and r.value == 1.0 and "instruct" in r.explanation
