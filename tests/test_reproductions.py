"""Issue 9's 26 reproductions, one table: the exact damage done to a healthy run, and the
outcome sftcheck must end in — never the wrong verdict it once gave.

Each row's ``observe`` drives the machinery the session uses and returns what it saw:

* ``exit``: the exit status of a real ``pytest`` / ``sftcheck run`` subprocess, or None when
  the row is observed in-process (the session's own readers, hook callers, cache and
  loaders, called as its fixtures call them: the cases whose outcome is one check's status
  or one named error, fast enough for every commit);
* ``verdict``: the run's verdict (its JSON), or the check's status / the error raised;
* ``cause``: the text that must name the cause (matched with ``fnmatch`` after whitespace
  is collapsed).

Rows that run a model pass, several pytest runs or a browser are marked slow.  The
machinery comes from the tests that own it (``test_generation_cache``, ``test_report_ci``,
``test_report_browser``, ``test_hostile``); the cases themselves live only here.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import pytest
from sftcheck.checks.support import bounded
from sftcheck.fixtures.broken import hostile
from sftcheck.fixtures.broken.run_config import variant_config

from sftcheck import config as cfgmod
from tests.test_hostile import PRETRAIN_FILES, data_variant_result, stopped_and_named
from tests.test_report_browser import browser  # noqa: F401 - the chromium fixture row 2 uses
from tests.test_report_ci import CHECKS, INTERRUPTED, pytest_run, sftcheck_cmd

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Outcome:
    exit: int | None   # exit status of the run (None: observed in-process)
    verdict: str       # the run's JSON verdict, or the check's status / the error raised
    cause: str         # text naming the cause (an fnmatch pattern in the table)


@dataclass
class Ctx:
    world: object
    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest


@dataclass(frozen=True)
class Repro:
    id: str
    damage: str
    expect: Outcome
    observe: Callable[[Ctx], Outcome]
    slow: bool = False
    seconds: float = 120   # bounded time: the row must end within this


def _flat(text: str) -> str:
    return " ".join(str(text).split())


def _verdict(path: Path) -> str:
    return json.loads(path.read_text())["verdict"] if path.is_file() else "no JSON written"


def _model_tests(c: Ctx, cfg: Path, marker: str, *files: str, env: dict | None = None) -> Outcome:
    """A real pytest run of the model tests against ``cfg`` (subprocess), with the JSON verdict."""
    js = c.tmp / "verdict.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                           *(files or [str(ROOT / "model_tests")]), "-m", marker, "--sft-config", str(cfg),
                           "--rootdir", str(ROOT), "--sft-json", str(js), "-rs"],
                          cwd=c.tmp, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})},
                          capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out and "Traceback (most recent call last)" not in out.split("short test")[0]
    return Outcome(proc.returncode, _verdict(js), out)


# ---------------------------------------------------------------- 1. the generation cache


def _cache_lora_alpha(c: Ctx) -> Outcome:
    import torch

    from sftcheck import generation
    from sftcheck.generation import GenerationSettings
    from sftcheck.loading import load_model
    from sftcheck.passes import stop_set, transformers_passes
    from sftcheck.session_model import build_prompts, read_eval_rows
    from tests.test_generation_cache import copy_world

    torch.set_num_threads(1)
    c.monkeypatch.setenv("SFTCHECK_CACHE_DIR", str(c.tmp / "cache"))
    c.monkeypatch.setattr(generation, "_CACHE", {})
    cfg = copy_world(c.world, c.tmp / "run", tokenizer=c.tmp / "run" / "base")
    settings = GenerationSettings(max_new_tokens=12, batch_size=8)

    def passes():
        loaded = load_model(cfg)
        p = transformers_passes(loaded, stop_set(cfg, loaded.tokenizer))
        return p, build_prompts(cfg, loaded.tokenizer, read_eval_rows(cfg))

    p, prompts = passes()
    first = p.run(prompts, settings, "tuned", progress=False)
    c.monkeypatch.setattr(generation, "_CACHE", {})
    p, _ = passes()
    assert "from_disk_cache" in p.run(prompts, settings, "tuned", progress=False).settings  # unchanged: a hit
    path = c.tmp / "run" / "adapter" / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "lora_alpha": 0}))
    c.monkeypatch.setattr(generation, "_CACHE", {})
    p, _ = passes()
    again = p.run(prompts, settings, "tuned", progress=False)
    changed = [g.text for g in again.items] != [g.text for g in first.items]
    hit = "from_disk_cache" in again.settings
    return Outcome(None, "cache hit" if hit else ("regenerated" if changed else "regenerated, same text"),
                   p.log[-1]["cache"])


def _cache_base_rewritten(c: Ctx) -> Outcome:
    from sftcheck import content_id
    from tests.test_generation_cache import copy_world, identity

    cfg = copy_world(c.world, c.tmp / "run")
    weights = c.tmp / "run" / "base" / "model.safetensors"
    seen = []
    for full_limit in (content_id.FULL_HASH_BYTES, 0):  # 0: even this small file is sampled
        c.monkeypatch.setattr(content_id, "FULL_HASH_BYTES", full_limit)
        before, keyed = identity(cfg)
        assert keyed
        st = weights.stat()
        data = bytearray(weights.read_bytes())
        header = 8 + int.from_bytes(data[:8], "little")
        data[header + (len(data) - header) // 3 + 12345] ^= 0xFF  # inside the tensors, between sampled blocks
        weights.write_bytes(bytes(data))
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert weights.stat().st_size == st.st_size and weights.stat().st_mtime_ns == st.st_mtime_ns
        seen.append(identity(cfg)[0] != before)
    return Outcome(None, "cache miss" if all(seen) else f"cache hit ({seen})", identity(cfg)[0])


def _cache_hub_snapshot(c: Ctx) -> Outcome:
    from tests.test_generation_cache import fake_hub_snapshot, identity

    cache = c.tmp / "hub"
    c.monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    snap = fake_hub_snapshot(cache, "org/tiny-base", sorted(c.world.base.iterdir()))
    cfg = cfgmod.load(variant_config(c.world, c.tmp / "run", model={"base": "org/tiny-base"}))
    before, keyed = identity(cfg)
    assert keyed
    config = json.loads((snap / "config.json").read_text())
    (snap / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    after = identity(cfg)[0]
    missing = cfgmod.load(variant_config(c.world, c.tmp / "run2", model={"base": "org/not-cached"}))
    model_id, keyed_missing = identity(missing)
    return Outcome(None, "cache miss" if after != before else "cache hit",
                   f"{after} | not cached: keyed={keyed_missing} {model_id}")


def _cache_entry(damage: str) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        from tests.test_generation_cache import rerun_with_damaged_entry

        message, used = rerun_with_damaged_entry(c.world, c.tmp, c.monkeypatch, damage)
        return Outcome(None, "entry used" if used else "discarded, regenerated", message)
    return observe


# ---------------------------------------------------------------- 2-4. the report of a run


def _xss_ci_variable(c: Ctx) -> Outcome:
    from tests.test_report_browser import BRANCH, _open, _pytest

    chromium = c.request.getfixturevalue("browser")
    (c.tmp / "test_demo.py").write_text(CHECKS)
    (c.tmp / "run.toml").write_text("")
    proc = _pytest(c.tmp, "test_demo.py", "--sft-config", "run.toml", env={"GIT_BRANCH": BRANCH})
    page, seen = _open(chromium, c.tmp / "report.html")
    live = page.evaluate("document.querySelectorAll('[onerror],[onload],svg,iframe').length")
    title, env = page.title(), page.locator("#environment").inner_text()
    verdict = _verdict(c.tmp / "v.json")
    ran = "script ran" if "XSS" in title or live or seen["dialogs"] else verdict
    return Outcome(proc.returncode, ran, f"title {title!r}; environment: {env}")


def _interrupted(c: Ctx) -> Outcome:
    (c.tmp / "test_demo.py").write_text(INTERRUPTED)
    (c.tmp / "run.toml").write_text("")
    proc = pytest_run(c.tmp, "test_demo.py", "--sft-config", "run.toml", "--html", "r.html",
                      "--self-contained-html", "--sft-json", "v.json", "-k", "not meh")
    data = json.loads((c.tmp / "v.json").read_text())
    page = (c.tmp / "r.html").read_text()
    assert data["complete"] is False and (data["checks_not_run"], data["checks_collected"]) == (3, 4)
    assert "sft-verdict-incomplete" in page and "3 of 4 collected checks did not run" in page
    says_pass = "sftcheck verdict: PASS" in page + proc.stdout or "sft-banner sft-verdict-pass" in page
    return Outcome(proc.returncode, "pass somewhere" if says_pass else data["verdict"], proc.stdout)


def _usage_error_after_pass(c: Ctx) -> Outcome:
    (c.tmp / "test_demo.py").write_text(CHECKS)
    (c.tmp / "run.toml").write_text('[report]\ntitle = "ci"\n')
    run = ("run", "--config", "run.toml", "--tests", "test_demo.py", "--html", "r.html", "--json", "v.json")
    good = sftcheck_cmd(c.tmp, *run)
    assert good.returncode == 0 and "sftcheck report:" in good.stdout and _verdict(c.tmp / "v.json") == "warn"
    (c.tmp / "run.toml").write_text('[report]\ntitel = "typo"\n')
    bad = sftcheck_cmd(c.tmp, *run)
    page = (c.tmp / "r.html").read_text()
    assert "sftcheck verdict: ERROR" in page and "did not start" in page and "WARN" not in page
    announced = "sftcheck report:" in bad.stdout + bad.stderr
    # the same through plain pytest: a usage error raised by the plugin marks the old files
    (c.tmp / "run.toml").write_text("")
    assert pytest_run(c.tmp, "test_demo.py", "--sft-config", "run.toml", "--html", "p.html",
                      "--sft-json", "p.json").returncode == 0
    (c.tmp / "run.toml").write_text("[nope]\n")
    plain = pytest_run(c.tmp, "test_demo.py", "--sft-config", "run.toml", "--html", "p.html", "--sft-json", "p.json")
    assert plain.returncode == 4 and "sftcheck verdict: ERROR" in (c.tmp / "p.html").read_text()
    assert _verdict(c.tmp / "p.json") == "error"
    return Outcome(bad.returncode, "announced" if announced else _verdict(c.tmp / "v.json"), bad.stderr)


# ---------------------------------------------------------------- 5. nothing checked


def _no_weights_stage(base: str, env: dict | None = None) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        cfg = variant_config(c.world, c.tmp / "run", model={"base": base})
        return _model_tests(c, cfg, "artifact or training", env=env)
    return observe


# ---------------------------------------------------------------- 6-7. hangs, unbounded input


def _stopped(name: str) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        status, messages = stopped_and_named(c.world, c.tmp, c.monkeypatch, name, "main")
        return Outcome(None, status, " | ".join(messages))
    return observe


def _pretrain_run(name: str, **make) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        cfg = hostile.HOSTILE[name].make(c.world, c.tmp / name, **make)
        return _model_tests(c, cfg, "pretrain", *PRETRAIN_FILES)
    return observe


def _huge_row_report(megabytes: float) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        cfg = hostile.huge_row(c.world, c.tmp / "w", megabytes)
        html, js = c.tmp / "r.html", c.tmp / "verdict.json"
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                               *PRETRAIN_FILES, "-m", "pretrain", "--sft-config", str(cfg), "--rootdir", str(ROOT),
                               f"--html={html}", "--self-contained-html", "--sft-json", str(js)],
                              cwd=c.tmp, env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
                              capture_output=True, text=True, timeout=600, check=False)
        sizes = f"html {html.stat().st_size:,} B, json {js.stat().st_size:,} B"
        small = html.stat().st_size < 3_000_000 and js.stat().st_size < 3_000_000
        strip = "strip shown head and tail" if "more tokens" in js.read_text() else "no strip cut"
        return Outcome(proc.returncode, _verdict(js) if small else f"report too big: {sizes}",
                       f"{sizes}; {strip}; {proc.stdout}")
    return observe


def _data_file(name: str, **make) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        result = data_variant_result(c.world, c.tmp, name, **make)
        return Outcome(None, result.status.value, result.summary())
    return observe


# ---------------------------------------------------------------- 8-9. tracebacks, misdiagnoses


def _usage(config_text: str) -> Callable[[Ctx], Outcome]:
    def observe(c: Ctx) -> Outcome:
        (c.tmp / "test_demo.py").write_text(CHECKS)
        (c.tmp / "run.toml").write_text(config_text)
        proc = sftcheck_cmd(c.tmp, "run", "--config", "run.toml", "--tests", "test_demo.py", "--html", "r.html",
                            "--json", "v.json")
        assert "Traceback" not in proc.stderr
        return Outcome(proc.returncode, _verdict(c.tmp / "v.json"), proc.stderr)
    return observe


def _no_tokenizer(c: Ctx) -> Outcome:
    import shutil

    from sftcheck.loading import LoadError, load_tokenizer

    folder = c.tmp / "base_without_tokenizer"
    folder.mkdir()
    shutil.copy(c.world.base / "config.json", folder / "config.json")
    cfg = cfgmod.load(c.world.config).with_overrides("model", tokenizer=str(folder))
    try:
        load_tokenizer(cfg)
    except LoadError as exc:
        return Outcome(None, "LoadError", str(exc))
    return Outcome(None, "a tokenizer was accepted", "")


def _label_unknown_id(c: Ctx) -> Outcome:
    from sftcheck.hooks import load_scorer
    from sftcheck.session_gates import UnknownLabelId, judge_verdicts, read_human_labels

    cfg = cfgmod.load(hostile.label_unknown_id(c.world, c.tmp))
    labels = read_human_labels(cfg.scoring.human_labels)
    examples = {k: {"id": k, "answer": "1"} for k in labels if k != "not-an-eval-id"}
    try:
        judge_verdicts(load_scorer(cfg), labels, examples, {k: "<answer>1</answer>" for k in examples})
    except UnknownLabelId as exc:
        return Outcome(None, "UnknownLabelId", str(exc))
    return Outcome(None, "accepted", "")


def _negative_counts(c: Ctx) -> Outcome:
    seen = []
    for text in ("[data]\ncheck_rows = -5\n", "[generation]\nn_examples = -1\n"):
        path = c.tmp / f"run{len(seen)}.toml"
        path.write_text(text)
        try:
            cfgmod.load(path)
            seen.append("accepted")
        except cfgmod.ConfigError as exc:
            seen.append(str(exc))
    verdict = "ConfigError" if not any(s == "accepted" for s in seen) else "accepted"
    return Outcome(None, verdict, " | ".join(seen))


def _parser_returns_int(c: Ctx) -> Outcome:
    from sftcheck.checks import data as data_checks

    from sftcheck import hooks
    from sftcheck.loading import load_tokenizer
    from sftcheck.session_data import format_rows, load_data

    cfg = cfgmod.load(hostile.parser_returns_int(c.world, c.tmp))
    tok = load_tokenizer(cfg)
    h = hooks.resolve(cfg)
    rows = format_rows(load_data(cfg, cfg.data.train).examples[:5], tok, h)
    result = data_checks.answer_roundtrip(rows, h.answer_parser.fn, tok, h.answer_parser.label)
    return Outcome(None, result.status.value, str(result.evidence[0].rows[0]) if result.evidence else "")


def _skip_with_broken_fixture(c: Ctx) -> Outcome:
    cfg = hostile.broken_labels_skipped(c.world, c.tmp / "run")
    return _model_tests(c, cfg, "gate or not gate", str(ROOT / "model_tests" / "test_scoring.py")
                        + "::test_judge_calibrated")


def _uncached_hub_id_online(c: Ctx) -> Outcome:
    code = ("from sftcheck import config as c, loading as l\n"
            f"cfg = c.load({str(c.world.config)!r}).with_overrides('model', base='someorg/not-cached-model')\n"
            "try:\n    l.load_model(cfg)\nexcept l.LoadError as e:\n    print('LoadError', e)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_HUB_ETAG_TIMEOUT": "10"}
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    took = time.monotonic() - t0
    verdict = "LoadError" if out.stdout.startswith("LoadError") and "Retry" not in out.stderr else "retried"
    return Outcome(None, verdict if took < 60 else f"{verdict} after {took:.0f} s", out.stdout)


# ---------------------------------------------------------------- the table

HANG = "*ran past its 1 s limit and was stopped. Fix: *"
TABLE = [
    Repro("1a-cache-lora-alpha-tokenizer-from-base",
          "lora_alpha set to 0 in the adapter's adapter_config.json, [model] tokenizer = the base folder, "
          "generations cached from the run before",
          Outcome(None, "regenerated", "generated"), _cache_lora_alpha, seconds=300),
    Repro("1b-cache-base-rewritten-same-size-mtime-restored",
          "one byte of the base's model.safetensors flipped inside the tensors, size unchanged, mtime "
          "restored (rsync -a / tar); fully hashed and sampled",
          Outcome(None, "cache miss", "content:*"), _cache_base_rewritten),
    Repro("1c-cache-hub-id-snapshot-changed",
          "[model] base = a hub id whose cached snapshot's config.json changes between runs",
          Outcome(None, "cache miss", "content:* | not cached: keyed=False paths:*"), _cache_hub_snapshot),
    Repro("2-xss-through-ci-variable",
          "GIT_BRANCH=\"<svg/onload=document.title='XSS-BR'>\" in the environment of a run writing --html",
          Outcome(0, "warn", "title 'sftcheck verdict'; environment: *<svg/onload=document.title='XSS-BR'>*"),
          _xss_ci_variable, slow=True, seconds=300),
    Repro("3-interrupted-run",
          "KeyboardInterrupt (what Ctrl-C looks like) in the 2nd of 4 collected checks",
          Outcome(2, "incomplete", "*sftcheck verdict: INCOMPLETE*3 of 4 checks not run*"), _interrupted,
          slow=True),
    Repro("4-usage-error-after-a-pass",
          "a good `sftcheck run` (report and JSON written), then a typo in the config ([report] titel) and "
          "the same command again (and the same through plain pytest)",
          Outcome(4, "error", "*unknown key [[]report[]] 'titel'*"), _usage_error_after_pass, slow=True),
    Repro("5a-base-not-found-no-weights-stage",
          "[model] base = \"nope_dir\" (no such folder, not a cached hub id), -m \"artifact or training\"",
          Outcome(1, "fail", "*ERROR artifact.base_match: The configured base 'nope_dir' could not be read*"
                             "not a hub id in the local cache*"), _no_weights_stage("nope_dir"), slow=True),
    Repro("5b-hub-id-base-network-off",
          "[model] base = an uncached hub id, HF_HUB_OFFLINE=1 (network off), -m \"artifact or training\"",
          Outcome(1, "fail", "*ERROR artifact.base_match: The configured base 'someorg/not-cached'*"),
          _no_weights_stage("someorg/not-cached", {"HF_HUB_OFFLINE": "1"}), slow=True),
    Repro("6a-hook-sleeps", "[format] train_formatter = a function that calls time.sleep(3600)",
          Outcome(1, "fail", "*FAIL labels.*train_formatter = 'hooks.py:format_example' ran past its 1 s limit*"),
          _pretrain_run("sleeping_formatter"), slow=True),
    Repro("6b-catastrophic-answer-pattern",
          "answer_pattern = '<answer>((a+)+)$' and five training answers of 40 'a's then '!'",
          Outcome(None, "fail", "*answer_pattern = '<answer>((a+)+)$' ran past its 1 s limit*"),
          _stopped("catastrophic_pattern")),
    Repro("6c-chat-template-nested-loops",
          "the tokenizer's chat_template.jinja runs two nested range(100000) loops per conversation",
          Outcome(None, "fail", "*the chat template of the tokenizer * ran past its 1 s limit*"),
          _stopped("looping_chat_template")),
    Repro("7a-one-row-of-0.9-MB", "the first training row's question is 0.9 MB of text (under max_row_bytes)",
          Outcome(0, "warn", "html *, json *; strip shown head and tail;*WARN data.truncation: 1 rows reach "
                             "max_length=512*"), _huge_row_report(0.9), slow=True,
          seconds=240),
    Repro("7b-one-row-of-4-MB", "the first training row's question is 4 MB of text",
          Outcome(1, "fail", "*FAIL data.schema*row 1*over [[]limits[]] max_row_bytes*"), _huge_row_report(4.0),
          slow=True, seconds=240),
    Repro("7c-one-row-of-50-MB", "the first training row's question is 50 MB of text",
          Outcome(None, "fail", "*row 1*over [[]limits[]] max_row_bytes*"),
          _data_file("huge_row", megabytes=50.0), seconds=60),
    Repro("7d-train-is-dev-zero", "train.jsonl is a symlink to /dev/zero",
          Outcome(1, "fail", "*FAIL data.schema*not a regular file*"), _pretrain_run("zero_device_train"), slow=True),
    Repro("8a-row-nested-100000-deep", "one JSONL line nested 100,000 lists deep",
          Outcome(None, "fail", hostile.HOSTILE["nested_row"].expect), _data_file("nested_row")),
    Repro("8b-cache-entry-is-an-empty-list", "the generation cache entry's file holds `[]`",
          Outcome(None, "discarded, regenerated", "sftcheck: ignoring the generation cache entry *"),
          _cache_entry("empty list")),
    Repro("8c-cache-entry-partial", "the generation cache entry keeps 5 of its items",
          Outcome(None, "discarded, regenerated", "sftcheck: ignoring the generation cache entry *it holds 5 "
                                                  "generations for 6 prompts*"), _cache_entry("partial items")),
    Repro("8d-device-banana-in-the-config-file", "[model] device = \"banana\" in the run config",
          Outcome(4, "no JSON written", "*[[]model[]] device = 'banana': not one of the allowed values auto, cpu, "
                                        "cuda*Fix:*no report written (pytest exit status 4)*"),
          _usage("[model]\ndevice = 'banana'\n")),
    Repro("8e-no-tokenizer-anywhere", "[model] tokenizer = a folder with config.json and no tokenizer files",
          Outcome(None, "LoadError", "*holds no usable tokenizer*"), _no_tokenizer),
    Repro("9a-human-label-id-not-in-eval", "a human_labels.jsonl row whose id is in no eval row",
          Outcome(None, "UnknownLabelId", "*id 'not-an-eval-id' is not an eval id*the label, not the scorer*"),
          _label_unknown_id),
    Repro("9b-negative-counts", "[data] check_rows = -5; [generation] n_examples = -1",
          Outcome(None, "ConfigError", "*check_rows = -5: must be 0 or more*|*n_examples = -1: must be 0 or more*"),
          _negative_counts),
    Repro("9c-answer-parser-returns-int", "[format] answer_parser returns len(answer), an int",
          Outcome(None, "fail", "*answer parser parse returned int*(int, not str*"), _parser_returns_int),
    Repro("9d-gates-skip-with-a-broken-fixture",
          "human_labels.jsonl is not JSON and [gates] skip = [\"scoring.judge_calibrated\"]",
          Outcome(0, "empty", "*scoring.judge_calibrated skipped by [[]gates[]] skip*"), _skip_with_broken_fixture,
          slow=True),
    Repro("9e-utf16-train-file", "train.jsonl saved as UTF-16 with a BOM",
          Outcome(None, "fail", hostile.HOSTILE["utf16_train"].expect), _data_file("utf16_train")),
    Repro("9f-uncached-hub-id-hub-online", "[model] base = an uncached hub id with HF_HUB_OFFLINE=0",
          Outcome(None, "LoadError", "*could not load the model from 'someorg/not-cached-model'*"),
          _uncached_hub_id_online, seconds=90),
]


def test_the_table_holds_issue_9s_26_reproductions():
    assert len(TABLE) == 26 and len({r.id for r in TABLE}) == 26
    assert all(r.damage and r.expect.verdict != "pass" for r in TABLE)


@pytest.fixture(autouse=True)
def _fresh_limits():
    bounded.configure(bounded.Limits())
    yield
    bounded.configure(bounded.Limits())


@pytest.mark.parametrize("repro", [pytest.param(r, id=r.id, marks=[pytest.mark.slow] if r.slow else [])
                                   for r in TABLE])
def test_reproduction_ends_in_the_right_outcome(repro: Repro, world, tmp_path, monkeypatch, request):
    t0 = time.monotonic()
    got = repro.observe(Ctx(world, tmp_path, monkeypatch, request))
    took = time.monotonic() - t0
    assert (got.exit, got.verdict) == (repro.expect.exit, repro.expect.verdict), _flat(got.cause)[-3000:]
    assert fnmatch(_flat(got.cause), repro.expect.cause), _flat(got.cause)[-3000:]
    assert took < repro.seconds, f"{repro.id} took {took:.0f} s"

