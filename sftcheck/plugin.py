"""The pytest plugin: options (one group), run-config loading, the ``sft_check`` fixture
that runs a check and records its result, and the hooks that hand results to the report.

Session fixtures for models, data and generations live in ``sftcheck.session_*`` modules
registered from here, so each area owns its own fixtures.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from sftcheck import config as cfgmod
from sftcheck.checks.support.registry import (
    STAGE_DOCS,
    CheckSpec,
    UnknownThreshold,
    load_all,
    spec_for,
    thresholds_for,
)
from sftcheck.checks.support.result import CheckResult
from sftcheck.verdict import assert_result, setup_failure

# sftcheck makes no network calls: hub ids resolve from the local cache only.  Set before
# transformers / huggingface_hub are imported (they read these once, at import).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SESSION_KEY: pytest.StashKey["SftSession"] = pytest.StashKey()
RESULT_KEY: pytest.StashKey[CheckResult] = pytest.StashKey()

# Area plugins: each area's session fixtures (and the report hooks), registered at configure.
AREA_PLUGINS = (
    "sftcheck.session_artifact",
    "sftcheck.session_data",
    "sftcheck.session_model",
    "sftcheck.session_gates",
    "sftcheck.report_hooks",
)


def _device(value: str) -> str:
    if value == "auto" or value == "cpu" or value.startswith("cuda") or value == "mps":
        return value
    raise argparse.ArgumentTypeError(f"Could not parse value: {value!r} (auto, cpu, cuda, cuda:N, mps)")


def _dtype(value: str) -> str:
    if value in ("auto", "float32", "bfloat16", "float16"):
        return value
    raise argparse.ArgumentTypeError(f"Could not parse value: {value!r} (auto, float32, bfloat16, float16)")


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("sftcheck", "sftcheck: diagnose an SFT / LoRA run")
    g.addoption("--sft-config", metavar="PATH", default=None,
                help="Run config (TOML, or a pyproject.toml with [tool.sftcheck]). Default: %(default)r")
    g.addoption("--sft-world", action="store_true", default=False,
                help="Diagnose the built-in fixture world (built once, cached). Default: %(default)r")
    g.addoption("--sft-base", metavar="PATH_OR_ID", default=None,
                help="Override [model] base. Default: %(default)r")
    g.addoption("--sft-adapter", metavar="PATH", default=None,
                help="Override [model] adapter. Default: %(default)r")
    g.addoption("--sft-tokenizer", metavar="PATH_OR_ID", default=None,
                help="Override [model] tokenizer. Default: %(default)r")
    g.addoption("--sft-device", metavar="DEVICE", type=_device, default=None,
                help="Override [model] device (auto, cpu, cuda, cuda:N). Default: %(default)r")
    g.addoption("--sft-dtype", metavar="DTYPE", type=_dtype, default=None,
                help="Override [model] dtype (auto, float32, bfloat16, float16). Default: %(default)r")
    g.addoption("--sft-train", metavar="PATH", default=None,
                help="Override [data] train. Default: %(default)r")
    g.addoption("--sft-eval", metavar="PATH", default=None,
                help="Override [data] eval. Default: %(default)r")
    g.addoption("--sft-json", metavar="PATH", default=None,
                help="Write the machine-readable verdict here (overrides [report] json). Default: %(default)r")
    g.addoption("--sft-allow-pickle", action="store_true", default=False,
                help="Allow .bin (pickle) weights, read with weights_only=True. Default: %(default)r")


@dataclass
class SftSession:
    """Everything the plugin reads from the command line, once (see ``pytest_configure``)."""
    config: cfgmod.Config | None
    problem: str | None = None          # why there is no config, shown if a test needs one
    results: list[tuple[str, CheckResult]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    json_path: str | None = None


def _override(opt: pytest.Config, cfg: cfgmod.Config) -> cfgmod.Config:
    def path(v: str | None) -> str | None:
        return str(Path(v).resolve()) if v and Path(v).exists() else v

    for flag, section, key in (("sft_base", "model", "base"), ("sft_adapter", "model", "adapter"),
                               ("sft_tokenizer", "model", "tokenizer"), ("sft_train", "data", "train"),
                               ("sft_eval", "data", "eval")):
        value = opt.getoption(flag)
        if value is not None:
            if section == "data" or key == "adapter":
                if not Path(value).exists():
                    raise pytest.UsageError(f"--{flag.replace('_', '-')} {value}: no such file or folder. "
                                            "Fix: pass an existing path.")
            cfg = cfg.with_overrides(section, **{key: path(value)})
    cfg = cfg.with_overrides("model", device=opt.getoption("sft_device"), dtype=opt.getoption("sft_dtype"))
    if opt.getoption("sft_allow_pickle"):
        cfg = cfg.with_overrides("model", allow_pickle=True)
    return cfg


CONFIG_FLAGS = ("sft_base", "sft_adapter", "sft_tokenizer", "sft_train", "sft_eval")


def build_session(opt: pytest.Config) -> SftSession:
    config_path = opt.getoption("sft_config")
    if config_path and opt.getoption("sft_world"):
        raise pytest.UsageError("Can't have both --sft-config and --sft-world.")
    load_all()
    try:
        if opt.getoption("sft_world"):
            from sftcheck.fixtures.world import build_world
            config_path = str(build_world().config)
        elif not config_path:
            found = cfgmod.find_pyproject(Path(opt.rootpath))
            config_path = str(found) if found else None
        if config_path is None and any(opt.getoption(f) for f in CONFIG_FLAGS):
            # No file: the run is described by --sft-* flags alone (defaults elsewhere).
            session = SftSession(config=cfgmod.infer_base(_override(opt, cfgmod.Config(source="<command line>"))))
        elif config_path is None:
            session = SftSession(config=None, problem=(
                "no run config: pass --sft-config PATH (a TOML file, see README 'Config reference'), "
                "add [tool.sftcheck] to your pyproject.toml, pass --sft-adapter / --sft-base / "
                "--sft-train to describe the run on the command line, or pass --sft-world to "
                "diagnose the built-in fixture world."))
        else:
            session = SftSession(config=cfgmod.infer_base(_override(opt, cfgmod.load(config_path))))
    except cfgmod.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    session.json_path = opt.getoption("sft_json") or (session.config.report.json if session.config else None)
    return session


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in (*STAGE_DOCS.items(),
                         ("gpu", "needs a CUDA device"),
                         ("slow", "takes more than a few seconds on a CPU")):
        config.addinivalue_line("markers", f"{marker}: {text}")
    config.stash[SESSION_KEY] = build_session(config)
    import importlib
    for name in AREA_PLUGINS:
        module = importlib.import_module(name)
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, name)


def model_test_spec(item: pytest.Item) -> CheckSpec | None:
    """The check a model test runs: ``model_tests/test_<area>.py::test_<name>`` runs
    ``sftcheck.checks.<area>.<name>`` (None for any other test)."""
    path = Path(str(getattr(item, "path", "")))
    func = getattr(item, "originalname", item.name)
    if path.parent.name != "model_tests" or not path.stem.startswith("test_") or not func.startswith("test_"):
        return None
    load_all()
    return spec_for(path.stem.removeprefix("test_"), func.removeprefix("test_"))


@pytest.hookimpl(tryfirst=True)  # before -m selects: the stage marker comes from the check's spec
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        spec = model_test_spec(item)
        if spec is not None:
            item.add_marker(spec.stage)


def sft_session(config: pytest.Config) -> SftSession:
    return config.stash[SESSION_KEY]


@pytest.fixture(scope="session")
def sft_config(pytestconfig: pytest.Config) -> cfgmod.Config:
    """The validated run config (CLI overrides applied)."""
    session = sft_session(pytestconfig)
    if session.config is None:
        setup_failure(f"sftcheck: {session.problem}")
    return session.config


@pytest.fixture(scope="session")
def sft_tokenizer_or_error(sft_config: cfgmod.Config):
    """The tokenizer training and inference share, loaded once — or the ``LoadError`` that
    says why it cannot be (artifact checks report that as a finding instead of erroring)."""
    from sftcheck.loading import LoadError, load_tokenizer

    try:
        return load_tokenizer(sft_config)
    except LoadError as exc:
        return exc


@pytest.fixture(scope="session")
def sft_tokenizer(sft_tokenizer_or_error):
    """The tokenizer training and inference share (loaded once)."""
    from sftcheck.loading import LoadError

    if isinstance(sft_tokenizer_or_error, LoadError):
        setup_failure(f"sftcheck: {sft_tokenizer_or_error}")
    return sft_tokenizer_or_error


@pytest.fixture
def sft_check(request: pytest.FixtureRequest, sft_config: cfgmod.Config) -> Callable[..., CheckResult]:
    """Run one check with the config's thresholds, record the result, assert on it.

    ``sft_check(artifact.lora_b_nonzero, adapter)`` — skipped if the config skips
    the id; thresholds from ``[gates."<id>"]``; the pytest outcome is the check's verdict.
    """
    def run(check_fn: Callable[..., CheckResult], *args: Any, **kwargs: Any) -> CheckResult:
        __tracebackhide__ = True
        spec = check_fn.spec
        if sft_config.skipped(spec.id):
            pytest.skip(f"{spec.id} skipped by [gates] skip in {sft_config.source}")
        try:
            overrides = thresholds_for(spec.id, sft_config.thresholds(spec.id))
        except UnknownThreshold as exc:
            setup_failure(f"{sft_config.source}: {exc}")
        result = check_fn(*args, **{**kwargs, **overrides})
        record(request.node, result)
        assert_result(result)
        return result

    return run


def record(item: pytest.Item, result: CheckResult) -> None:
    """Attach a result to the running test (the report hooks read it from here)."""
    item.stash[RESULT_KEY] = result
    sft_session(item.config).results.append((item.nodeid, result))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    result = item.stash.get(RESULT_KEY, None)
    if result is not None and report.when == "call":
        report.sftcheck = result.to_dict()
        report.sftcheck_result = result
    return report
