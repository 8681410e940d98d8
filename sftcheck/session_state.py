"""The session's shared state: what the plugin read from the command line once, the
results recorded so far, and the stash keys that carry them.  Both ``sftcheck.plugin``
(which fills it) and ``sftcheck.report_hooks`` (which reads it) import it from here, so
neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from sftcheck import config as cfgmod
from sftcheck.checks.support.result import CheckResult


@dataclass
class SftSession:
    """Everything the plugin reads from the command line, once (see ``pytest_configure``)."""
    config: cfgmod.Config | None
    problem: str | None = None          # why there is no config, shown if a test needs one
    results: list[tuple[str, CheckResult]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    json_path: str | None = None
    generation_passes: list[dict[str, Any]] = field(default_factory=list)  # sftcheck.passes.Passes.log
    run: Any = None                     # sftcheck.run_files.Run: the run's files, read once


SESSION_KEY: pytest.StashKey[SftSession] = pytest.StashKey()
RESULT_KEY: pytest.StashKey[CheckResult] = pytest.StashKey()


def sft_session(config: pytest.Config) -> SftSession:
    return config.stash[SESSION_KEY]
