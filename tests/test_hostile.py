"""Hostile inputs (issue 9) stay fixed: each ends, in bounded time, in a finding that names
the culprit — never a hang, a traceback or a PASS.

Fast by design: the table runs the session's own readers and hook callers in-process on
the variants of ``fixtures/broken/hostile.py``; two end-to-end runs prove the plugin path.
"""
from __future__ import annotations

import json
import re
import time
from fnmatch import fnmatch
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sftcheck.checks import data as data_checks
from sftcheck.checks.support import bounded
from sftcheck.checks.support.result import Status
from sftcheck.fixtures.broken import hostile

from sftcheck import config as cfgmod

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_limits():
    bounded.configure(bounded.Limits())
    yield
    bounded.configure(bounded.Limits())


def _load(world, tmp_path, name):
    cfg = cfgmod.load(hostile.HOSTILE[name].make(world, tmp_path / name))
    bounded.configure(cfg.limits)
    return cfg


# ---------------------------------------------------------------- the time limit itself

def test_time_limit_stops_a_sleep_and_names_the_culprit():
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match=r"my hook ran past its 0\.3 s limit.*Fix: do less"):
        bounded.call(time.sleep, 60, seconds=0.3, culprit="my hook", fix="do less")
    assert time.monotonic() - t0 < 2
    # a culprit that hung is not called again: the next call fails at once
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match="was not run"):
        bounded.call(time.sleep, 60, seconds=0.3, culprit="my hook", fix="do less")
    assert time.monotonic() - t0 < 0.2


def test_code_that_swallows_the_interrupt_is_still_stopped():
    def stubborn():
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # noqa: BLE001, S110 - exactly what a careless hook does
                pass

    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match="stubborn hook"):
        bounded.call(stubborn, seconds=0.3, culprit="stubborn hook", fix="x")
    assert time.monotonic() - t0 < 0.3 + bounded.GRACE_SECONDS + 1


def test_catastrophic_regex_and_nested_template_loops_are_stopped():
    rx = re.compile(r"<answer>((a+)+)$")
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match="answer_pattern"):
        bounded.call(rx.search, "<answer>" + "a" * 60 + "!", seconds=0.3,
                     culprit="[format] answer_pattern", fix=bounded.REGEX_FIX)
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    template = ImmutableSandboxedEnvironment().from_string(hostile.LOOPING_TEMPLATE)
    with pytest.raises(bounded.TimeLimitExceeded, match="chat template"):
        bounded.call(template.render, messages=[], seconds=0.3, culprit="the chat template",
                     fix=bounded.TEMPLATE_FIX)
    assert time.monotonic() - t0 < 3


def test_an_inner_limit_does_not_extend_an_outer_one():
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match="outer"), bounded.time_limit(0.3, "outer", "x"), \
            bounded.time_limit(5, "inner", "x"):
        time.sleep(10)
    assert time.monotonic() - t0 < 2


def test_a_finished_call_leaves_no_timer_behind():
    import signal

    assert bounded.call(sum, [1, 2], seconds=5, culprit="sum", fix="x") == 3
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# ---------------------------------------------------------------- the hostile table

DATA_VARIANTS = ["huge_row", "nested_row", "utf16_train", "latin1_train", "zero_device_train", "fifo_train"]


@pytest.mark.parametrize("name", DATA_VARIANTS)
def test_hostile_data_file_fails_data_schema_naming_the_problem(world, tmp_path, name):
    from sftcheck.session_data import load_data

    cfg = _load(world, tmp_path, name)
    t0 = time.monotonic()
    loaded = load_data(cfg, cfg.data.train)
    result = data_checks.schema(loaded.audit)
    assert time.monotonic() - t0 < 10
    assert result.status is Status.FAIL
    assert fnmatch(result.summary().replace("\n", " "), hostile.HOSTILE[name].expect), result.summary()
    assert len(result.summary()) < 5000


HOOK_VARIANTS = ["sleeping_formatter", "swallowing_prompt_builder", "catastrophic_pattern",
                 "looping_chat_template"]


def _run_where(where, fn, monkeypatch):
    """``fn()`` in the main thread, in a worker thread (pytest driven from a thread), or in the
    main thread of an interpreter without ``setitimer`` (Windows)."""
    if where == "no setitimer":
        import signal

        monkeypatch.delattr(signal, "setitimer", raising=False)
    if where != "thread":
        return fn()
    import threading

    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the bounded call hung off the main thread"
    if "error" in box:
        raise box["error"]
    return box["value"]


WHERE = ["main", "thread", "no setitimer"]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("name", HOOK_VARIANTS)
def test_hanging_user_code_is_stopped_and_named(world, tmp_path, monkeypatch, name, where):
    from sftcheck import hooks
    from sftcheck.loading import load_tokenizer
    from sftcheck.session_data import build_prompts, format_rows, load_data

    if name == "catastrophic_pattern" and where != "main":
        pytest.skip("the regex engine used off the main thread matches (a+)+ in linear time: "
                    "test_a_catastrophic_regex_off_the_main_thread_is_stopped uses (a|aa)+")
    cfg = _load(world, tmp_path, name)
    tok = load_tokenizer(cfg)
    examples = load_data(cfg, cfg.data.train).examples[:5]
    h = hooks.resolve(cfg)

    def run():
        rows = format_rows(examples, tok, h)
        return rows, build_prompts(examples, tok, h)

    t0 = time.monotonic()
    rows, prompts = _run_where(where, run, monkeypatch)
    messages = [f.traceback for f in rows.failures + prompts.failures]
    if name == "catastrophic_pattern":
        assert not messages
        result = data_checks.answer_roundtrip(rows, h.answer_parser.fn, tok, h.answer_parser.label)
        assert result.status is Status.FAIL
        messages = [result.summary() + " ".join(str(r) for r in result.evidence[0].rows)]
    # one limit (1 s) for the first call, the rest fail at once; plus the grace re-raise
    assert time.monotonic() - t0 < 1 + bounded.GRACE_SECONDS + 3
    assert messages and any(fnmatch(m.replace("\n", " "), hostile.HOSTILE[name].expect) for m in messages), \
        messages[:1]


@pytest.mark.parametrize("where", WHERE[1:])
def test_a_sleeping_hook_off_the_main_thread_ends_with_the_named_timeout(monkeypatch, where):
    bounded.configure(bounded.Limits(hook_seconds=0.5))

    def format_example(question):
        time.sleep(3600)

    hook = bounded.hook(format_example, "[format] train_formatter = 'hooks.py:format_example'")
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded,
                       match=r"train_formatter = 'hooks.py:format_example' ran past its 0\.5 s limit.*Fix: make"):
        _run_where(where, lambda: hook("q"), monkeypatch)
    assert time.monotonic() - t0 < 1.5
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match="was not run"):  # not called again
        _run_where(where, lambda: hook("q"), monkeypatch)
    assert time.monotonic() - t0 < 0.2
    # a healthy hook off the main thread returns its value, and its exception is its own
    assert _run_where(where, lambda: bounded.hook(str.upper, "up")("q"), monkeypatch) == "Q"
    with pytest.raises(ZeroDivisionError):
        _run_where(where, lambda: bounded.hook(lambda: 1 / 0, "div")(), monkeypatch)


def test_a_catastrophic_regex_off_the_main_thread_is_stopped(monkeypatch):
    """``re`` holds the GIL for a whole match (no thread can wait it out): off the main thread
    the pattern runs in the ``regex`` engine with its timeout, same flags, same answers."""
    from sftcheck.checks.support.answers import AnswerParser

    bounded.configure(bounded.Limits(regex_seconds=0.5))
    parser = AnswerParser(pattern=r"<ANSWER>((a|aa)+)$")
    assert _run_where("thread", lambda: parser("<answer>aaa"), monkeypatch) is None  # case-sensitive, as re
    ignorecase = AnswerParser(pattern=r"(?i)<ANSWER>((a|aa)+)$")
    assert _run_where("thread", lambda: ignorecase("x <answer>aaa"), monkeypatch) == "aaa"
    t0 = time.monotonic()
    with pytest.raises(bounded.TimeLimitExceeded, match=r"answer_pattern = .*ran past its 0\.5 s limit"):
        _run_where("thread", lambda: ignorecase("<answer>" + "a" * 60 + "!"), monkeypatch)
    assert time.monotonic() - t0 < 2


def test_answer_parser_returning_a_non_string_is_blamed_on_the_parser():
    from sftcheck.checks.support.answers import score_one

    def count_parser(text):
        return 42

    with pytest.raises(TypeError, match=r"answer parser count_parser returned int.*\[format\] answer_parser"):
        score_one("e1", "<answer>42</answer>", "42", parser=count_parser)


def test_parser_returning_int_fails_the_roundtrip_naming_the_type(world, tmp_path):
    from sftcheck import hooks
    from sftcheck.loading import load_tokenizer
    from sftcheck.session_data import format_rows, load_data

    cfg = cfgmod.load(hostile.parser_returns_int(world, tmp_path))
    tok = load_tokenizer(cfg)
    h = hooks.resolve(cfg)
    rows = format_rows(load_data(cfg, cfg.data.train).examples[:5], tok, h)
    result = data_checks.answer_roundtrip(rows, h.answer_parser.fn, tok, h.answer_parser.label)
    assert result.status is Status.FAIL
    assert "(int, not str" in str(result.evidence[0].rows[0])


def test_a_row_on_which_two_hooks_raise_is_counted_once_with_both_causes(world, tmp_path):
    """format.train_infer_aligned once counted such a row twice ("raised on 2 of 1 rows")."""
    from sftcheck.checks import format as fmt

    from tests.pretrain_inputs import Inputs

    inputs = Inputs(hostile.both_hooks_raise(world, tmp_path))
    questions = [ex.question for ex in inputs.train_data.examples]
    both = sum("." in q[:-1] for q in questions)
    either = sum("." in q[:-1] or "hours" in q for q in questions)
    assert 0 < both < either < len(questions)
    assert len(inputs.train.failures) + len(inputs.prompts.failures) == both + either  # two errors on `both` rows
    result = fmt.train_infer_aligned(inputs.train, inputs.prompts, inputs.tokenizer)
    assert result.status is Status.FAIL and result.value == either
    assert result.metrics["hook_failures"] == either and result.metrics["hook_errors"] == both + either
    text = result.explanation
    assert f"raised on {either} of {len(questions)} rows ({both} of them in more than one hook)" in text, text
    assert "hooks train_formatter = hooks.py:format_example and prompt_builder = hooks.py:build_prompt" in text
    table = result.evidence[0]
    first = next(r for r in table.rows if "; " in r[2])
    assert "formatter: cannot format a decimal; " in first[3] and "prompt builder: cannot build" in first[3]
    assert len({r[0] for r in table.rows}) == len(table.rows)  # one table row per data row


def test_a_folder_without_tokenizer_files_is_no_tokenizer(world, tmp_path):
    import shutil

    from sftcheck.loading import LoadError, load_tokenizer

    shutil.copy(world.base / "config.json", tmp_path / "config.json")
    cfg = cfgmod.load(world.config).with_overrides("model", tokenizer=str(tmp_path))
    with pytest.raises(LoadError, match="holds no usable tokenizer"):
        load_tokenizer(cfg)


def test_a_base_that_does_not_exist_is_an_error_not_a_pass(world, tmp_path):
    from sftcheck.checks import artifact
    from sftcheck.checks.support.safetensors_header import read_header

    from sftcheck.session_artifact import read_base_info

    cfg = cfgmod.load(world.config).with_overrides("model", base="nope_dir")
    t0 = time.monotonic()
    info = read_base_info(cfg)
    assert time.monotonic() - t0 < 10  # local cache only: no hub retries
    ac = json.loads((world.adapter / "adapter_config.json").read_text())
    result = artifact.base_match(ac, read_header(world.adapter / "adapter_model.safetensors"), info)
    assert result.status is Status.ERROR
    assert "'nope_dir'" in result.explanation and "not a hub id in the local cache" in result.explanation


# ---------------------------------------------------------------- end to end

PRETRAIN_FILES = [str(ROOT / "model_tests" / f"test_{a}.py") for a in ("data", "labels", "format", "tokens")]


@pytest.mark.parametrize("name", ["sleeping_formatter", "zero_device_train"])
def test_hostile_run_ends_with_a_named_failure(pytester, world, tmp_path, name):
    cfg = hostile.HOSTILE[name].make(world, tmp_path / name)
    t0 = time.monotonic()
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", *PRETRAIN_FILES,
                                           "-m", "pretrain", "--sft-config", str(cfg), "--rootdir", str(ROOT),
                                           timeout=300)
    assert time.monotonic() - t0 < 120
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback (most recent call last)" not in out.split("short test")[0]
    result.stdout.fnmatch_lines([hostile.HOSTILE[name].expect])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_label_for_an_unknown_id_is_blamed_on_the_labels_not_the_scorer(world, tmp_path):
    from sftcheck.hooks import load_scorer
    from sftcheck.session_gates import UnknownLabelId, judge_verdicts, read_human_labels

    cfg = cfgmod.load(hostile.label_unknown_id(world, tmp_path))
    labels = read_human_labels(cfg.scoring.human_labels)
    examples = {k: {"id": k, "answer": "1"} for k in labels if k != "not-an-eval-id"}
    outputs = {k: "<answer>1</answer>" for k in examples}
    with pytest.raises(UnknownLabelId, match="id 'not-an-eval-id' is not an eval id.*the label, not the scorer"):
        judge_verdicts(load_scorer(cfg), labels, examples, outputs)


def test_every_model_test_maps_to_its_registered_check():
    import ast

    from sftcheck.checks.support.registry import load_all

    from sftcheck.plugin import check_id_of

    class Item:  # what check_id_of reads from a collected pytest item
        def __init__(self, path, name):
            self.path, self.name, self.originalname = path, name, name

    registry = load_all()
    tests = [(f, n.name) for f in sorted((ROOT / "model_tests").glob("test_*.py"))
             for n in ast.parse(f.read_text()).body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
    assert len(tests) > 30
    assert all(check_id_of(Item(f, name)) in registry for f, name in tests), \
        [(f.name, name) for f, name in tests if check_id_of(Item(f, name)) not in registry]


def test_gates_skip_skips_a_check_whose_fixture_cannot_be_built(pytester, world, tmp_path):
    cfg = hostile.broken_labels_skipped(world, tmp_path)
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                                           str(ROOT / "model_tests" / "test_scoring.py") + "::test_judge_calibrated", "-rs",
                                           "--sft-config", str(cfg), "--rootdir", str(ROOT))
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*scoring.judge_calibrated skipped by [[]gates[]] skip*"])


# ---------------------------------------------------------------- fuzz: any bytes, any JSON


FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=20)


@FUZZ
@given(lines=st.lists(st.binary(max_size=300), max_size=20), limit=st.integers(8, 400))
def test_any_bytes_in_a_jsonl_file_end_in_counted_rows_never_a_crash(tmp_path_factory, lines, limit):
    from sftcheck import dataio

    path = tmp_path_factory.mktemp("fuzz") / "d.jsonl"
    path.write_bytes(b"\n".join(lines))
    audit, kept = dataio.audit(path, keep=100, max_row_bytes=limit)
    assert audit.error or audit.valid + audit.problem_count == audit.rows
    assert len(kept) == audit.valid or audit.error
    assert all(len(p.problem) < 2000 for p in audit.problems)
    list(dataio.iter_examples(path))  # the streaming reader agrees it can be read to the end


@FUZZ
@given(rows=st.lists(JSON, max_size=12))
def test_any_json_rows_become_examples_or_named_problems(tmp_path_factory, rows):
    from sftcheck import dataio

    folder = tmp_path_factory.mktemp("fuzz")
    for path in (folder / "d.jsonl", folder / "d.json"):
        text = "\n".join(json.dumps(r) for r in rows) if path.suffix == ".jsonl" else json.dumps(rows)
        path.write_text(text)
        audit, _ = dataio.audit(path, keep=100)
        assert audit.error or audit.valid + audit.problem_count == audit.rows
        assert all(p.field and p.problem for p in audit.problems)


@FUZZ
@given(text=st.text(min_size=0, max_size=100), n=st.integers(0, 100_000))
def test_any_evidence_is_capped(text, n):
    from sftcheck.checks.support import caps
    from sftcheck.checks.support.result import CheckResult, SideBySide, Table, Text, TokenStrip

    big = (text or "x") * (n // max(1, len(text or "x")))
    strip = TokenStrip("t", tuple("a" for _ in range(n // 10)), tuple(range(n // 10)), (True,) * (n // 10),
                       (False,) * (n // 10))
    r = CheckResult(Status.FAIL, big, None, big, big, metrics={"m": big, "l": list(range(n // 10))},
                    evidence=(Text("t", big), SideBySide("s", "l", big, "r", big), strip,
                              Table("t", ("a",), tuple((big,) for _ in range(n // 100)))))
    def chars(v):  # characters the JSON / HTML carry (before escaping)
        if isinstance(v, dict):
            return sum(chars(k) + chars(x) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return sum(chars(x) for x in v) + len(v)
        return len(v) if isinstance(v, str) else 8

    assert chars(r.to_dict()) < 400_000
    shown = r.evidence[2]
    assert len(shown.tokens) == len(shown.token_ids) == len(shown.trained) == len(shown.special) \
        <= caps.MAX_STRIP_TOKENS + 1


def test_an_uncached_hub_id_fails_at_once_even_with_the_hub_online(world, tmp_path):
    """The user's HF_HUB_OFFLINE=0 must not buy 5 hub retries per load: sftcheck never downloads."""
    import os
    import subprocess
    import sys

    code = ("from sftcheck import config as c, loading as l\n"
            f"cfg = c.load({str(world.config)!r}).with_overrides('model', base='someorg/not-cached-model')\n"
            "try:\n    l.load_model(cfg)\nexcept l.LoadError as e:\n    print('LoadError', e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_ETAG_TIMEOUT": "10"}
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    elapsed = time.monotonic() - t0
    assert "LoadError could not load the model from 'someorg/not-cached-model'" in out.stdout, out.stderr[-2000:]
    assert "Retry" not in out.stderr
    assert elapsed < 60


@pytest.mark.slow
@pytest.mark.parametrize("megabytes", [0.9, 4.0])
def test_a_huge_row_keeps_the_report_small(pytester, world, tmp_path, megabytes):
    """Under [limits] max_row_bytes the row is checked and its evidence capped; over it the row
    is a named data.schema problem.  Either way the HTML and JSON stay small (a 1 MB row once
    made a 187 MB report and an 81 MB JSON)."""
    cfg = hostile.huge_row(world, tmp_path / "w", megabytes)
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", *PRETRAIN_FILES,
                                           "-m", "pretrain", "--sft-config", str(cfg), "--rootdir", str(ROOT),
                                           f"--html={html}", "--self-contained-html", "--sft-json", str(js),
                                           timeout=300)
    assert html.stat().st_size < 3_000_000 and js.stat().st_size < 3_000_000
    if megabytes > 1:
        result.stdout.fnmatch_lines([hostile.HOSTILE["huge_row"].expect])
    else:
        assert "more tokens" in js.read_text()  # the row's strip is shown head and tail
