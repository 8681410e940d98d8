"""behaviour.reward_spread names why every reward is the same (synthetic generations; the
fixture-world variants missing_marker_reward / blind_reward / constant_reward run through
real scorers in test_behaviour_world)."""
from __future__ import annotations

import pytest
from sftcheck.checks import behaviour
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.reward_causes import quoted_markers
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet, Outcome, Scored

from sftcheck.scorers import Reward, ScoringRun

N = 20


def gens(texts, finish=FinishReason.EOS, prompt="Question: q{i}\nAnswer:"):
    items = tuple(Generation(f"e{i}", prompt.format(i=i), t, t, 5, 3, finish, 0.0) for i, t in enumerate(texts))
    return GenerationSet("m", items, 0.0, 1)


def scored(values):
    return [Scored(f"e{i}", "7", None, Outcome.UNPARSABLE, None, v) for i, v in enumerate(values)]


def spread(tuned_texts, base_texts, tuned_scores, base_scores, finish=FinishReason.EOS, rewards=None, markers=()):
    g = {"base": gens(base_texts), "tuned": gens(tuned_texts, finish)}
    s = {"base": scored(base_scores), "tuned": scored(tuned_scores)}
    return behaviour.reward_spread(g, s, (), (), "test scorer", rewards, markers)


def test_marker_only_in_the_prompt_named_from_the_scorer_message():
    run = ScoringRun("mcp", requested=N)
    run.rewards = {f"e{i}": Reward(-10.0, {"format": 0.0}, "Assistant start marker 'Answer:' not found")
                   for i in range(N)}
    r = spread([f" <answer>{i}</answer>" for i in range(N)], ["blah"] * N, [-10.0] * N, [-10.0] * N,
               rewards={"tuned": run})
    assert r.status is Status.FAIL and r.metrics["cause"] == "missing marker"
    assert "'Answer:'" in r.explanation and "only in the prompt template" in r.explanation
    assert any(getattr(e, "title", "").startswith("the scorer's messages") for e in r.evidence)


def test_marker_never_written_named_from_config():
    r = spread(["7"] * N, ["x"] * N, [0.0] * N, [1.0] * N, markers=["<final>"])
    assert r.metrics["cause"] == "missing marker" and "appears in no output and no prompt" in r.explanation


def test_refusals():
    r = spread(["I'm sorry, I can't help with that."] * N, [f"b{i}" for i in range(N)], [0.0] * N,
               [float(i % 2) for i in range(N)])
    assert r.status is Status.FAIL and r.metrics["cause"] == "refusal" and "the model refuses" in r.explanation
    assert f"{N} of {N} outputs are refusals" in r.explanation


def test_truncated_outputs():
    r = spread([f"the answer is {i} and so on and" for i in range(N)], [f"b{i}" for i in range(N)], [0.0] * N,
               [float(i % 2) for i in range(N)], finish=FinishReason.LENGTH)
    assert r.metrics["cause"] == "empty / truncated" and "cut at max_new_tokens" in r.explanation


def test_insensitive_scorer():
    r = spread([f"t{i}" for i in range(N)], [f"b{i}" for i in range(N)], [0.5] * N, [0.5] * N)
    assert r.metrics["cause"] == "insensitive scorer"


@pytest.mark.parametrize("tuned, base, status", [
    ([3.0] * 19 + [2.0], [1.0] * 20, Status.PASS),   # at the ceiling, base lower
    ([0.0] * 19 + [1.0], [0.0] * 20, Status.WARN),   # 95 % at the bottom, no cause found
    ([float(i % 4) for i in range(20)], [0.0] * 20, Status.PASS),
])
def test_collapse_verdicts(tuned, base, status):
    r = spread(["same"] * N, ["same"] * N, tuned, base)
    assert r.status is status, r.summary()


def test_quoted_markers():
    assert quoted_markers(["marker 'Answer:' not found", 'no "<|im_start|>assistant" token']) == \
        ["Answer:", "<|im_start|>assistant"]


@pytest.mark.parametrize("text, refuses", [
    ("I'm sorry, I can't help with that.", True), ("As an AI language model, I must decline.", True),
    ("I am unable to answer this.", True), ("I must refuse.", True),
    (" <answer>42</answer>", False), ("The box cannot hold 7 kg, so <answer>6</answer>", False),
    ("", False),
])
def test_refusal_detector(text, refuses):
    from sftcheck.checks.support.refusals import is_refusal, refusals

    assert is_refusal(text) is refuses
    assert refusals([("a", text)]) == (["a"] if refuses else [])


def test_unquoted_start_token_message_points_at_the_prompt_tail():
    """The reported run: every reward -10, the server's log 'Assistant start token not found'
    (no token named): the assistant start is what every prompt ends with."""
    run = ScoringRun("mcp", requested=N)
    run.rewards = {f"e{i}": Reward(-10.0, {"format": 0.0}, "Assistant start token not found") for i in range(N)}
    r = spread([f" <answer>{i}</answer>" for i in range(N)], [f"b{i}" for i in range(N)], [-10.0] * N,
               [-10.0] * N, rewards={"tuned": run})
    assert r.status is Status.FAIL and r.metrics["cause"] == "missing marker", r.summary()
    assert f"the marker 'Answer:' the scorer parses is missing from {N} of {N} outputs" in r.explanation
    assert f"'Assistant start token not found' on {N} of them" in r.explanation
    assert "only in the prompt template" in r.explanation


def test_prompt_tail_of_a_chat_template():
    from sftcheck.checks.support.reward_causes import prompt_tail, unquoted_marker

    prompts = [f"<|im_start|>user\nq{i}<|im_end|>\n<|im_start|>assistant\n" for i in range(3)]
    assert prompt_tail(prompts) == "<|im_start|>assistant"
    assert unquoted_marker(["Assistant start token not found"], prompts) == (
        "<|im_start|>assistant", "Assistant start token not found")
    assert unquoted_marker(["reward computed"], prompts) is None
    assert unquoted_marker(["marker 'X' not found"], prompts) is None  # quoted: quoted_markers handles it
