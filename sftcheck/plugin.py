"""The pytest plugin: options (one group), run-config loading, the ``sft_check`` fixture
that runs a check and records its result, and the hooks that hand results to the report.

Session fixtures for models, data and generations live in ``sftcheck.session_*`` modules
registered from here, so each area owns its own fixtures.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sftcheck import config as cfgmod
from sftcheck import environment
from sftcheck.checks.support.registry import (
    STAGE_DOCS,
    UnknownThreshold,
    load_all,
    thresholds_for,
)
from sftcheck.checks.support.result import CheckResult
from sftcheck.model_test_map import check_id_of, model_test_spec  # noqa: F401 - check_id_of: public
from sftcheck.session_state import RESULT_KEY, SESSION_KEY, SftSession, sft_session
from sftcheck.verdict import assert_result, setup_failure

# Hub offline, one thread: set before transformers / huggingface_hub / torch are imported
# (they read these once, at import).
environment.apply()



def area_plugins() -> tuple:
    """Each area's session fixtures and the report hooks, registered at configure (imported
    then, after the environment defaults above)."""
    from sftcheck import (
        gc_freeze,
        plot_worker,
        report_hooks,
        session_artifact,
        session_data,
        session_gates,
        session_inputs,
        session_model,
    )
    from sftcheck.nway import session as session_nway
    from sftcheck.suites import session as session_suites

    return (session_inputs, session_artifact, session_data, session_model, session_gates, session_suites,
            session_nway, report_hooks, gc_freeze, plot_worker)


def _checked(o: cfgmod.Override) -> Callable[[str], str]:
    """argparse ``type=`` for an override: the config's own fixed choices and bounds."""
    def parse(value: str) -> str:
        problem = cfgmod.value_problem(cfgmod.field_meta(o.section, o.key), value)
        if problem:
            raise argparse.ArgumentTypeError(f"Could not parse value: {value!r}: {problem}")
        return value
    return parse


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("sftcheck", "sftcheck: diagnose an SFT / LoRA run")
    g.addoption("--sft-config", metavar="PATH", default=None,
                help="Run config (TOML, or a pyproject.toml with [tool.sftcheck]). Default: %(default)r")
    g.addoption("--sft-world", action="store_true", default=False,
                help="Diagnose the built-in fixture world (built once, cached). Default: %(default)r")
    for o in cfgmod.OVERRIDES:
        if o.metavar is None:
            g.addoption(o.flag, action="store_true", default=False, help=f"{o.help} Default: %(default)r")
        else:
            g.addoption(o.flag, metavar=o.metavar, type=_checked(o), default=None,
                        help=f"{o.help} Default: %(default)r")
    g.addoption("--sft-fail-on", metavar="LEVEL", choices=("fail", "warn"), default="fail",
                help="Exit non-zero on this status or worse: 'fail' (FAIL / ERROR) or 'warn' (WARN "
                     "too; warned tests then fail, also in JUnit). Default: %(default)r")
    g.addoption("--sft-summary", metavar="PATH", default=None,
                help="Write a Markdown summary of the verdict here (e.g. $GITHUB_STEP_SUMMARY). "
                     "Default: %(default)r")
    g.addoption("--sft-redact-paths", action="store_true", default=False,
                help="Shorten paths in the report, JSON and summary: the config folder becomes "
                     "'<config>', the home folder '~'. Default: %(default)r")


def _override(opt: pytest.Config, cfg: cfgmod.Config) -> cfgmod.Config:
    """Apply the ``--sft-*`` overrides (``config.OVERRIDES``) to the loaded config."""
    for o in cfgmod.OVERRIDES:
        value = opt.getoption(o.dest)
        if not o.applies or value in (None, False):
            continue
        if o.is_path and Path(value).exists():
            value = str(Path(value).resolve())
        elif o.must_exist:
            raise pytest.UsageError(f"{o.flag} {value}: no such file or folder. Fix: pass an existing path.")
        cfg = cfg.with_overrides(o.section, **{o.key: value})
    return cfg


CONFIG_FLAGS = tuple(o.dest for o in cfgmod.OVERRIDES if o.describes_run)


def _session(cfg: cfgmod.Config) -> SftSession:
    """The session of a config: its ``Run`` (the run's files, read once) built here, once;
    the base defaults to the one the adapter records."""
    from sftcheck.check_inputs import session_config

    cfg, run = session_config(cfg)
    return SftSession(config=cfg, run=run)


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
            session = _session(_override(opt, cfgmod.Config(source="<command line>")))
        elif config_path is None:
            session = SftSession(config=None, problem=(
                "no run config: pass --sft-config PATH (a TOML file, see README 'Config reference'), "
                "add [tool.sftcheck] to your pyproject.toml, pass --sft-adapter / --sft-base / "
                "--sft-train to describe the run on the command line, or pass --sft-world to "
                "diagnose the built-in fixture world."))
        else:
            session = _session(_override(opt, cfgmod.load(config_path)))
    except cfgmod.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    session.json_path = opt.getoption("sft_json") or (session.config.report.json if session.config else None)
    return session


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in (*STAGE_DOCS.items(),
                         ("gpu", "needs a CUDA device"),
                         ("slow", "takes more than a few seconds on a CPU")):
        config.addinivalue_line("markers", f"{marker}: {text}")
    try:
        config.stash[SESSION_KEY] = build_session(config)
    except pytest.UsageError as exc:
        from sftcheck.report_stale import mark_not_run
        mark_not_run(config.getoption("htmlpath", None), config.getoption("sft_json", None), str(exc))
        raise
    from sftcheck.checks.support import bounded
    session = config.stash[SESSION_KEY]
    bounded.configure(session.config.limits if session.config else bounded.Limits())
    for module in area_plugins():
        if not config.pluginmanager.is_registered(module):
            config.pluginmanager.register(module, module.__name__)


SCORING_STAGES = ("behaviour", "gate", "gap")  # the stages whose checks read scorer results


def pytest_collection_finish(session: pytest.Session) -> None:
    """A run that will score with an MCP server starts the server now, in the background, so
    its start overlaps the model load instead of following the first generation pass."""
    cfg = sft_session(session.config).config
    if cfg is None or not cfg.scoring.mcp:
        return
    if not any((spec := model_test_spec(item)) is not None and spec.stage in SCORING_STAGES
               and not cfg.skipped(spec.id) for item in session.items):
        return
    from sftcheck.scorers import spec as scorer_spec

    scorer_spec.build(cfg).start()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Ask the MCP scorer's server session to end when the run opened one (one per run, shared
    by every scoring pass: ``sftcheck.scorers.spec.build``); the server shuts down while the
    reports are written and ``pytest_unconfigure`` waits for it."""
    spec = sys.modules.get("sftcheck.scorers.spec")
    if spec is not None:
        spec.stop_all()


def pytest_unconfigure(config: pytest.Config) -> None:
    spec = sys.modules.get("sftcheck.scorers.spec")
    if spec is not None:
        spec.close_all()


@pytest.hookimpl(tryfirst=True)  # before -m selects: the stage marker comes from the check's spec
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each model test gets its check's stage marker; ``[gates] skip`` skips a check before its
    fixtures run, so a skipped check whose inputs cannot be built (an unloadable model, a
    broken file) is skipped, not an error."""
    cfg = sft_session(config).config
    for item in items:
        spec = model_test_spec(item)
        if spec is None:
            continue
        item.add_marker(spec.stage)
        if cfg is not None and cfg.skipped(spec.id):
            item.add_marker(pytest.mark.skip(reason=f"{spec.id} skipped by [gates] skip in {cfg.source}"))
    in_stage_order(items)


def in_stage_order(items: list[pytest.Item]) -> None:
    """The model tests run stage by stage, in report order (pretrain first: with ``-x`` a broken
    data file stops the run before any model loads; the training log's plot is drawn while the
    model loads).  Within a stage, and for any other test, the collected order is kept."""
    from sftcheck.checks.support.registry import STAGES

    slots = [(i, spec.stage) for i, item in enumerate(items) if (spec := model_test_spec(item)) is not None]
    ordered = sorted(slots, key=lambda slot: STAGES.index(slot[1]) if slot[1] in STAGES else len(STAGES))
    moved = [items[i] for i, _ in ordered]
    for (i, _), item in zip(slots, moved, strict=True):
        items[i] = item


@pytest.fixture(scope="session")
def sft_config(pytestconfig: pytest.Config) -> cfgmod.Config:
    """The validated run config (CLI overrides applied)."""
    session = sft_session(pytestconfig)
    if session.config is None:
        setup_failure(f"sftcheck: {session.problem}")
    return session.config


@pytest.fixture(scope="session")
def sft_tokenizer_or_error(sft_sources):
    """The tokenizer training and inference share, loaded once — or the ``LoadError`` that
    says why it cannot be (artifact checks report that as a finding instead of erroring)."""
    return sft_sources.tokenizer_or_error


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
    ``scope="gsm8k"`` (one suite) also honours ``suite.gsm8k.<metric>`` in ``[gates]``.
    """
    def run(check_fn: Callable[..., CheckResult], *args: Any, scope: str | None = None,
            **kwargs: Any) -> CheckResult:
        __tracebackhide__ = True
        spec = check_fn.spec
        if sft_config.skipped(spec.id, scope):
            pytest.skip(f"{spec.id} skipped by [gates] skip in {sft_config.source}")
        try:
            overrides = thresholds_for(spec.id, sft_config.thresholds(spec.id, scope))
        except UnknownThreshold as exc:
            setup_failure(f"{sft_config.source}: {exc}")
        result = check_fn(*args, **{**kwargs, **overrides})
        record(request.node, result)
        assert_result(result, fail_on_warn=request.config.getoption("sft_fail_on") == "warn")
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
        report.sftcheck_result = result  # (its plots may still be drawing: plot_worker)
    return report
