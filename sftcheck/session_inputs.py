"""Session fixtures of the check inputs (``sftcheck.check_inputs``): the shared ``Sources``,
one input bundle per area, built once per session, and ``sft_inputs``, the keyword
arguments of the check a model test runs.

``sft_inputs`` is function-scoped so that an input that cannot be built fails (or skips)
that test's setup with its diagnosis, and only the tests whose check needs it.
"""
from __future__ import annotations

from typing import Any

import pytest

from sftcheck.check_inputs import InputUnavailable, Sources, input_names
from sftcheck.config import Config
from sftcheck.model_test_map import check_fn_of, model_test_spec
from sftcheck.verdict import setup_failure


def got(bundle: Any, name: str) -> Any:
    """``bundle.<name>``, with an input that cannot be built as a setup failure / skip."""
    __tracebackhide__ = True
    try:
        return getattr(bundle, name)
    except InputUnavailable as exc:
        if exc.skip:
            pytest.skip(str(exc))
        setup_failure(str(exc))


def perf_runs(session: pytest.Session) -> bool:
    """Whether a ``perf`` check runs in this session (selected, not skipped): then a server's
    answers are streamed, so the one pass also gives each request's time to first token."""
    return any(item.get_closest_marker("perf") and not item.get_closest_marker("skip") for item in session.items)


class Bundles:
    """One input bundle per bundle class, built on first use from the session's ``Sources``."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def for_area(self, area: str) -> Any:
        return self.sources.bundle(area)


@pytest.fixture(scope="session")
def sft_sources(request: pytest.FixtureRequest, sft_config: Config, sft_run) -> Sources:
    """Config, Run, tokenizer, hooks, stop set and model: what every area's inputs are built
    from (generation passes are listed in the session's report)."""
    from sftcheck.session_state import sft_session

    return Sources(sft_config, sft_run, generation_log=sft_session(request.config).generation_passes,
                   stream=perf_runs(request.session))


@pytest.fixture(scope="session")
def sft_bundles(sft_sources: Sources) -> Bundles:
    return Bundles(sft_sources)


@pytest.fixture(scope="session")
def sft_artifact_inputs(sft_bundles: Bundles):
    """``sftcheck.inputs_artifact.ArtifactInputs`` of this session."""
    return sft_bundles.for_area("artifact")


@pytest.fixture(scope="session")
def sft_pretrain_inputs(sft_bundles: Bundles):
    """``sftcheck.inputs_pretrain.PretrainInputs`` of this session."""
    return sft_bundles.for_area("data")


@pytest.fixture(scope="session")
def sft_behaviour_inputs(sft_bundles: Bundles):
    """``sftcheck.inputs_behaviour.BehaviourInputs`` of this session."""
    return sft_bundles.for_area("behaviour")


@pytest.fixture
def sft_inputs(request: pytest.FixtureRequest, sft_bundles: Bundles) -> dict[str, Any]:
    """The keyword arguments of the check this model test runs
    (``model_tests/test_<area>.py::test_<name>`` runs ``sftcheck.checks.<area>.<name>``),
    each by parameter name from the area's bundle."""
    spec = model_test_spec(request.node)
    if spec is None:
        raise pytest.UsageError(f"sft_inputs is for model tests (model_tests/test_<area>.py::test_<check>), "
                                f"not {request.node.nodeid}")
    fn = check_fn_of(spec)
    bundle = sft_bundles.for_area(spec.area)
    return {name: got(bundle, name) for name in input_names(fn)}
