"""sftcheck.gc_freeze: a session's long-lived objects are kept out of the cyclic garbage
collector while it runs, and handed back at pytest's last cleanup unless the process ends
with the run (the console script)."""
from __future__ import annotations

import gc

import pytest

from sftcheck.gc_freeze import ProcessEnds, loading_quietly

INNER = """
import gc

def test_frozen_while_running():
    assert gc.get_freeze_count() > 0   # frozen after collection
"""


def test_frozen_during_the_run_and_handed_back_after(pytester):
    gc.unfreeze()
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "sftcheck.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert gc.get_freeze_count() == 0  # a process that goes on frees frozen cycles later
    from sftcheck.checks.support import stats

    assert not stats._RUN_KEEPS_FROZEN  # holm asks again: nothing the run froze is left


def test_console_script_process_keeps_them_frozen(pytester):
    gc.unfreeze()
    pytester.makepyfile(test_inner=INNER)
    try:
        code = pytest.main([str(pytester.path), "-p", "sftcheck.plugin", "-p", "no:cacheprovider", "-q"],
                           plugins=[ProcessEnds()])
        assert code == 0
        assert gc.get_freeze_count() > 0  # no exit collection over torch & co.: the process ends now
    finally:
        gc.unfreeze()


def test_loading_quietly_collects_nothing_inside_and_freezes_after():
    gc.unfreeze()
    seen: list[int] = []
    callback = lambda phase, info: seen.append(info["generation"]) if phase == "start" else None
    gc.callbacks.append(callback)
    try:
        with loading_quietly():
            for _ in range(20000):
                a: list = []
                a.append(a)  # cyclic garbage: would trigger collections
            assert not seen and not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()
