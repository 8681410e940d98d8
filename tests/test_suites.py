"""Evaluation suites ([[suites]]): config validation, file shapes, scoring rules, and the suite
checks proven both ways on the fixture world's local suites (healthy and broken variants)."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet, Outcome
from sftcheck.checks.support.suites import choice_letter, score_choice, throughput_rows
from sftcheck.fixtures import suites as fixture_suites

from sftcheck import config
from sftcheck.suites.loaders import read_suite
from sftcheck.suites.spec import LETTER_PATTERN, SuiteSpec

REPO = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, body: str) -> Path:
    (tmp_path / "d.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    p = tmp_path / "run.toml"
    p.write_text(body)
    return p


SUITE = '[[suites]]\nname = "gsm"\ndata = "d.jsonl"\nkind = "numeric"\n'


def test_a_suite_loads_with_its_generation_overrides_and_gate(tmp_path):
    cfg = config.load(_config(tmp_path, SUITE + '[suites.generation]\nmax_new_tokens = 8\n'
                                         '[gates."suite.gsm.accuracy"]\nmax_drop = 0.05\n'))
    (spec,) = cfg.suites
    assert spec.data == str(tmp_path / "d.jsonl") and spec.generation == {"max_new_tokens": 8}
    assert cfg.thresholds("suite.accuracy", "gsm") == {"max_drop": 0.05}
    assert cfg.thresholds("suite.accuracy", "other") == {}


@pytest.mark.parametrize("body, words", [
    (SUITE.replace('"numeric"', '"mcq"'), ["kind = 'mcq'", "exact, numeric, multiple_choice"]),
    (SUITE.replace('"d.jsonl"', '"missing.jsonl"'), ["data = 'missing.jsonl'", "does not exist"]),
    (SUITE.replace('"gsm"', '"gs m"'), ["name = 'gs m'", "letters, digits"]),
    (SUITE + 'shape = "csv"\n', ["shape = 'csv'", "auto, qa, gsm8k, mmlu"]),
    (SUITE + 'answer_patern = "x"\n', ["unknown key 'answer_patern'", "Did you mean 'answer_pattern'"]),
    (SUITE + "answer_pattern = 'no group'\n", ["answer_pattern", "no capturing group"]),
    (SUITE + 'prompt_template = "{question} {gold}"\n', ["unknown field(s) gold", "{question}"]),
    (SUITE + '[suites.generation]\nmax_new_token = 8\n', ["unknown key 'max_new_token'", "max_new_tokens"]),
    (SUITE + '[suites.generation]\nmax_new_tokens = 0\n', ["max_new_tokens = 0", "1 or more"]),
    (SUITE + SUITE, ["name 'gsm' is used by another suite"]),
    ('[[suites]]\nname = "x"\n', ["missing data, kind"]),
    (SUITE + '[gates."suite.gsm8k.accuracy"]\nmax_drop = 0.1\n', ["names suite 'gsm8k'", "suites: gsm"]),
    (SUITE + '[gates."suite.gsm.accuracy"]\nmax_dorp = 0.1\n', ["unknown key", "max_dorp"]),
])
def test_bad_suite_config_names_file_key_and_allowed_values(tmp_path, body, words):
    path = _config(tmp_path, body)
    with pytest.raises(config.ConfigError) as err:
        config.load(path)
    msg = str(err.value)
    assert str(path) in msg and "Fix" in msg or "Did you mean" in msg, msg
    for w in words:
        assert w in msg, msg


def _spec(tmp_path: Path, rows: list, **kw) -> SuiteSpec:
    p = tmp_path / "s.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return SuiteSpec(name="s", data=str(p), kind=kw.pop("kind", "numeric"), **kw)


def test_mmlu_shape_index_digit_or_letter_and_bad_answers_named(tmp_path):
    rows = [{"question": "q1", "subject": "law", "choices": ["a", "b", "c", "d"], "answer": 2},
            {"question": "q2", "choices": ["a", "b"], "answer": "B"},
            {"question": "q3", "choices": ["a", "b", "c"], "answer": "1"},
            {"question": "q4", "choices": ["a", "b"], "answer": 5},
            {"question": "q5", "choices": "abcd", "answer": 0}]
    data = read_suite(_spec(tmp_path, rows, kind="multiple_choice"))
    assert data.shape == "mmlu"
    assert [(r.gold, r.subject) for r in data.rows] == [("C", "law"), ("B", "all"), ("B", "all")]
    assert [(p.row, p.field) for p in data.problems] == [(4, "answer"), (5, "choices")]
    assert "0-based index below 2 or a letter A-B" in data.problems[0].problem


def test_gsm8k_shape_reads_the_number_after_the_marker(tmp_path):
    rows = [{"question": "q", "answer": "2 + 2 = 4.\n#### 1,234"}, {"question": "q", "answer": "just 4"}]
    data = read_suite(_spec(tmp_path, rows))
    assert data.shape == "gsm8k" and [r.gold for r in data.rows] == ["1234"]
    assert data.rows[0].id == "s-1" and data.problems[0].row == 2 and "gold_pattern" in data.problems[0].problem


def test_choice_letter_strict_parse():
    choices = ("820", "82", "8200", "821")
    assert choice_letter("B. because", choices, LETTER_PATTERN) == ("B", "B")
    assert choice_letter("(C)", choices, LETTER_PATTERN) == ("C", "C")
    assert choice_letter("E", choices, LETTER_PATTERN) == (None, "E")          # not one of 4 choices
    assert choice_letter("The answer", choices, LETTER_PATTERN) == (None, None)
    assert choice_letter(" <answer>8200</answer>", choices, "<answer>(.*?)</answer>") == ("C", "8200")
    assert score_choice("x", "<answer>5</answer>", choices, "A", "<answer>(.*?)</answer>").outcome \
        is Outcome.UNPARSABLE


def _gs(model: str, lengths: list[int], seconds: float) -> GenerationSet:
    items = tuple(Generation(str(i), "p", "x" * n, "x" * n, 3, n, FinishReason.EOS, seconds / len(lengths))
                  for i, n in enumerate(lengths))
    return GenerationSet(model, items, seconds, 8)


def test_throughput_change_from_shorter_answers_is_flagged():
    base, tuned = _gs("base", [100] * 10, 10.0), _gs("tuned", [20] * 10, 2.0)  # same 100 tok/s, 5x ex/s
    ex, tok = throughput_rows("s", base, tuned)
    assert math.isclose(ex.change, 5.0) and math.isclose(tok.change, 1.0)
    assert any("explained by response length" in f for f in ex.flags)
    faster = _gs("tuned", [100] * 10, 2.0)  # really faster decoding: not explained by length
    assert not throughput_rows("s", base, faster)[0].flags


# ---------------------------------------------------------------- end to end on the fixture world

def run(tmp_path: Path, config_path: Path, *args: str) -> tuple[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out_json = tmp_path / "verdict.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
         str(REPO / "model_tests" / "test_suite.py"), "-rA", "-q", "--sft-config", str(config_path),
         "--sft-json", str(out_json), *args],
        check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out and "Traceback (most recent call last)" not in out, out
    return out, json.loads(out_json.read_text())


def outcome(out: str, test: str) -> str:
    m = re.search(rf"^(PASSED|FAILED|SKIPPED|ERROR)\S* \S*test_suite\.py::{re.escape(test)}(?:\s|$)", out,
                  re.MULTILINE)
    return m.group(1) if m else "missing"


def test_healthy_world_suites_pass_with_the_summary_table(world, tmp_path):
    out, verdict = run(tmp_path, fixture_suites.write_suites(world, tmp_path))
    for name in fixture_suites.SUITE_NAMES:
        for check in ("data", "accuracy", "unparsable"):
            assert outcome(out, f"test_{check}[{name}]") == "PASSED", out
    assert outcome(out, "test_loglik_accuracy[units-mmlu]") == "PASSED", out
    skipped = {c["nodeid"].split("::")[1] for c in verdict["checks"] if c["status"] == "skip"}
    assert skipped == {"test_loglik_accuracy[units-gsm8k]", "test_loglik_accuracy[units-exact]"}, skipped
    assert outcome(out, "test_summary") == "PASSED", out
    (summary,) = [c for c in verdict["checks"] if c["id"] == "suite.summary"]
    rows = {(r["suite"], r["metric"]): r for r in summary["metrics"]["rows"]}
    # one record per suite x metric, base vs tuned, with intervals and the paired test
    acc = rows[("units-gsm8k", "accuracy")]
    assert acc["tuned"] > 0.7 and acc["base"] < 0.2 and acc["significant"] and acc["test"] == "exact McNemar"
    assert acc["tuned_ci"][0] < acc["tuned"] < acc["tuned_ci"][1] and acc["change_ci"][0] > 0
    ll = rows[("units-mmlu", "accuracy (log-likelihood)")]
    assert ll["tuned"] > 0.8 and 0 < ll["base"] < ll["tuned"]
    for suite in fixture_suites.SUITE_NAMES:
        for metric in ("unparsable rate", "mean response length (tokens)", "median response length (characters)",
                       "examples/s", "tokens/s"):
            assert (suite, metric) in rows, sorted(rows)
    assert verdict["suites"] == summary["metrics"]["rows"]
    assert any(e["kind"] == "image" for e in summary["evidence"])
    (mmlu_acc,) = [c for c in verdict["checks"] if c["id"] == "suite.accuracy" and "units-mmlu" in c["nodeid"]]
    per_subject = [e for e in mmlu_acc["evidence"] if e["title"].endswith("accuracy per subject")]
    assert per_subject and len(per_subject[0]["rows"]) >= 3


def test_a_parser_that_never_finds_the_letter_fails_unparsable(world, tmp_path):
    out, _ = run(tmp_path, fixture_suites.letter_parser(world, tmp_path), "-k", "units-mmlu")
    assert outcome(out, "test_unparsable[units-mmlu]") == "FAILED", out
    assert "40 of 40 tuned outputs unparsable" in out and "does not find the answer the model writes" in out, out
    assert outcome(out, "test_loglik_accuracy[units-mmlu]") == "PASSED", out  # log-likelihood needs no parse


def test_gsm8k_rows_without_the_marker_fail_suite_data(world, tmp_path):
    out, _ = run(tmp_path, fixture_suites.gsm8k_no_marker(world, tmp_path), "-k", "data")
    assert outcome(out, "test_data[units-gsm8k]") == "FAILED", out
    assert "4 left out" in out and "First: row 1, answer: gold_pattern" in out, out
    assert outcome(out, "test_data[units-mmlu]") == "PASSED", out
