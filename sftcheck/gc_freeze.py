"""Keep the cyclic garbage collector off what a run keeps to its end (a pytest plugin).

torch, transformers, peft, scipy and matplotlib leave ~0.5 M objects tracked by the cyclic
garbage collector; every full collection walks all of them (0.3-0.9 s each on the bench
machine).  A ``sftcheck demo`` triggered ~9 of them while it ran and pytest adds 5 at exit
(``unraisableexception`` collects "harder"): about a fifth of the run's CPU time, measured
with ``gc.callbacks`` (bench/README.md).  ``gc.freeze()`` moves every object alive at that
point into the permanent generation, which collections skip; reference counting still frees
everything as usual, only reference cycles among frozen objects wait.

Frozen: after collection (pytest, sftcheck, the test modules), after the tokenizer and the
model are loaded (``loading_quietly``: no cyclic collection while transformers, torch and
peft are imported, ~4 full ones otherwise; their modules and the weights live for the whole
session) and when the session finishes (so pytest's exit collections walk only what is left).  The objects are
unfrozen again at pytest's last cleanup, after its own collections, so a process that goes
on (pytest run in-process, e.g. by ``pytester``) frees any frozen cycle later; the
``sftcheck`` console script, whose process ends with the run, skips that (``ProcessEnds``).
"""
from __future__ import annotations

import contextlib
import gc

import pytest


class ProcessEnds:
    """Registered by the console script: the process exits right after the run."""


def freeze() -> None:
    from sftcheck.checks.support import stats  # numpy: not at plugin import

    gc.freeze()
    stats.run_keeps_frozen(True)


def thaw() -> None:
    """Hand the frozen objects back to the collector (pytest's last cleanup)."""
    from sftcheck.checks.support import stats

    stats.run_keeps_frozen(False)
    gc.unfreeze()


@contextlib.contextmanager
def loading_quietly():
    """No cyclic collection inside (heavy imports, model loading: little garbage, many
    long-lived objects), then everything alive is frozen."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        freeze()
        if enabled:
            gc.enable()


def _process_ends(config: pytest.Config) -> bool:
    return any(isinstance(p, ProcessEnds) for p in config.pluginmanager.get_plugins())


def pytest_configure(config: pytest.Config) -> None:
    # Registered before pytest's unraisable-exception cleanup, so it runs after it (LIFO).
    if not _process_ends(config):
        config.add_cleanup(thaw)


def pytest_collection_finish(session: pytest.Session) -> None:
    freeze()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    freeze()
