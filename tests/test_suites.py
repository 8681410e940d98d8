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
from sftcheck.fixtures.broken import suites as broken_suites

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
    out, verdict = run(tmp_path, world.config)
    from sftcheck.checks.suite import KINDS_OF

    kinds = {"units-gsm8k": "numeric", "units-mmlu": "multiple_choice", "safety": "refusal",
             "units-alpaca": "winrate"}
    assert set(kinds) == set(fixture_suites.SUITE_NAMES)
    for check, applies in KINDS_OF.items():
        for name, kind in kinds.items():
            want = "PASSED" if kind in applies else "missing"   # only parametrised with suites it scores
            assert outcome(out, f"test_{check}[{name}]") == want, (check, name, out)
    assert not [c for c in verdict["checks"] if c["status"] not in ("pass",)], out
    assert outcome(out, "test_summary") == "PASSED", out
    (summary,) = [c for c in verdict["checks"] if c["id"] == "suite.summary"]
    rows = {(r["suite"], r["metric"]): r for r in summary["metrics"]["rows"]}
    # one record per suite x metric, base vs tuned, with intervals and the paired test
    acc = rows[("units-gsm8k", "accuracy")]
    assert acc["tuned"] > 0.7 and acc["base"] < 0.2 and acc["significant"] and acc["test"] == "exact McNemar"
    assert acc["tuned_ci"][0] < acc["tuned"] < acc["tuned_ci"][1] and acc["change_ci"][0] > 0
    ll = rows[("units-mmlu", "accuracy (log-likelihood)")]
    assert ll["tuned"] > 0.8 and 0 < ll["base"] < ll["tuned"]
    norm = rows[("units-mmlu", "accuracy (log-likelihood, length-normalised)")]
    assert norm["tuned"] > 0.8 and norm["base"] != ll["base"]        # lm-eval's acc_norm next to acc
    safe, over = rows[("safety", "safe rate (harmful prompts)")], rows[("safety", "over-refusal rate (benign prompts)")]
    assert (safe["n"], over["n"]) == (20, 20) and over["tuned"] == 0.0 and not safe["flags"]
    win = rows[("units-alpaca", "win rate vs reference")]
    assert win["tuned"] > 0.6 and win["base"] < 0.4 and win["significant"] and win["change_ci"][0] > 0
    assert not win["flags"] and ("units-alpaca", "length-controlled win rate") in rows
    for suite in fixture_suites.SUITE_NAMES:
        for metric in ("mean response length (tokens)", "median response length (characters)",
                       "examples/s", "tokens/s"):
            assert (suite, metric) in rows, sorted(rows)
    assert verdict["suites"] == summary["metrics"]["rows"]
    assert any(e["kind"] == "image" for e in summary["evidence"])
    (mmlu_acc,) = [c for c in verdict["checks"] if c["id"] == "suite.accuracy" and "units-mmlu" in c["nodeid"]]
    per_subject = [e for e in mmlu_acc["evidence"] if e["title"].endswith("accuracy per subject")]
    assert per_subject and len(per_subject[0]["rows"]) >= 3
    (agree,) = [c for c in verdict["checks"] if c["id"] == "suite.judge_agreement"]
    assert agree["metrics"]["kappa"] == 1.0 and agree["metrics"]["pairs"] == 20


@pytest.mark.parametrize("variant", sorted(broken_suites.EXPECTED))
def test_broken_suite_variant_fails_its_check_with_the_cause(world, tmp_path, variant):
    check_id, suite, words = broken_suites.EXPECTED[variant]
    config_path = getattr(broken_suites, variant)(world, tmp_path / "variant")
    out, verdict = run(tmp_path, config_path, "-k", suite)
    test = f"test_{check_id.split('.')[1]}[{suite}]"
    assert outcome(out, test) == "FAILED", out
    (result,) = [c for c in verdict["checks"] if c["id"] == check_id and f"[{suite}]" in c["nodeid"]]
    for w in words:
        assert w in result["explanation"], result["explanation"]
    if variant == "letter_parser":   # log-likelihood scoring needs no parse
        assert outcome(out, f"test_loglik_accuracy[{suite}]") == "PASSED", out
    if variant == "refuses_everything":   # "safe" by refusing everything: the safe rate rises, flagged
        (safe,) = [c["metrics"] for c in verdict["checks"] if c["id"] == "suite.safe_rate"]
        assert safe["tuned"] == 1.0 and safe["base"] == 0.0 and any("over-refusal" in f for f in safe["flags"]), safe
    if variant == "length_judge":
        assert outcome(out, f"test_judge_agreement[{suite}]") == "FAILED", out


def test_world2_suite_passes_on_another_model_family_and_absent_kinds_skip_with_the_reason(world2, tmp_path):
    """World 2 (tiny Llama, Llama-3 chat template, worked '#### N' answers, row-style hooks) has one
    numeric suite prompted by its own prompt builder: its checks pass, and the checks of kinds it
    does not configure are skipped at collection naming the kinds configured (they once ERRORed:
    a session fixture read ``request.function``)."""
    from sftcheck.fixtures.world_chat import SUITE

    out, verdict = run(tmp_path, world2.config)
    for test in ("test_data", "test_accuracy", "test_unparsable"):
        assert outcome(out, f"{test}[{SUITE}]") == "PASSED", out
    assert outcome(out, "test_summary") == "PASSED", out
    for test in ("test_loglik_accuracy", "test_safe_rate", "test_over_refusal", "test_refusal_classifier",
                 "test_win_rate", "test_length_bias", "test_judge_agreement"):
        assert outcome(out, f"{test}[no-suites]") == "missing", out  # skipped before setup: no ERROR line
    assert "ERROR" not in out and re.search(r"SKIPPED \[3\] .*no \[\[suites\]\] of kind refusal .*"
                                            rf"configured: {SUITE} \(numeric\)", out), out
    (acc,) = [c for c in verdict["checks"] if c["id"] == "suite.accuracy"]
    assert acc["metrics"]["tuned"] >= 0.7 and acc["metrics"]["base"] <= 0.1, acc["explanation"]
    assert verdict["verdict"] == "pass"


@pytest.mark.parametrize("variant", sorted(broken_suites.EXPECTED_WORLD2))
def test_broken_world2_suite_variant_fails_its_check_with_the_cause(world2, tmp_path, variant):
    check_id, suite, words, also = broken_suites.EXPECTED_WORLD2[variant]
    config_path = getattr(broken_suites, variant)(world2, tmp_path / "variant")
    out, verdict = run(tmp_path, config_path, "-k", suite)
    assert outcome(out, f"test_{check_id.split('.')[1]}[{suite}]") == "FAILED", out
    (result,) = [c for c in verdict["checks"] if c["id"] == check_id]
    for w in words:
        assert w in result["explanation"], result["explanation"]
    others = {c["id"] for c in verdict["checks"] if c["id"] != check_id and c["status"] != "pass"}
    assert others == set(also), others  # the cause, and only what follows from it


def test_a_suite_that_cannot_run_fails_the_summary_naming_it(world, tmp_path):
    out, verdict = run(tmp_path, broken_suites.mmlu_wrong_file(world, tmp_path / "variant"), "-k", "mmlu or summary")
    assert outcome(out, "test_summary") == "FAILED" and outcome(out, "test_data[units-mmlu]") == "FAILED", out
    (summary,) = [c for c in verdict["checks"] if c["id"] == "suite.summary"]
    assert "no scored example for units-mmlu" in summary["explanation"], summary["explanation"]
    (data,) = [c for c in verdict["checks"] if c["id"] == "suite.data" and "units-mmlu" in c["nodeid"]]
    assert "needs rows with choices" in data["explanation"], data["explanation"]


def test_a_judge_and_a_classifier_are_asked_once_per_output(tmp_path):
    """The suite's run and the N-way table both score the base's and the tuned model's outputs:
    the judge (both orders) and the refusal classifier are called once per distinct output."""
    from types import SimpleNamespace

    from sftcheck.suites import refusal as refusal_mod
    from sftcheck.suites.loaders import SuiteRow
    from sftcheck.suites.winrate import judge_both_orders

    calls = []

    def judge(instruction, a, b):
        calls.append((a, b))
        return "a" if len(a) > len(b) else "b"

    row = SuiteRow(id="r1", row=1, question="Say hi", gold="hi")
    first = judge_both_orders(judge, row, "hello there")
    assert judge_both_orders(judge, row, "hello there") is first and len(calls) == 2  # both orders, once
    judge_both_orders(judge, row, "yo")
    assert len(calls) == 4
    hook = tmp_path / "cls_hook.py"
    hook.write_text("N = []\ndef refuses(prompt, output):\n    N.append(output)\n    return 'sorry' in output\n")
    spec = SimpleNamespace(classifier="cls_hook:refuses")
    cfg = SimpleNamespace(source=str(tmp_path / "run.toml"))
    (tmp_path / "run.toml").write_text("")
    _, classify = refusal_mod.make_classifier(spec, cfg, None)
    items = [("base/1", "p", "sorry, no"), ("tuned/1", "p", "sure"), ("base/2", "p", "sure")]
    assert classify(items) == [True, False, False]
    assert classify(items) == [True, False, False]
    import cls_hook
    assert sorted(cls_hook.N) == ["sorry, no", "sure"], cls_hook.N  # each distinct (prompt, output) once


# ---------------------------------------------------------------- synthetic runs: each gate fails on a regression

def _scored(ids, correct) -> list:
    from sftcheck.checks.support.samples import Scored
    return [Scored(i, "1", "1" if c else "2", Outcome.CORRECT if c else Outcome.INCORRECT, "strict", float(c))
            for i, c in zip(ids, correct)]


def test_synthetic_regressions_fail_their_gates():
    from sftcheck.checks import suite
    from sftcheck.checks.support.refusal import Calibration, RefusalData
    from sftcheck.checks.support.suites import SuiteRun
    from sftcheck.checks.support.winrate import Judged, WinrateData

    ids = [f"e{i}" for i in range(40)]
    good, bad = _scored(ids, [True] * 36 + [False] * 4), _scored(ids, [True] * 10 + [False] * 30)
    run = SuiteRun("s", "multiple_choice", "mmlu", "f", "p", n_rows=40, scored={"base": good, "tuned": bad},
                   loglik={"base": good, "tuned": bad})
    for fn in (suite.accuracy, suite.loglik_accuracy):
        r = fn(run)
        assert r.status.value == "fail" and "significantly worse than base" in r.explanation, r.explanation
    refused = {"base": {i: True for i in ids}, "tuned": {i: i in ids[:5] for i in ids}}
    data = RefusalData("patterns", refused, frozenset(ids[30:]), {i: "c" for i in ids}, Calibration("x", ()))
    r = suite.safe_rate(SuiteRun("r", "refusal", "simple_safety", "f", "p", refusal=data))
    assert r.status.value == "fail" and "significantly worse than base" in r.explanation, r.explanation
    judged = {"base": [Judged(i, 1.0, 1.0, 20, 20 + k % 7) for k, i in enumerate(ids)],
              "tuned": [Judged(i, 0.0, 0.0, 20, 20 + k % 7) for k, i in enumerate(ids)]}
    r = suite.win_rate(SuiteRun("w", "winrate", "alpaca_eval", "f", "p", winrate=WinrateData("j", judged)))
    assert r.status.value == "fail" and "wins significantly less often than base" in r.explanation, r.explanation
    r = suite.summary([SuiteRun("x", "numeric", "qa", "f", "p", error="no such file")])
    assert r.status.value == "fail" and "no scored example for x" in r.explanation
    assert suite.safe_rate(run).status.value == "skip"            # wrong kind: says so


def test_alpaca_eval_and_simple_safety_shapes_are_detected_and_bad_rows_named(tmp_path):
    alpaca = [{"instruction": "Say hi", "output": "Hi!", "generator": "gpt4"},
              {"instruction": "Add", "input": "2 + 2", "output": "4"}, {"instruction": "x", "output": ""}]
    data = read_suite(_spec(tmp_path, alpaca, kind="winrate", judge="m:f"))
    assert data.shape == "alpaca_eval" and [(r.question, r.gold, r.generator) for r in data.rows] == [
        ("Say hi", "Hi!", "gpt4"), ("Add\n\n2 + 2", "4", "reference")]
    assert [(p.row, p.field) for p in data.problems] == [(3, "output")]
    sst = [{"id": "sst_001", "harm_area": "Scams", "category": "Instructions", "prompt": "p1"},
           {"id": "b1", "harm_area": "none", "category": "benign", "prompt": "p2"},
           {"id": "b2", "category": "x", "prompt": "p3", "benign": "yes"}]
    data = read_suite(_spec(tmp_path, sst, kind="refusal"))
    assert data.shape == "simple_safety" and [(r.id, r.subject, r.benign) for r in data.rows] == [
        ("sst_001", "Instructions", False), ("b1", "benign", True)]
    assert data.problems[0].field == "benign"


@pytest.mark.parametrize("body, words", [
    (SUITE.replace('"numeric"', '"winrate"'), ["needs judge", "module:function"]),
    (SUITE.replace('"numeric"', '"winrate"') + 'judge = "nocolon"\n', ["judge = 'nocolon'", "module:function"]),
    (SUITE + 'classifier = "patterns"\n', ["classifier applies to kind 'refusal' only"]),
    (SUITE + 'shape = "mmlu"\n', ["shape = 'mmlu' does not fit kind = 'numeric'"]),
    (SUITE.replace('"numeric"', '"refusal"') + 'benign = "nope.jsonl"\n', ["benign = 'nope.jsonl'", "does not exist"]),
])
def test_bad_refusal_and_winrate_config_is_a_config_error(tmp_path, body, words):
    with pytest.raises(config.ConfigError) as err:
        config.load(_config(tmp_path, body))
    for w in words:
        assert w in str(err.value), str(err.value)


def test_refusal_patterns_and_length_control():
    from sftcheck.checks.support.refusal import LABELLED, pattern_refusal
    from sftcheck.checks.support.winrate import Judged, length_controlled, longer_wins, tracks_length

    assert all(pattern_refusal("", text) == label for text, label in LABELLED)
    assert not pattern_refusal("", "x" * 500 + " I cannot help with that.")   # only the start counts
    longer = [Judged(str(i), float(m > r), float(m > r), m, r) for i, (m, r) in
              enumerate((20 + 7 * k % 50, 30 + 11 * k % 60) for k in range(40))]
    assert longer_wins(longer).share == 1.0 and "longer answer won" in tracks_length(longer)
    fair = [Judged(str(i), s, s, 20, 40 + 13 * i % 90) for i, s in enumerate([1.0, 0.5, 0.0, 1.0] * 10)]
    lc = length_controlled(fair)
    assert not lc.separated and tracks_length(fair) is None and 0 <= lc.lc_win_rate <= 1


def test_refusal_classifier_hook_and_judge_classify_and_name_their_failures(tmp_path):
    from sftcheck.suites.refusal import make_classifier

    (tmp_path / "cls.py").write_text(
        "def hook(prompt, output):\n"
        "    if output == 'boom':\n        raise RuntimeError('classifier broke')\n"
        "    return 'sorry' in output\n\n"
        "def judge(output_text, example):\n    return 1.0 if 'sorry' in output_text else 0.0\n")
    (tmp_path / "s.jsonl").write_text('{"id": "1", "harm_area": "x", "category": "c", "prompt": "p"}\n')
    body = ('[scoring]\nscorer = "cls.py:judge"\n'
            '[[suites]]\nname = "byhook"\ndata = "s.jsonl"\nkind = "refusal"\nclassifier = "cls.py:hook"\n'
            '[[suites]]\nname = "byjudge"\ndata = "s.jsonl"\nkind = "refusal"\nclassifier = "judge"\n')
    (tmp_path / "run.toml").write_text(body)
    cfg = config.load(tmp_path / "run.toml")
    items = [("a", "p", "I'm sorry"), ("b", "p", "Sure: 42"), ("c", "p", "boom")]
    name, classify = make_classifier(cfg.suites[0], cfg, None)
    got = classify(items)
    assert got[:2] == [True, False] and "raised RuntimeError: classifier broke" in got[2], got
    name, classify = make_classifier(cfg.suites[1], cfg, None)
    assert "judge" in name and classify(items) == [True, False, False]


def test_per_suite_gates_reach_the_new_checks(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"id": "1", "harm_area": "x", "category": "c", "prompt": "p"}\n')
    (tmp_path / "run.toml").write_text('[[suites]]\nname = "safety"\ndata = "s.jsonl"\nkind = "refusal"\n'
                                       '[gates."suite.safety.over_refusal"]\nmax_over_refusal = 0.05\n')
    cfg = config.load(tmp_path / "run.toml")
    assert cfg.thresholds("suite.over_refusal", "safety") == {"max_over_refusal": 0.05}


def test_label_files_are_read_like_data_files_and_bad_rows_are_named(tmp_path):
    """Classifier labels and human judgements go through the data reader (bounded rows, UTF-8
    checked): a bad row is a SuiteFileError naming the file and the row, not a traceback."""
    from sftcheck.checks.support import bounded

    from sftcheck.suites.loaders import SuiteFileError
    from sftcheck.suites.refusal import labelled
    from sftcheck.suites.winrate import human_pairs

    good = tmp_path / "labels.jsonl"
    good.write_text('{"output": "I cannot help with that.", "refused": true}\n\n'
                    '{"output": "42 metres.", "refused": false}\n')
    spec = SuiteSpec(name="s", data=str(good), kind="refusal", classifier_labels=str(good))
    assert labelled(spec) == (str(good), [("I cannot help with that.", True), ("42 metres.", False)])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"output": "x", "refused": true}\n{not json\n')
    with pytest.raises(SuiteFileError, match=r"bad\.jsonl: row 2 cannot be read"):
        labelled(SuiteSpec(name="s", data=str(bad), kind="refusal", classifier_labels=str(bad)))
    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"instruction": "' + "a" * 5000 + '"}\n')
    bounded.configure(bounded.Limits(max_row_bytes=1000))
    try:
        with pytest.raises(SuiteFileError, match=r"huge\.jsonl: row 1 cannot be read .*max_row_bytes = 1,000"):
            human_pairs(SuiteSpec(name="s", data=str(huge), kind="winrate", human_labels=str(huge)))
    finally:
        bounded.configure(bounded.Limits())
