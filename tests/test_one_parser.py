"""One interpreter of [format] answer_pattern / answer_parser: data.answer_roundtrip and
scoring use the same parser object, and a pattern scoring cannot use fails at setup."""
from __future__ import annotations

import pytest
from sftcheck.checks.support import answers
from sftcheck.checks.support.answers import AnswerParser
from sftcheck.fixtures.broken.pretrain import write_config

from sftcheck import config as cfgmod
from sftcheck import hooks as hookmod
from tests.pretrain_inputs import Inputs


def test_roundtrip_and_scoring_share_one_parser_object(world, monkeypatch):
    """The object data.answer_roundtrip calls is the object score_all extracts with."""
    from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet

    from sftcheck.session_model import read_eval_rows, score

    inputs = Inputs(world.config)
    hooks = inputs.hooks
    assert isinstance(hooks.answer_parser.fn, AnswerParser)
    seen = []
    real = answers.score_all
    monkeypatch.setattr(answers, "score_all", lambda *a, **k: seen.append(k["parser"]) or real(*a, **k))
    rows = read_eval_rows(inputs.cfg)[:3]
    gens = {"tuned": GenerationSet("tuned", tuple(Generation(r.id, "p", f"<answer>{r.answer}</answer>",
                                                             "", 1, 1, FinishReason.EOS, 0.0) for r in rows), 0.0, 1)}
    scored = score(inputs.cfg, rows, gens, "strict", hooks)
    assert seen == [hooks.answer_parser.fn] and {s.rule for s in scored["tuned"]} == {"strict"}
    assert inputs.run("data.answer_roundtrip").status.value == "pass"


def test_user_parser_hook_is_the_one_parser_in_both(world, tmp_path):
    cfg = cfgmod.load(write_config(world, tmp_path, fmt={"answer_parser": "sftcheck.fixtures.user_code:parse_answer"}))
    one = hookmod.resolve(cfg).answer_parser.fn
    assert isinstance(one, AnswerParser) and one.hook is not None
    assert one.extract("<answer> 12 </answer>") == answers.Extraction("12", "hook:parse_answer")


def test_pattern_without_a_group_fails_at_setup_not_only_in_scoring(world, tmp_path):
    """Before: the pre-training parser fell back to the whole match (data.answer_roundtrip
    passed) while scoring raised.  Now one parser: a clear setup error with the fix."""
    cfg = cfgmod.load(write_config(world, tmp_path, fmt={"answer_pattern": r"\d+"}))
    with pytest.raises(hookmod.HookError) as err:
        hookmod.resolve(cfg)
    assert "capturing group" in str(err.value) and "Fix:" in str(err.value)


@pytest.mark.parametrize("gold, status", [("1900", "pass"), ("190", "fail")])
def test_roundtrip_compares_as_scoring_does(world, gold, status):
    """'1,900' read back from a target equals the gold '1900', as scoring counts it."""
    from sftcheck.checks import data
    from sftcheck.checks.support.rows import TrainRow, TrainSet

    tok = Inputs(world.config).tokenizer
    target = tok(" <answer>1,900</answer>", add_special_tokens=False).input_ids
    row = TrainRow(1, "a", "q", "1,900", tuple(target), tuple(target), gold=gold)
    r = data.answer_roundtrip(TrainSet((row,)), AnswerParser(), tok)
    assert r.status.value == status
