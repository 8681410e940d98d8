"""The whole broken zoo through the real model tests, and the healthy world through them.

For every broken variant that writes a run config (``fixtures/broken/{artifact,pretrain}``):
run the model tests of the stages that load no weights (pretrain, artifact, training)
against it, with the HTML and JSON verdicts on, and assert that

* pytest ends normally (exit 0/1; no INTERNALERROR, no usage error);
* no check ERRORed (a check that crashes on bad input is a bug: it must fail, naming the cause)
  and no report row carries a Python traceback;
* the verdict is not PASS (the variant is caught);
* the checkpoint / data folder is byte-identical afterwards (sftcheck never writes there).

The healthy world must pass every artifact and pretrain check (no check of these stages may
fail; a training-log warning is allowed), and stay byte-identical too.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAGES = "pretrain or artifact or training"
ZOO_MODULES = ("sftcheck.fixtures.broken.artifact", "sftcheck.fixtures.broken.pretrain")

pytestmark = pytest.mark.slow


def _variants():
    out = []
    for modname in ZOO_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError:
            continue
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ != modname or name.startswith("_"):
                continue
            if list(inspect.signature(fn).parameters) == ["world", "dest"]:
                out.append(pytest.param(fn, id=f"{modname.rsplit('.', 1)[1]}.{name}"))
    return out


def tree_hash(root: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file under ``root`` (relative path -> digest)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not (skip and skip in p.parents):
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_model_tests(pytester: pytest.Pytester, *args: str):
    out = pytester.path / "out"
    result = pytester.runpytest(
        "-p", "sftcheck.plugin", "-p", "no:cacheprovider", str(REPO / "model_tests"), "-m", STAGES,
        "--html", str(out / "report.html"), "--self-contained-html", "--sft-json", str(out / "v.json"), *args)
    page = (out / "report.html").read_text(encoding="utf-8")
    verdict = json.loads((out / "v.json").read_text())
    return result, page, verdict


def assert_clean(result: pytest.RunResult, page: str, verdict: dict) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output, output[-3000:]
    assert result.ret in (0, 1), output[-3000:]
    errors = [(c["id"], c["explanation"]) for c in verdict["checks"] if c["status"] == "error"]
    assert not errors, f"checks crashed instead of failing with a cause: {errors}"
    assert "Traceback (most recent call last)" not in page, page.split("Traceback (most recent", 1)[1][:2000]


@pytest.mark.parametrize("variant", _variants())
def test_broken_variant_is_caught_cleanly(pytester, world, variant):
    dest = pytester.path / "variant"
    dest.mkdir()
    variant(world, dest)
    configs = sorted(dest.glob("*.toml"))
    if not configs:
        pytest.skip(f"{variant.__name__} writes no run config")
    before = tree_hash(dest)
    result, page, verdict = run_model_tests(pytester, "--sft-config", str(configs[0]))
    assert_clean(result, page, verdict)
    assert verdict["verdict"] in ("fail", "warn"), (
        f"{variant.__name__}: nothing caught it; ran {[c['id'] for c in verdict['checks']]}")
    assert tree_hash(dest) == before, "sftcheck wrote into the checkpoint or data folder"


def test_healthy_world_passes_and_stays_byte_identical(pytester, world):
    before = tree_hash(world.root)
    result, page, verdict = run_model_tests(pytester, "--sft-world")
    assert_clean(result, page, verdict)
    bad = [(c["id"], c["status"], c["explanation"]) for c in verdict["checks"]
           if c["status"] in ("fail", "error") or (c["stage"] in ("artifact", "pretrain") and c["status"] != "pass")]
    assert result.ret == 0 and not bad, bad
    stages = {c["stage"] for c in verdict["checks"]}
    assert {"artifact", "pretrain"} <= stages
    assert verdict["provenance"]["adapter weights sha256"] == hashlib.sha256(
        (world.adapter / "adapter_model.safetensors").read_bytes()).hexdigest()
    assert tree_hash(world.root) == before, "sftcheck wrote into the fixture world"
