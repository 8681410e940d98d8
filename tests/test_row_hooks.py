"""Row-form hooks and gold answers (GSM8K style): the user's code gets the whole data row,
the gold answer is separate from the training target, and rows that cannot be scored are
named.  Proven both ways on a small GSM8K-style run built here on the world's tokenizer."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.rows import Example
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet

from sftcheck import config as cfgmod
from sftcheck import hooks as hookmod
from tests.pretrain_inputs import Inputs

ROW_HOOKS = '''
    def format_example(example, tokenizer):
        """Row form: reads fields the text form never sees (category)."""
        prompt = f"[{example['category']}] Question: {example['question']}\\nAnswer:"
        p = tokenizer(prompt).input_ids
        c = tokenizer(" " + example["answer"], add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        return {"input_ids": p + c, "labels": [-100] * len(p) + c}

    def build_prompt(example, tokenizer):
        return f"[{example['category']}] Question: {example['question']}\\nAnswer:"

    def collate(rows, tok):
        width = max(len(r["input_ids"]) for r in rows)
        pad = tok.pad_token_id
        return {"input_ids": [r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in rows],
                "labels": [r["labels"] + [-100] * (width - len(r["labels"])) for r in rows],
                "attention_mask": [[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"]))
                                   for r in rows]}

    def score(example, completion):
        """Row form scorer: the whole eval row (reads 'final') and the generated text."""
        return 1.0 if completion.strip().endswith(str(example["final"])) else 0.0

    def explode(example, tokenizer):
        if example["id"] == "gsm-2":
            raise ValueError("cannot format this row")
        return format_example(example, tokenizer)
'''

GSM_PATTERN = r"####\s*(-?[\d,.]+)"


def gsm_rows(n: int, start: int = 0) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        a, b = i + 2, 2 * i + 3
        rows.append({"id": f"gsm-{i}", "question": f"Tom has {a} apples and buys {b} more. How many now?",
                     "answer": f"{a} + {b} = {a + b}.\n#### {a + b}", "final": a + b,
                     "category": "arith"})
    return rows


def gsm_run(world, dest: Path, *, data: str = "", fmt: str = "", train: list[dict] | None = None,
            eval_rows: list[dict] | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "hooks.py").write_text(textwrap.dedent(ROW_HOOKS))
    for name, rows in (("train", train if train is not None else gsm_rows(12)),
                       ("eval", eval_rows if eval_rows is not None else gsm_rows(6, start=100))):
        (dest / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    fmt = fmt or ('train_formatter = "hooks.py:format_example"\nprompt_builder = "hooks.py:build_prompt"\n'
                  'collator = "hooks.py:collate"\n')
    text = (f'[model]\ntokenizer = "{world.adapter}"\n'
            f"[format]\n{fmt}answer_pattern = '{GSM_PATTERN}'\n"
            f'[data]\ntrain = "train.jsonl"\neval = "eval.jsonl"\n{data}'
            f'[scoring]\nscorer = "hooks.py:score"\n')
    (dest / "sftcheck.toml").write_text(text)
    return dest / "sftcheck.toml"


HEALTHY_DATA = f"gold_pattern = '{GSM_PATTERN}'\n"


# ---------------------------------------------------------------- signature detection

def _fn(src: str):
    ns: dict = {}
    exec(textwrap.dedent(src), ns)  # noqa: S102 - test-local function definitions
    return next(v for k, v in ns.items() if callable(v) and not k.startswith("__"))


@pytest.mark.parametrize("key, src, form", [
    ("train_formatter", "def f(example, tokenizer): pass", "row"),
    ("train_formatter", "def f(row, tok): pass", "row"),
    ("train_formatter", "def f(x, tok): pass", "row"),                 # two parameters
    ("train_formatter", "def f(question, answer, tokenizer): pass", "text"),
    ("prompt_builder", "def f(row): pass", "row"),
    ("prompt_builder", "def f(sample, tokenizer): pass", "row"),
    ("prompt_builder", "def f(question): pass", "text"),
    ("prompt_builder", "def f(question, tokenizer=None): pass", "text"),
    ("scorer", "def f(example, output): pass", "row"),
    ("scorer", "def f(output_text, example): pass", "text"),
])
def test_hook_form_is_detected_by_signature(key, src, form):
    assert hookmod.hook_form(key, _fn(src)) == form


def test_scorer_row_form_gets_the_whole_row_and_text_form_keeps_its_dict():
    ex = Example("eval.jsonl", 3, "gsm-1", "q?", "2 + 3 = 5.\n#### 5", gold="5",
                 raw={"id": "gsm-1", "question": "q?", "answer": "2 + 3 = 5.\n#### 5", "final": 5, "category": "a"})
    seen = []
    row_scorer = hookmod.Scorer(hookmod.Hook("scorer", "t:row", lambda row, output: seen.append((row, output)) or 1,
                                             "row"))
    text_scorer = hookmod.Scorer(hookmod.Hook("scorer", "t:text", lambda text, ex: seen.append((ex, text)) or 0,
                                              "text"))
    assert row_scorer("#### 5", ex) == 1.0 and text_scorer("#### 5", ex) == 0.0
    assert seen[0] == ({"id": "gsm-1", "question": "q?", "answer": "2 + 3 = 5.\n#### 5", "final": 5,
                        "category": "a"}, "#### 5")
    assert seen[1] == ({"id": "gsm-1", "question": "q?", "answer": "2 + 3 = 5.\n#### 5", "gold": "5"}, "#### 5")


def test_scorer_that_raises_names_the_example():
    ex = Example("eval.jsonl", 7, "gsm-9", "q?", "#### 5", raw={"id": "gsm-9"})
    scorer = hookmod.Scorer(hookmod.Hook("scorer", "hooks.py:score", lambda row, output: row["final"], "row"))
    with pytest.raises(hookmod.ScorerFailed) as err:
        scorer("x", ex)
    for words in ("hooks.py:score", "KeyError", "'gsm-9'", "row 7 of eval.jsonl", "scorer(row, output)"):
        assert words in str(err.value)


# ---------------------------------------------------------------- the pre-training gate, both ways

def test_gsm8k_style_run_with_row_hooks_passes(world, tmp_path):
    inputs = Inputs(gsm_run(world, tmp_path, data=HEALTHY_DATA))
    hooks = inputs.hooks
    assert [h.form for h in (hooks.train_formatter, hooks.prompt_builder, hooks.collator, hooks.scorer.hook)] == \
        ["row", "row", "row", "row"]
    assert inputs.train_data.examples[0].gold == "5" and inputs.train_data.examples[0].raw["category"] == "arith"
    for check_id in ("data.schema", "data.answer_roundtrip", "format.train_infer_aligned", "labels.eos_trained",
                     "labels.prompt_masked", "labels.not_all_masked"):
        r = inputs.run(check_id)
        assert r.status is Status.PASS, (check_id, r.explanation)
    # the row form really reached the formatter and the builder: the category is in both
    row = inputs.train.rows[0]
    assert inputs.tokenizer.decode(row.input_ids).startswith(inputs.tokenizer.bos_token + "[arith] Question:")
    assert inputs.prompts.prompts[0].text.startswith("[arith] Question:")


def test_without_gold_pattern_the_worked_solution_is_the_gold_and_roundtrip_fails(world, tmp_path):
    r = Inputs(gsm_run(world, tmp_path)).run("data.answer_roundtrip")
    assert r.status is Status.FAIL
    assert "gold '2 + 3 = 5.\\n#### 5'" in r.explanation and "gold_pattern" in r.fix


def test_gold_field_separates_the_gold_from_the_target(world, tmp_path):
    inputs = Inputs(gsm_run(world, tmp_path, data='gold_field = "final"\n'))
    assert inputs.train_data.examples[0].gold == "5" and inputs.train_data.examples[0].answer.endswith("#### 5")
    assert inputs.run("data.answer_roundtrip").status is Status.PASS


def test_row_missing_the_gold_field_fails_schema_naming_the_row(world, tmp_path):
    rows = gsm_rows(12)
    del rows[4]["final"]
    r = Inputs(gsm_run(world, tmp_path, data='gold_field = "final"\n', train=rows)).run("data.schema")
    assert r.status is Status.FAIL
    assert "row 5" in r.explanation and "'final'" in r.explanation and "missing field" in r.explanation


def test_gold_text_the_pattern_does_not_match_fails_schema_naming_the_row(world, tmp_path):
    rows = gsm_rows(12)
    rows[2]["answer"] = "2 + 3 = 5, so the answer is five."
    inputs = Inputs(gsm_run(world, tmp_path, data=HEALTHY_DATA, train=rows))
    r = inputs.run("data.schema")
    assert r.status is Status.FAIL
    assert "row 3" in r.explanation and "gold_pattern" in r.explanation and "does not match" in r.explanation
    assert all(ex.row != 3 for ex in inputs.train_data.examples)   # not silently scored


def test_row_hook_that_raises_is_reported_with_the_row_and_its_id(world, tmp_path):
    fmt = 'train_formatter = "hooks.py:explode"\nprompt_builder = "hooks.py:build_prompt"\n'
    r = Inputs(gsm_run(world, tmp_path, data=HEALTHY_DATA, fmt=fmt)).run("data.answer_roundtrip")
    assert r.status is Status.FAIL
    assert "row 3 (id 'gsm-2')" in r.explanation and "cannot format this row" in r.explanation


@pytest.mark.parametrize("pattern, words", [
    (r"####\s*-?[\d,.]+", ["has no capturing group"]),
    ("(unclosed", ["not a valid regex"]),
])
def test_bad_gold_pattern_is_a_config_error(tmp_path, pattern, words):
    (tmp_path / "c.toml").write_text(f"[data]\ngold_pattern = '{pattern}'\n")
    with pytest.raises(cfgmod.ConfigError) as err:
        cfgmod.load(tmp_path / "c.toml")
    assert "[data] gold_pattern" in str(err.value)
    for w in words:
        assert w in str(err.value)


# ---------------------------------------------------------------- scoring against the gold answer

def _gens(texts: dict[str, str]) -> dict:
    items = tuple(Generation(id=k, prompt="p", text=t, raw_text=t, prompt_tokens=1, new_tokens=1,
                             finish_reason=FinishReason.EOS, seconds=0.0) for k, t in texts.items())
    return {"tuned": GenerationSet(model="tuned", items=items, wall_seconds=0.0, batch_size=1)}


@pytest.mark.parametrize("data, outcome", [(HEALTHY_DATA, "correct"), ("", "incorrect")])
def test_scoring_compares_with_the_gold_answer(world, tmp_path, data, outcome):
    from sftcheck.session_model import read_eval_rows, score

    cfg = cfgmod.load(gsm_run(world, tmp_path, data=data))
    rows = read_eval_rows(cfg)
    gens = _gens({r.id: r.answer for r in rows})       # a perfect model writes the worked solution
    scored = score(cfg, rows, gens, "strict")["tuned"]
    assert {s.outcome.value for s in scored} == {outcome}
    # the row-form scorer got the whole row ('final') for every example
    assert [s.score for s in scored] == [1.0] * len(rows)


def test_gsm8k_style_pretrain_gate_end_to_end(pytester, world, tmp_path):
    """Through the plugin's session fixtures (hooks resolved once): healthy passes, and
    without gold_pattern data.answer_roundtrip fails naming the gold."""
    from tests.test_pretrain_e2e import run

    result = run(pytester, gsm_run(world, tmp_path / "ok", data=HEALTHY_DATA), "-rA")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("errors", 0) == 0 and outcomes["passed"] >= 11
    bad = run(pytester, gsm_run(world, tmp_path / "bad"))
    bad.assert_outcomes(failed=1, passed=outcomes["passed"] - 1, skipped=outcomes.get("skipped", 0))
    bad.stdout.fnmatch_lines(["*FAIL data.answer_roundtrip*", "*parsed as *5*, gold *#### 5*", "Fix:*gold_pattern*"])
