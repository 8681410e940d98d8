"""Self-test fixtures: the healthy fixture world, built once per machine and cached."""
from __future__ import annotations

# C extensions must be imported before any pytester test: pytester restores sys.modules
# after each test, and numpy / torch cannot be unloaded and imported again in one process.
import numpy  # noqa: F401
import pytest
import torch  # noqa: F401
from sftcheck.fixtures.world import World, build_world
from sftcheck.fixtures.world_chat import build_world_chat

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _model_code_outlives_pytester(request: pytest.FixtureRequest) -> None:
    """An in-process pytester run removes every module it imported when the test ends; a later
    run importing transformers' lazily loaded model classes again once failed ("Could not
    import module 'Qwen2ForCausalLM'").  Imported here first (autouse: before ``pytester``
    takes its snapshot), they stay for the whole session."""
    if "pytester" in request.fixturenames:
        import peft  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401
        from transformers.models.llama import modeling_llama  # noqa: F401
        from transformers.models.qwen2 import modeling_qwen2  # noqa: F401


@pytest.fixture(scope="session")
def world() -> World:
    """The healthy world (tokenizer, base, adapter, data, run config). Read-only: derive
    broken variants into ``tmp_path`` with ``sftcheck.fixtures.broken``."""
    return build_world()


@pytest.fixture(scope="session")
def world2() -> World:
    """Fixture world 2 (tiny Llama, Llama-3 chat template, GSM8K-style rows, row-style hooks),
    built once like world 1. Read-only."""
    return build_world_chat()


@pytest.fixture(scope="session")
def gap_world(world: World) -> World:
    """The gap sub-world next to world 1 (a reference: world 1's adapter merged; an alternative
    base; gap.toml / nway.toml), built once per world 1 version. Read-only."""
    from sftcheck.fixtures.world_gap import build_gap_world

    return build_gap_world(world)
