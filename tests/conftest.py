"""Self-test fixtures: the healthy fixture world, built once per machine and cached."""
from __future__ import annotations

import pytest

from fixtures.world import World, build_world

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def world() -> World:
    """The healthy world (tokenizer, base, adapter, data, run config). Read-only: derive
    broken variants into ``tmp_path`` with ``fixtures.broken``."""
    return build_world()
