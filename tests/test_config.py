"""The run config: every mistake a user can make is a usage error naming file, key and fix.

Fast unit tests call ``sftcheck.config.load`` directly; the pytester runs prove the same
problems reach the user as pytest usage errors (exit 4, ``ERROR: …``), never as an
INTERNALERROR or a traceback.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from sftcheck import config as cfgmod

SHOW_CONFIG = """
def test_show(sft_config):
    print("SOURCE", sft_config.source)
    print("DEVICE", sft_config.model.device, "DTYPE", sft_config.model.dtype)
    print("ADAPTER", sft_config.model.adapter)
"""

# (toml text, substrings the message must contain)
BAD = {
    "unknown key": ("[model]\nadaptr = 'x'\n", ["unknown key [model] 'adaptr'", "Did you mean 'adapter'?", "Fix:"]),
    "unknown section": ("[modle]\nbase = 'x'\n", ["unknown key section 'modle'", "Did you mean 'model'?", "Fix:"]),
    "wrong type": ("[generation]\nmax_new_tokens = '32'\n",
                   ["[generation] max_new_tokens must be int", "got str '32'", "Fix:"]),
    "missing path": ("[model]\nadapter = 'no/such/adapter'\n",
                     ["[model] adapter = 'no/such/adapter'", "does not exist", "Fix: correct the path"]),
    "bad toml": ("[model\nbase = 'x'\n", ["not valid TOML", "Fix: correct the syntax"]),
    "unknown check id": ('[gates]\nskip = ["artifact.lora_b_nonzer"]\n',
                         ["unknown key check id in [gates] 'artifact.lora_b_nonzer'",
                          "Did you mean 'artifact.lora_b_nonzero'?"]),
    "unknown threshold": ('[gates."artifact.lora_b_nonzero"]\nwarn_shar = 0.2\n',
                          ["unknown key [gates.\"artifact.lora_b_nonzero\"] 'warn_shar'",
                           "Did you mean 'warn_share'?"]),
    "dtype choice": ("[model]\ndtype = 'fp16'\n",
                     ["[model] dtype = 'fp16': not one of the allowed values auto, float32, bfloat16, float16",
                      "Fix:"]),
    "schema choice": ("[data]\nschema = 'chatml'\n",
                      ["[data] schema = 'chatml': not one of the allowed values auto, qa, prompt_completion"]),
    # device = 'banana' and negative counts are rows of tests/test_reproductions.py (issue 9)
    "zero batch": ("[generation]\nbatch_size = 0\n", ["[generation] batch_size = 0: must be 1 or more"]),
    "non-numeric threshold": ('[gates."artifact.lora_b_nonzero"]\nwarn_share = "high"\n',
                              ['[gates."artifact.lora_b_nonzero"] warn_share must be a number']),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_load_rejects_with_file_key_and_fix(tmp_path, case):
    text, expected = BAD[case]
    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(cfgmod.ConfigError) as info:
        cfgmod.load(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    for part in expected:
        assert part in message, message


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "adapter").mkdir()
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.toml"
    path.write_text("[model]\nadapter = '../adapter'\n[report]\nhtml = 'out/r.html'\njson = 'out/r.json'\n")
    cfg = cfgmod.load(path)
    assert Path(cfg.model.adapter).resolve() == (tmp_path / "adapter").resolve()
    assert Path(cfg.report.html).resolve() == (tmp_path / "sub" / "out" / "r.html").resolve()
    assert Path(cfg.report.json).resolve() == (tmp_path / "sub" / "out" / "r.json").resolve()


def test_pyproject_tool_table_is_a_config(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n[tool.sftcheck.model]\ndevice = 'cpu'\n")
    assert cfgmod.load(path).model.device == "cpu"
    (tmp_path / "deeper").mkdir()
    assert cfgmod.find_pyproject(tmp_path / "deeper") == path
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert cfgmod.find_pyproject(other) is None  # nearest pyproject has no [tool.sftcheck]
    with pytest.raises(cfgmod.ConfigError, match=r"has no \[tool.sftcheck\] table. Fix"):
        cfgmod.load(other / "pyproject.toml")


def test_world_config_is_valid(world):
    cfg = cfgmod.load(world.config)
    assert Path(cfg.model.adapter).samefile(world.adapter)
    assert cfg.format.prompt_builder == "sftcheck.fixtures.user_code:build_prompt"


# ---- the same problems through pytest (usage errors, exit code 4) ----------------------

def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_show=SHOW_CONFIG)
    return pytester.runpytest("-p", "sftcheck.plugin", "-p", "no:cacheprovider", "-s", *args)


def _assert_usage_error(result: pytest.RunResult, *parts: str) -> None:
    err = result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, (result.ret, err, result.stdout.str())
    assert "INTERNALERROR" not in err + result.stdout.str()
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


@pytest.mark.parametrize("case", ["unknown key", "wrong type", "missing path", "bad toml", "unknown threshold",
                                  "dtype choice"])
def test_bad_config_is_a_usage_error(pytester, case):
    text, expected = BAD[case]
    cfg = pytester.path / "run.toml"
    cfg.write_text(text)
    _assert_usage_error(_run(pytester, "--sft-config", str(cfg)), "ERROR: " + str(cfg), *expected)


def test_missing_config_file_is_a_usage_error(pytester):
    _assert_usage_error(_run(pytester, "--sft-config", "nope.toml"),
                        "nope.toml: config file not found. Fix: pass an existing file to --sft-config.")


def test_bad_pyproject_is_a_usage_error(pytester):
    pytester.makefile(".toml", pyproject="[tool.sftcheck.model]\ndevise = 'cpu'\n")
    _assert_usage_error(_run(pytester), "pyproject.toml: unknown key [model] 'devise'", "Did you mean 'device'?")


def test_pyproject_is_found_without_sft_config(pytester):
    pytester.makefile(".toml", pyproject="[tool.sftcheck.model]\ndevice = 'cpu'\n")
    result = _run(pytester)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*SOURCE */pyproject.toml", "DEVICE cpu DTYPE auto"])


def test_cli_overrides_win_over_the_file(pytester):
    (pytester.path / "adapter").mkdir()
    cfg = pytester.path / "run.toml"
    cfg.write_text("[model]\ndevice = 'cpu'\ndtype = 'float32'\n")
    result = _run(pytester, "--sft-config", str(cfg), "--sft-device", "cuda:1", "--sft-dtype", "bfloat16",
                  "--sft-adapter", "adapter")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["DEVICE cuda:1 DTYPE bfloat16", f"ADAPTER {pytester.path / 'adapter'}"])


def test_bad_override_values_are_usage_errors(pytester):
    cfg = pytester.path / "run.toml"
    cfg.write_text("")
    result = _run(pytester, "--sft-config", str(cfg), "--sft-dtype", "float64")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Could not parse value: 'float64': not one of the allowed values auto, float32" in result.stderr.str()
    result = _run(pytester, "--sft-config", str(cfg), "--sft-device", "banana")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Could not parse value: 'banana': not one of the allowed values auto, cpu" in result.stderr.str()
    _assert_usage_error(_run(pytester, "--sft-config", str(cfg), "--sft-adapter", "missing"),
                        "--sft-adapter missing: no such file or folder. Fix: pass an existing path.")


def test_config_and_world_together_is_a_usage_error(pytester):
    cfg = pytester.path / "run.toml"
    cfg.write_text("")
    _assert_usage_error(_run(pytester, "--sft-config", str(cfg), "--sft-world"),
                        "Can't have both --sft-config and --sft-world.")
