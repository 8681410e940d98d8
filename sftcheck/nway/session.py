"""Session fixtures for N models (``[models.<name>]`` + the ``[model]`` section's base / tuned).

``sft_models``       ``tuple[ModelSpec, ...]``: the run's models with their roles
                     (``sftcheck.nway.spec.implied_models``)
``sft_model_runs``   ``ModelRuns``: every model on every eval set, one model loaded at a time
                     (``sftcheck.nway.runner.run_models``); the ``[model]`` section's base and tuned
                     model reuse the session's passes and scores
"""
from __future__ import annotations

import pytest

from sftcheck.config import Config


def _session_scores(request: pytest.FixtureRequest, cfg: Config):
    """``sft_scored`` when the session has a tuned model (its base / tuned passes are made anyway);
    without one, None: the base is scored on its own pass (no extra "tuned" pass of the same weights)."""
    from sftcheck.session_model import missing_tuned_model

    if missing_tuned_model(cfg) is not None:
        return lambda: None
    return lambda: request.getfixturevalue("sft_scored")


@pytest.fixture(scope="session")
def sft_models(sft_config: Config) -> tuple:
    from sftcheck.nway.spec import implied_models

    return implied_models(sft_config)


@pytest.fixture(scope="session")
def sft_model_runs(request: pytest.FixtureRequest, sft_config: Config, sft_models, sft_generation_settings):
    """Every configured model on every eval set (``ModelRuns``); with fewer than two models
    nothing is loaded and the runs are empty (the checks skip and say why)."""
    from sftcheck.checks.support.nway import ModelInfo, ModelRuns
    from sftcheck.nway.runner import Session, run_models
    from sftcheck.session_state import sft_session

    if len(sft_models) < 2:
        return ModelRuns(tuple(ModelInfo(m.name, m.role, m.describe()) for m in sft_models))
    get = request.getfixturevalue
    session = Session(sft_config, get("sft_eval_rows"), get("sft_hooks"), sft_generation_settings,
                      passes=lambda: get("sft_passes"), tokenizer=lambda: get("sft_tokenizer"),
                      prompts=lambda: get("sft_prompts"), scored=_session_scores(request, sft_config))
    return run_models(sft_models, session, log=sft_session(request.config).generation_passes)


@pytest.fixture(scope="session")
def sft_gap_thresholds(sft_config: Config) -> dict:
    """``{gap check id: its [gates] overrides}`` for ``gap.verdict``, which weighs every gap check
    as configured (None: the check is skipped by ``[gates] skip``)."""
    from sftcheck.checks.gap import COMPONENTS
    from sftcheck.checks.support.registry import thresholds_for

    return {cid: None if sft_config.skipped(cid) else thresholds_for(cid, sft_config.thresholds(cid))
            for cid in COMPONENTS}


@pytest.fixture(scope="session")
def sft_length_flips(request: pytest.FixtureRequest, sft_config: Config, sft_model_runs) -> list:
    """``[LengthFlips]``: every model's outputs on every eval set rescored cut after their answer
    and padded (``sftcheck.nway.rescore``); [] when no model ran."""
    from sftcheck.nway.rescore import length_flips
    from sftcheck.nway.runner import Session

    if not sft_model_runs.runs:
        return []
    get = request.getfixturevalue
    session = Session(sft_config, get("sft_eval_rows"), get("sft_hooks"), get("sft_generation_settings"),
                      passes=lambda: get("sft_passes"), tokenizer=lambda: get("sft_tokenizer"),
                      prompts=lambda: get("sft_prompts"), scored=_session_scores(request, sft_config))
    return length_flips(sft_model_runs, session)
