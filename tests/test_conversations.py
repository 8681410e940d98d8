"""Conversation suites (kind = "conversation"): the file format and its validation, the rules, and
the checks on hand-made runs (the fixture-world runs are in ``test_conversations_world.py``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftcheck.checks import conversation, suite
from sftcheck.checks.support.conversations import (
    Conversation,
    ConversationRun,
    Expectation,
    JudgeLabel,
    Turn,
    rule_failures,
    score_turn,
)
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet
from sftcheck.checks.support.suites import SuiteRun, metric_rows

from sftcheck import config
from sftcheck.suites.conversations import read_conversations

GOOD = {"id": "c1", "category": "constraint_update", "turns": [
    {"user": "Use grams from now on."},
    {"user": "The box is 4.", "expect": {"constraint": {"require": ["grams"], "set_at": 1}}},
    {"user": "Now use meters."},
    {"user": "The box is 7.", "expect": {"constraint": {"require": ["meters"], "forbid": ["grams"], "set_at": 3},
                                         "judge": "says 7 meters"}}]}


def _file(tmp_path: Path, rows: list) -> str:
    p = tmp_path / "conv.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(p)


def test_a_conversation_reads_with_its_expectations(tmp_path):
    data = read_conversations(_file(tmp_path, [GOOD]), "s")
    (c,) = data.conversations
    assert (c.id, c.category, len(c.turns), data.problems) == ("c1", "constraint_update", 4, ())
    last = c.turns[3].expect
    assert last[0] == Expectation("constraint", require=("meters",), forbid=("grams",), set_at=3)
    assert last[1].needs_judge and c.turns[3].judge_text == "says 7 meters"


@pytest.mark.parametrize("row, field, words", [
    ({**GOOD, "category": "memroy"}, "category", ["'memroy' is not one of memory, preference"]),
    ({**GOOD, "turns": GOOD["turns"][:1]}, "turns", ["2 or more turns, got 1"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": ""}]}, "turns[2].user", ["expected the user's message"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": "b", "expect": {"entitys": ["x"]}}]}, "turns[2].expect.entitys",
     ["did you mean 'entities'"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": "b", "expect": {"constraint": {"require": 5}}}]},
     "turns[2].expect.constraint.require", ["non-empty list of texts", "Fix"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": "b", "expect": {"constraint": {"require": ["x"], "set_at": 3}}}]},
     "turns[2].expect.constraint.set_at", ["earlier turn (1-2)"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": "b", "assistant": "c"}]}, "turns[2].assistant",
     ["model's own replies are fed back"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": "b"}]}, "turns", ["no turn has an expectation"]),
    ({**GOOD, "turns": [{"user": "a"}, {"user": "b", "expect": {"preference": {"require": ["x"],
                                                                               "forbid": ["X"]}}}]},
     "turns[2].expect.preference", ["both required and forbidden"]),
])
def test_bad_rows_are_named_with_row_field_and_fix(tmp_path, row, field, words):
    data = read_conversations(_file(tmp_path, [GOOD, row, "{not json"]), "s")
    assert [c.id for c in data.conversations] == ["c1"]
    (p, bad_json) = data.problems
    assert (p.row, p.field) == (2, field), p
    assert "Fix" in p.problem and all(w in p.problem for w in words), p.problem
    assert (bad_json.row, bad_json.field) == (3, "(row)") and "not valid JSON" in bad_json.problem


def test_duplicate_ids_are_left_out(tmp_path):
    data = read_conversations(_file(tmp_path, [GOOD, GOOD]), "s")
    assert len(data.conversations) == 1 and data.problems[0].problem.startswith("duplicate id 'c1'")


def _cfg(tmp_path: Path, extra: str) -> Path:
    _file(tmp_path, [GOOD])
    p = tmp_path / "run.toml"
    p.write_text(f'[[suites]]\nname = "chat"\ndata = "conv.jsonl"\nkind = "conversation"\n{extra}')
    return p


def test_conversation_suite_config_and_its_gates(tmp_path):
    (tmp_path / "labels.jsonl").write_text("")
    cfg = config.load(_cfg(tmp_path, 'judge = "j.py:judge"\nhuman_labels = "labels.jsonl"\n'
                                     '[gates."conversation.chat.turn_success"]\nmin_turn_success = 0.7\n'))
    (spec,) = cfg.suites
    assert spec.kind == "conversation" and spec.conversation_prompt == "chat_template"
    assert spec.human_labels == str(tmp_path / "labels.jsonl")
    assert cfg.thresholds("conversation.turn_success", "chat") == {"min_turn_success": 0.7}


@pytest.mark.parametrize("extra, words", [
    ('prompt_template = "{question}"\n', ["prompt_template does not apply to a conversation suite"]),
    ('conversation_prompt = "template"\n', ["chat_template, prompt_builder"]),
    ('judge = "nojudge"\n', ["is not 'module:function'"]),
    ('human_labels = "missing.jsonl"\n', ["missing.jsonl", "does not exist"]),
    ('[gates."conversation.other.turn_success"]\nmin_turn_success = 0.7\n', ["names suite 'other'"]),
    ('[gates."conversation.chat.turn_success"]\nmin_success = 0.7\n', ["unknown key", "min_success"]),
])
def test_bad_conversation_config_names_the_key_and_fix(tmp_path, extra, words):
    with pytest.raises(config.ConfigError) as err:
        config.load(_cfg(tmp_path, extra))
    assert all(w in str(err.value) for w in words), str(err.value)


def test_judge_keys_belong_to_conversation_suites_only(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    p = tmp_path / "run.toml"
    p.write_text('[[suites]]\nname = "q"\ndata = "d.jsonl"\nkind = "exact"\njudge = "j.py:f"\n')
    with pytest.raises(config.ConfigError, match="judge applies to kind 'winrate' / 'conversation' only"):
        config.load(p)


def test_rules_match_whole_words_case_insensitively():
    e = (Expectation("constraint", require=("meters",), forbid=("grams",), set_at=3),)
    assert rule_failures("7 Meters.", e) == []
    assert rule_failures("7 kilometers.", e) == ["constraint: 'meters' missing (set at turn 3)"]
    assert rule_failures("7 meters, not grams", e) == ["constraint: 'grams' present, no longer allowed (set at turn 3)"]
    assert rule_failures("grams", (Expectation("topic", any_of=("watts", "power")),)) == \
        ["topic: none of 'watts', 'power'"]


# ---------------------------------------------------------------- checks on hand-made runs

def _gen(cid: str, turn: int, text: str, reason=FinishReason.EOS, raw: str | None = None) -> Generation:
    return Generation(f"{cid}#{turn}", "p", text, raw if raw is not None else text + "<|eot_id|>", 10,
                      len(text.split()) + 1, reason, 0.01)


def _run(replies: dict[str, dict[str, list[str]]], *, judge: str | None = None, labels=None,
         verdicts: dict | None = None, reasons=None, history_lost=None) -> SuiteRun:
    """A memory suite: turn 1 sets a unit, turn 2 is about something else, turn 3 asks for it."""
    convs = tuple(Conversation(f"m{i}", "memory", (
        Turn("Remember the unit grams.", (Expectation("entities", require=("grams",)),)),
        Turn("Tell me about watts.", (Expectation("topic", any_of=("watts",)),)),
        Turn("What is my unit?", (Expectation("entities", require=("grams",)),
                                  *((Expectation("judge", text="names grams"),) if judge else ())))), row=i + 1)
        for i in range(len(next(iter(replies.values())))))
    results, passes = {}, {}
    for m, per_conv in replies.items():
        rs, sets = [], []
        for turn in (1, 2, 3):
            gens = []
            for c, texts in zip(convs, per_conv.values(), strict=True):
                reason = (reasons or {}).get((m, turn), FinishReason.EOS)
                g = _gen(c.id, turn, texts[turn - 1], reason)
                gens.append(g)
                lost = (history_lost or {}).get((m, turn), ())
                rs.append(score_turn(c, turn, g, (verdicts or {}).get((m, c.id, turn)), lost))
            sets.append(GenerationSet(m, tuple(gens), 1.0, 8))
        results[m], passes[m] = tuple(rs), tuple(sets)
    conv = ConversationRun("chat", "conv.jsonl", convs, results, passes, prompt_via="the tokenizer's chat template",
                           judge=judge, labels=labels, labels_file="labels.jsonl",
                           markers=("<|start_header_id|>",), stop_tokens=("<|eot_id|>",), max_new_tokens=16)
    scored = {m: conv.conversation_scored(m) for m in replies}
    return SuiteRun("chat", "conversation", "conversation", "conv.jsonl", "", n_rows=len(convs), scored=scored,
                    conversation=conv)


GOOD_REPLIES = ["OK, grams.", "Watts measure power.", "Your unit is grams."]
FORGOT = ["OK, grams.", "Watts measure power.", "Your unit is watts."]
BASE = ["Grams?", "Watts measure power.", "I do not know."]


def test_healthy_turns_pass_and_a_model_that_forgets_fails_at_turn_3():
    healthy = _run({"base": {f"m{i}": BASE for i in range(20)}, "tuned": {f"m{i}": GOOD_REPLIES for i in range(20)}})
    r = conversation.turn_success(healthy)
    assert r.status is Status.PASS, r.explanation
    assert r.metrics["per_turn"]["tuned"]["memory"]["3"]["rate"] == 1.0
    assert r.metrics["per_turn"]["base"]["memory"]["3"]["rate"] == 0.0
    forgets = _run({"base": {f"m{i}": BASE for i in range(20)}, "tuned": {f"m{i}": FORGOT for i in range(20)}})
    r = conversation.turn_success(forgets)
    assert r.status is Status.FAIL and r.value == 3, r.explanation
    assert "drops at turn 3 in memory" in r.explanation and "exact McNemar" in r.explanation
    assert "Most common miss: entities: a required term missing (20 of 20)" in r.explanation, r.explanation
    assert "the model itself loses" in r.explanation
    assert r.metrics["drop_turn"] == 3 and r.metrics["drop_categories"] == ["memory"]
    transcripts = r.evidence[-1]
    assert transcripts.rows[0][2] == 3 and "Your unit is watts." in transcripts.rows[0]
    acc = suite.accuracy(forgets)  # per-conversation success: tuned 0/20 = base 0/20, not worse
    assert acc.status is Status.PASS and "conversation success" in acc.explanation


def test_a_prompt_that_lost_the_history_is_named_as_the_cause():
    run = _run({"base": {f"m{i}": BASE for i in range(20)}, "tuned": {f"m{i}": FORGOT for i in range(20)}},
               history_lost={("tuned", 3): (1,)})
    r = conversation.turn_success(run)
    assert r.status is Status.FAIL and "no longer holds the user's message of turn(s) 1" in r.explanation
    assert "Fix the prompt rendering, not the model" in r.fix


def test_per_conversation_success_is_the_suite_accuracy_with_categories_and_summary_rows():
    run = _run({"base": {f"m{i}": BASE for i in range(20)}, "tuned": {f"m{i}": GOOD_REPLIES for i in range(20)}})
    acc = suite.accuracy(run)
    assert acc.status is Status.PASS and acc.value == 1.0 and acc.metrics["base"] == 0.0
    assert acc.metrics["p"] < 1e-5
    per_cat = next(e for e in acc.evidence if "per category" in e.title)
    assert per_cat.rows[0][0] == "memory" and per_cat.rows[0][2].startswith("1.00")
    rows = {r.metric: r for r in metric_rows(run)}
    assert set(rows) == {"conversation success", "conversation success: memory"}
    assert suite.unparsable(run).status is Status.SKIP


def test_turn_format_names_the_turn_where_replies_run_on():
    ok = _run({"tuned": {f"m{i}": GOOD_REPLIES for i in range(10)}})
    assert conversation.turn_format(ok).status is Status.PASS
    run_on = _run({"tuned": {f"m{i}": GOOD_REPLIES for i in range(10)}},
                  reasons={("tuned", 2): FinishReason.LENGTH, ("tuned", 3): FinishReason.LENGTH})
    r = conversation.turn_format(run_on)
    assert r.status is Status.FAIL and r.value == 2 and "lose their format at turn 2" in r.explanation
    assert "only 0/10 replies stopped" in r.explanation and "Also at turn(s) 3" in r.explanation


def test_turn_format_finds_role_leaks_and_runaway_length():
    long = ["OK, grams.", "Watts measure power.", " ".join(["grams"] * 40)]
    r = conversation.turn_format(_run({"tuned": {f"m{i}": long for i in range(10)}}))
    assert r.status is Status.FAIL and r.value == 3 and "×" in r.explanation and "turn 1's" in r.explanation


def test_judge_calibration_kappa_and_disagreements():
    good = tuple(JudgeLabel("m0", 3, f"r{i}", i % 2, i % 2) for i in range(20))
    r = conversation.judge_calibrated(_run({"tuned": {"m0": GOOD_REPLIES}}, judge="j.py:judge", labels=good))
    assert r.status is Status.PASS and r.value == 1.0
    lenient = tuple(JudgeLabel("m0", 3, f"r{i}", i % 2, 1) for i in range(20))
    r = conversation.judge_calibrated(_run({"tuned": {"m0": GOOD_REPLIES}}, judge="j.py:judge", labels=lenient))
    assert r.status is Status.FAIL and "kappa" in r.explanation and "too lenient" in r.explanation
    assert r.evidence[1].title.startswith("disagreements") and len(r.evidence[1].rows) == 10
    nolabels = conversation.judge_calibrated(_run({"tuned": {"m0": GOOD_REPLIES}}, judge="j.py:judge"))
    assert nolabels.status is Status.WARN and "not calibrated" in nolabels.explanation
    nojudge = conversation.judge_calibrated(_run({"tuned": {"m0": GOOD_REPLIES}}))
    assert nojudge.status is Status.SKIP


def test_a_judge_verdict_fails_the_turn_and_judge_only_turns_are_unscored_without_one():
    run = _run({"tuned": {"m0": GOOD_REPLIES}}, judge="j.py:judge", verdicts={("tuned", "m0", 3): False})
    (last,) = [r for r in run.conversation.results["tuned"] if r.turn == 3]
    assert last.passed is False and last.failures == ("judge: 'names grams' not met",)
    c = Conversation("x", "topic_continuity", (Turn("a"), Turn("b", (Expectation("judge", text="on topic"),))))
    assert score_turn(c, 2, _gen("x", 2, "hi"), None).passed is None
    assert score_turn(c, 2, _gen("x", 2, "hi"), True).passed is True


def test_no_conversation_suite_skips_saying_how_to_add_one():
    r = conversation.turn_success(None)
    assert r.status is Status.SKIP and 'kind = "conversation"' in r.explanation


# ---------------------------------------------------------------- runner pieces that need no model

def test_setup_errors_name_the_key_and_the_fix(tmp_path):
    from types import SimpleNamespace

    from sftcheck.hooks import Hook
    from sftcheck.suites.conversation_runner import ConversationSetupError, Renderer
    from sftcheck.suites.spec import SuiteSpec

    spec = SuiteSpec("chat", "c.jsonl", "conversation")
    plain = SimpleNamespace(chat_template=None, name_or_path="tiny")
    cfg = SimpleNamespace(format=SimpleNamespace(chat=False))
    with pytest.raises(ConversationSetupError, match="has no chat template.*conversation_prompt = \"prompt_builder\""):
        Renderer(spec, cfg, plain, None)
    text_hook = SimpleNamespace(prompt_builder=Hook("prompt_builder", "m:f", lambda q: q, "text"))
    with pytest.raises(ConversationSetupError, match="takes the question text only"):
        Renderer(SuiteSpec("chat", "c.jsonl", "conversation", conversation_prompt="prompt_builder"), cfg, plain,
                 text_hook)


def test_a_prompt_that_dropped_an_earlier_turn_is_detected():
    from sftcheck.suites.conversation_runner import _lost

    c = Conversation("c", "memory", (Turn("Remember  the unit grams."), Turn("Tell me about watts."),
                                     Turn("What is my unit?", (Expectation("entities", require=("grams",)),))))
    full = "<user>Remember the unit\ngrams.<a>OK<user>Tell me about watts.<a>Yes<user>What is my unit?"
    assert _lost(c, 3, full) == ()
    assert _lost(c, 3, "<user>Tell me about watts.<a>Yes<user>What is my unit?") == (1,)


def test_human_label_rows_that_do_not_fit_are_named(tmp_path):
    from sftcheck.suites.conversation_runner import read_labels

    c = Conversation("c", "memory", (Turn("a"), Turn("b", (Expectation("entities", require=("x",)),))))
    p = tmp_path / "labels.jsonl"
    p.write_text('{"id": "c", "turn": 2, "output": "x", "label": 1}\n{"id": "c", "turn": 7, "output": "x", '
                 '"label": 1}\n{"id": "c", "turn": 2, "output": "x", "label": "maybe"}\nnot json\n')
    rows, bad = read_labels(str(p), {"c": c})
    assert rows == [("c", 2, "x", 1)]
    assert [b.split(": ", 1)[0].rsplit(" ", 1)[-1] for b in bad] == ["2", "3", "4"], bad
    assert "turn 7 is not in the suite" in bad[0] and "'maybe' is not 1 / 0" in bad[1]
