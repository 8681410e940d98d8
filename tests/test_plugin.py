"""The pytest plugin's contract: a check that raises is an ERROR result (traceback in the
evidence), never an INTERNALERROR; a missing config is a clear failure naming the fix;
``[gates]`` skips and re-thresholds checks by id.

Test files that define their own checks run in a subprocess, so the registry of this
process (and the catalogue) stays the real one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sftcheck.checks.support.registry import load_all

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def sub(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return pytester


RAISING = '''
from sftcheck.checks.support.registry import check

@check("demo.raises", stage="artifact", title="raises")
def raises(path):
    return open(path).read()  # FileNotFoundError

def test_raises(sft_check):
    sft_check(raises, "/no/such/file.json")
'''


def test_check_that_raises_is_an_error_result_not_internalerror(sub):
    sub.makepyfile(test_raises=RAISING)
    (sub.path / "run.toml").write_text("")
    result = sub.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider", "--sft-config",
                                      "run.toml", "--sft-json", "v.json")
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ERROR demo.raises: measured FileNotFoundError*",
                                 "*The check could not run: FileNotFoundError*",
                                 "*Fix: Read the traceback below*"])
    record = json.loads((sub.path / "v.json").read_text())["checks"][0]
    assert record["status"] == "error"
    assert record["evidence"][0]["kind"] == "text"
    assert "Traceback (most recent call last)" in record["evidence"][0]["body"]
    assert "open(path).read()" in record["evidence"][0]["body"]


def test_missing_config_fails_naming_the_fix(pytester):
    pytester.makepyfile(test_needs_config="def test_x(sft_check):\n    pass\n")
    result = pytester.runpytest("-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                                "--html", "r.html", "--self-contained-html")
    out = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in out
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*sftcheck: no run config: pass --sft-config PATH*--sft-world*"])
    assert "Traceback" not in out
    page = (pytester.path / "r.html").read_text()
    assert "sft-verdict-fail" in page
    assert "failed in setup before its check produced a result: sftcheck: no run config" in page


def _real_check_with_threshold() -> tuple[str, str, str]:
    for spec in load_all().values():
        for name, default in spec.defaults.items():
            if isinstance(default, float) and not isinstance(default, bool):
                return spec.id, spec.title, name
    pytest.skip("no registered check with a float threshold yet")


GATED = """
from sftcheck.checks.support.registry import check
from sftcheck.checks.support.result import CheckResult, Status

@check({id!r}, stage="pretrain", title={title!r})
def echo(*, {name}: float = 0.123):
    return CheckResult(Status.PASS, {name}, "as configured", "echoes its threshold")

def test_gated(sft_check):
    sft_check(echo)
"""


def test_gates_rethreshold_and_skip_by_id(sub):
    # A stand-in registered under a real id (the config validates ids and threshold names
    # against the registry) that echoes the threshold it was called with.
    check_id, title, name = _real_check_with_threshold()
    sub.makepyfile(test_gated=GATED.format(id=check_id, title=title, name=name))
    (sub.path / "over.toml").write_text(f'[gates."{check_id}"]\n{name} = 0.25\n')
    (sub.path / "skip.toml").write_text(f'[gates]\nskip = ["{check_id}"]\n')
    args = ("-p", "sftcheck.plugin", "-p", "no:cacheprovider", "-rs")

    over = sub.runpytest_subprocess(*args, "--sft-config", "over.toml", "--sft-json", "over.json")
    over.assert_outcomes(passed=1)
    assert json.loads((sub.path / "over.json").read_text())["checks"][0]["value"] == 0.25

    skipped = sub.runpytest_subprocess(*args, "--sft-config", "skip.toml")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines([f"*{check_id} skipped by [[]gates[]] skip in *skip.toml*"])


def _adapter_recording_local_base(world, dest: Path) -> Path:
    """The healthy adapter as peft records it when trained from a local folder."""
    import shutil

    ckpt = dest / "ckpt"
    shutil.copytree(world.adapter, ckpt)
    cfg = json.loads((ckpt / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str(world.base)
    (ckpt / "adapter_config.json").write_text(json.dumps(cfg))
    return ckpt


def test_base_defaults_to_the_adapters_recorded_base(world, tmp_path):
    from sftcheck import config as cfgmod

    ckpt = _adapter_recording_local_base(world, tmp_path)
    cfg = cfgmod.infer_base(cfgmod.Config().with_overrides("model", adapter=str(ckpt)))
    assert cfg.model.base == str(world.base)
    declared = cfgmod.Config().with_overrides("model", adapter=str(ckpt), base="/models/other")
    assert cfgmod.infer_base(declared).model.base == "/models/other"  # a declared base wins


def test_a_run_described_by_flags_alone(sub, world, tmp_path):
    """No config file: --sft-adapter (base inferred from it) and data flags are enough."""
    ckpt = _adapter_recording_local_base(world, tmp_path)
    result = sub.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                                      str(REPO / "model_tests"), "-m", "artifact or pretrain",
                                      "--sft-adapter", str(ckpt), "--sft-train", str(world.train),
                                      "--sft-eval", str(world.eval))
    # no format configured: the three format checks would compare the default template with itself
    result.assert_outcomes(passed=20, skipped=3)
    result.stdout.fnmatch_lines(["*sftcheck verdict: PASS (pretrain: 11 pass, 3 skip; artifact: 9 pass)*"])


def test_setup_failures_read_as_one_diagnosis_without_exception_chains(sub, world, tmp_path):
    """A model that cannot be loaded fails each test's setup with the cause and the fix, not
    with transformers' chained tracebacks."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[model]\nbase = "no-such-org/no-such-model"\n\n[data]\ntrain = "{world.train}"\n')
    result = sub.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                                      str(REPO / "model_tests" / "test_labels.py"), "--sft-config", str(cfg))
    result.assert_outcomes(errors=5)
    out = result.stdout.str()
    assert "could not load the tokenizer from 'no-such-org/no-such-model'" in out and "Fix:" in out
    assert "The above exception was the direct cause" not in out and "Traceback" not in out
