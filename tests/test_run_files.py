"""One ``Run`` per session: each run file is read (and the adapter weights hashed) once,
through one reader with one error policy; hooks are resolved once."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sftcheck.checks.support.lora_layout import Unreadable

from sftcheck import config as cfgmod
from sftcheck.run_files import Run, RunFiles

ROOT = Path(__file__).resolve().parent.parent


def test_reader_reads_each_path_once_and_keeps_it(tmp_path):
    f = tmp_path / "adapter_config.json"
    f.write_text('{"r": 8}')
    files = RunFiles()
    assert files.json(f) == {"r": 8} and files.json(f) == {"r": 8} and files.text(f) == '{"r": 8}'
    assert files.sha256(f) == files.sha256(f)  # hashed from the bytes already read
    assert files.reads == {str(f): 1}


@pytest.mark.parametrize("content, words", [
    (None, "not found"), ("{oops", "is not valid JSON"), ("[1, 2]", "expected an object")])
def test_one_error_policy(tmp_path, content, words):
    f = tmp_path / "trainer_state.json"
    if content is not None:
        f.write_text(content)
    got = RunFiles().json(f, "training log")
    assert isinstance(got, Unreadable) and str(f) in got.reason and words in got.reason


def test_run_reads_the_world_once(world):
    run = Run(cfgmod.load(world.config))
    first = (run.adapter_config, run.adapter_weights, run.base_config, run.chat_template, run.training_log)
    again = Run(run.cfg, run.files)
    assert (again.adapter_config, again.adapter_weights, again.base_config, again.chat_template,
            again.training_log) == first
    assert set(run.files.reads.values()) == {1}
    assert run.recorded_base == "sftcheck-fixtures/unitconv-base-1m" and run.adapter_weights.sha256


def test_probe_catches_a_reader_that_bypasses_the_run(world, monkeypatch):
    """The session probe below is not vacuous: code in the sftcheck tree that reads
    adapter_config.json itself is reported."""
    import sftcheck
    from tests import run_reads_probe as probe

    monkeypatch.setattr(probe, "bypasses", [])
    src = "import json\ndef read(p):\n    return json.loads(p.read_text())\n"
    fake = Path(sftcheck.__file__).parent / "session_fake_reader.py"
    ns: dict = {}
    exec(compile(src, str(fake), "exec"), ns)  # noqa: S102 - a function "defined in" the sftcheck tree
    import builtins

    from sftcheck import hooks
    for owner, name in ((builtins, "open"), (Path, "read_text"), (Path, "read_bytes"), (hooks, "resolve")):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # restored after the test
    probe.install()
    ns["read"](world.adapter / "adapter_config.json")
    assert probe.bypasses and "session_fake_reader.py" in probe.bypasses[0]


def test_a_session_reads_each_run_file_once_and_resolves_hooks_once(pytester, world, tmp_path, monkeypatch):
    out = tmp_path / "reads.json"
    monkeypatch.setenv("SFTCHECK_READS_OUT", str(out))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("SFTCHECK_CACHE_DIR", str(tmp_path / "cache"))
    result = pytester.runpytest_subprocess("-p", "sftcheck.plugin", "-p", "tests.run_reads_probe",
                                           "-p", "no:cacheprovider", str(ROOT / "model_tests"), "-m", "not perf",
                                           "--sft-config", str(world.config), "--rootdir", str(ROOT))
    assert result.ret == 0, result.stdout.str()[-3000:]
    seen = json.loads(out.read_text())
    assert seen["bypasses"] == [], "sftcheck read run files outside the Run:\n" + "\n".join(seen["bypasses"])
    assert seen["resolve_calls"] == 1
    reads = seen["reads"]
    assert {k: v for k, v in reads.items() if v != 1} == {}, reads
    names = {Path(k.removeprefix("sha256:")).name + (" (sha256)" if k.startswith("sha256:") else "") for k in reads}
    assert {"adapter_config.json", "config.json", "generation_config.json", "trainer_state.json",
            "chat_template.jinja", "adapter_model.safetensors", "tokenizer.json"} <= names, reads


def test_the_vllm_engine_takes_the_adapter_rank_from_the_run(world, monkeypatch):
    """The vllm backend (GPU only) builds its engine arguments from the session's Run: the
    adapter's rank comes from ``Run.adapter_config`` (read once), not from its own read of
    adapter_config.json (the probe would name it)."""
    import builtins

    from sftcheck import hooks
    from sftcheck.backends.vllm_engine import engine_kwargs
    from tests import run_reads_probe as probe

    monkeypatch.setattr(probe, "bypasses", [])
    for owner, name in ((builtins, "open"), (Path, "read_text"), (Path, "read_bytes"), (hooks, "resolve")):
        monkeypatch.setattr(owner, name, getattr(owner, name))  # restored after the test
    probe.install()
    run = Run(cfgmod.load(world.config))
    kwargs = engine_kwargs(run.cfg, run)
    assert probe.bypasses == [], probe.bypasses
    rank = json.loads((world.adapter / "adapter_config.json").read_bytes())["r"]
    assert kwargs["enable_lora"] and kwargs["max_lora_rank"] == max(8, rank)
    assert kwargs["model"] == run.cfg.model.base and kwargs["trust_remote_code"] is False
    assert run.files.reads == {str(world.adapter / "adapter_config.json"): 1}


def test_the_vllm_engine_names_an_unusable_adapter_config(world, tmp_path):
    from sftcheck.fixtures.broken.run_config import variant_config

    from sftcheck.backends.vllm_engine import engine_kwargs

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{oops")
    cfg = cfgmod.load(variant_config(world, tmp_path, model={"adapter": str(adapter)}))
    with pytest.raises(ValueError, match="adapter_config.json is not valid JSON"):
        engine_kwargs(cfg, Run(cfg))
