"""Session fixtures for ``[[suites]]`` and the per-suite parametrisation of the suite tests.

``sft_suite_runs``   ``{name: SuiteRun}``: every configured suite, base and tuned, run once per
                     session (when first asked for) by the session's engine (``sft_passes``); multiple-choice suites
                     also score choices by log-likelihood on the one loaded model (``sft_model``)
``sft_suite_run``    the ``SuiteRun`` of the test's suite (``test_accuracy[gsm8k]``)
``sft_suite_all``    every suite's ``SuiteRun`` in config order ([] without suites: no model load)
``sft_suite_name``   parametrised from the config's ``[[suites]]`` names at collection
``sft_conversation_run``  the ``SuiteRun`` of a ``kind = "conversation"`` suite (without one the
                     conversation tests skip saying how to add one), parametrised by
                     ``sft_conversation_name``
"""
from __future__ import annotations

import contextlib

import pytest

from sftcheck.config import Config
from sftcheck.session_state import sft_session
from sftcheck.verdict import setup_failure


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sft_conversation_name" in metafunc.fixturenames:
        cfg = sft_session(metafunc.config).config
        names = [s.name for s in cfg.suites if s.kind == "conversation"] if cfg is not None else []
        metafunc.parametrize("sft_conversation_name", names or [None], ids=names or ["no-conversations"],
                             scope="session")
    if "sft_suite_name" not in metafunc.fixturenames:
        return
    from sftcheck.checks.suite import KINDS_OF

    cfg = sft_session(metafunc.config).config
    kinds = KINDS_OF.get(metafunc.function.__name__.removeprefix("test_"))
    names = [s.name for s in cfg.suites if kinds is None or s.kind in kinds] if cfg is not None else []
    if names or cfg is None or not cfg.suites:  # no suite at all: sft_suite_run skips, saying how to add one
        metafunc.parametrize("sft_suite_name", names or [None], ids=names or ["no-suites"], scope="session")
        return
    # Suites, but none of a kind this check scores: one SKIP (not an empty parameter set) naming them.
    reason = (f"no [[suites]] of kind {' / '.join(kinds or ())} in {cfg.source} (configured: "
              f"{', '.join(f'{s.name} ({s.kind})' for s in cfg.suites)}): this check scores those kinds only "
              "(README 'Evaluation suites')")
    metafunc.parametrize("sft_suite_name", [pytest.param(None, id="no-suites", marks=pytest.mark.skip(reason=reason))],
                         scope="session")


class SuiteRuns:
    """``{name: SuiteRun}``, each suite run the first time it is asked for (``-k safety`` runs
    one suite), then kept for the session."""

    def __init__(self, cfg: Config, run) -> None:
        self._specs = {s.name: s for s in cfg.suites}
        self._run = run
        self._done: dict = {}

    def __getitem__(self, name: str):
        if name not in self._done:
            self._done[name] = self._run(self._specs[name])
        return self._done[name]

    def values(self) -> list:
        return [self[name] for name in self._specs]


@pytest.fixture(scope="session")
def sft_suite_runs(sft_config: Config, sft_passes, sft_tokenizer, sft_hooks, request: pytest.FixtureRequest):
    from sftcheck.backends.openai_api import ServerError
    from sftcheck.loading import LoadError
    from sftcheck.suites.runner import run_suite

    def loaded():
        from sftcheck.passes import local_weights

        if sft_config.generation.backend != "transformers" and not local_weights(sft_config):
            return (f"generation ran on the {sft_config.generation.backend} backend and no local weights are "
                    "configured: set [model] base, + adapter, to score the choices here")
        return request.getfixturevalue("sft_model")

    models = conversation_models(sft_config, sft_passes, sft_tokenizer, sft_passes.log) \
        if any(s.kind == "conversation" for s in sft_config.suites) else None

    def run(spec):
        try:
            return run_suite(spec, sft_config, sft_passes, sft_tokenizer, sft_hooks, loaded, models)
        except (LoadError, ServerError) as exc:
            setup_failure(f"sftcheck: {exc}")
    return SuiteRuns(sft_config, run)


def conversation_models(cfg: Config, passes, tokenizer, log: list) -> list:
    """Every model of the run (``[models.*]`` and the ``[model]`` section's base / tuned) as
    ``(name, role, opener)`` for the conversation suites: the section's two run on the session's
    passes, each other model is loaded when its turn comes and freed after (``sftcheck.nway``)."""
    from sftcheck.nway.runner import Session, opened
    from sftcheck.nway.spec import implied_models
    from sftcheck.suites.conversation_runner import session_models

    session = Session(cfg, [], None, None, passes=lambda: passes, tokenizer=lambda: tokenizer,
                      prompts=list, scored=dict)
    @contextlib.contextmanager
    def logged(spec):
        with opened(spec, session) as (p, variant, tok):
            if not spec.implied:
                p.log = log  # the report lists this model's passes with the session's
            yield p, variant, tok

    models = [(m.name, m.role, lambda m=m: logged(m)) for m in implied_models(cfg)]
    return models or session_models(passes, tokenizer)


@pytest.fixture(scope="session")
def sft_suite_run(sft_suite_name, sft_config: Config, request: pytest.FixtureRequest):
    if sft_suite_name is None:  # (suites of other kinds only: skipped at collection, pytest_generate_tests)
        pytest.skip(f"no [[suites]] in {sft_config.source}: add [[suites]] blocks (name, data, kind) to "
                    "evaluate suites base vs tuned (README 'Evaluation suites')")
    return request.getfixturevalue("sft_suite_runs")[sft_suite_name]


@pytest.fixture(scope="session")
def sft_suite_all(sft_config: Config, request: pytest.FixtureRequest) -> list:
    if not sft_config.suites:
        return []
    return list(request.getfixturevalue("sft_suite_runs").values())


@pytest.fixture(scope="session")
def sft_conversation_run(sft_conversation_name, sft_config: Config, request: pytest.FixtureRequest):
    if sft_conversation_name is None:
        pytest.skip(f'no [[suites]] in {sft_config.source} with kind = "conversation": add one (name, data: a JSONL '
                    "of conversations) to evaluate multi-turn memory, constraints, preferences and topic per turn "
                    "(README 'Multi-turn conversations')")
    return request.getfixturevalue("sft_suite_runs")[sft_conversation_name]
