"""The report's plots, drawn in a worker process while the run goes on (a pytest plugin).

Drawing a plot is matplotlib in pure Python: importing it and drawing the ~10 PNGs of a
``sftcheck demo`` took ~1.5 s of the main process, in which no check ran.  A diagnosis run
installs a ``PlotWorker`` as the plot renderer (``checks.support.plot_render``) and, when a
selected check may draw, starts one worker process at collection (``python -m
sftcheck.plot_server``: a fresh interpreter that imports matplotlib while the run loads its
model; nothing of torch or the model in it, the user's ``__main__`` not re-run).  Each plot
is sent there as JSON with its plain data and the run goes straight on to its next check;
the report reads each PNG when it writes the page, by which time they are drawn.

Anything the worker cannot do is drawn here instead, so a plot never goes missing: data that
is not plain JSON, a worker that could not start or died, a plot that took longer than
``TIMEOUT`` seconds (the worker is then given up on for the rest of the run).  One usable CPU
core, or ``SFTCHECK_PLOT_WORKER=0``, draws every plot in the main process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

TIMEOUT = 60.0  # seconds one plot may take in the worker before it is drawn here instead
ENV = "SFTCHECK_PLOT_WORKER"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def wanted() -> bool:
    """A worker only helps with a second core to draw on; ``SFTCHECK_PLOT_WORKER=0`` turns it
    off, ``=1`` on."""
    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("0", "false", "no", "off"):
        return False
    return setting in ("1", "true", "yes", "on") or usable_cores() >= 2


def _plain(value: Any) -> Any:
    """JSON for ``json.dumps(default=)``: numpy scalars and arrays as Python numbers / lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not plain data")


class Pending:
    """One plot sent to the worker; ``result()`` is its PNG (drawn here when the worker did not or
    was still busy with earlier plots)."""

    def __init__(self, worker: PlotWorker, req_id: int, fn: Callable[..., bytes], args: tuple, kwargs: dict):
        self._worker, self._id, self._call = worker, req_id, (fn, args, kwargs)
        self.failed: str | None = None  # why it was drawn here, when it was

    def result(self) -> bytes:
        png, self.failed = self._worker.wait(self._id)
        if png is not None:
            return png
        fn, args, kwargs = self._call
        return fn(*args, **kwargs)  # the plot's own error, if any, is raised here


class PlotWorker:
    """``renderer(fn, args, kwargs)`` for ``plot_render.install``: one worker process, started
    at the first plot, ended by ``close``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._done: dict[int, tuple[bytes | None, str | None]] = {}
        self._sent: set[int] = set()  # sent, not answered yet (the worker draws them in order)
        self._cond = threading.Condition()
        self._next = 0
        self.given_up: str | None = None  # why every plot is now drawn here

    def __call__(self, fn: Callable[..., bytes], args: tuple, kwargs: dict) -> Any:
        request = {"id": self._next, "fn": f"{fn.__module__}:{fn.__name__}", "args": args, "kwargs": kwargs}
        try:
            line = json.dumps(request, default=_plain, allow_nan=True).encode() + b"\n"
        except (TypeError, ValueError):
            return fn(*args, **kwargs)  # not plain data: drawn here
        proc = self._start()
        if proc is None:
            return fn(*args, **kwargs)
        req_id, self._next = self._next, self._next + 1
        with self._cond:
            self._sent.add(req_id)
        try:
            proc.stdin.write(line)
            proc.stdin.flush()
        except OSError as exc:  # the worker is gone
            self._give_up(f"the plot worker stopped ({exc})")
            return fn(*args, **kwargs)
        return Pending(self, req_id, fn, args, kwargs)

    def start(self) -> None:
        """Start the worker now (its imports overlap the run's model load), not at the first plot."""
        self._start()

    def _start(self) -> subprocess.Popen | None:
        if self.given_up is not None:
            return None
        if self._proc is None:
            try:
                self._proc = subprocess.Popen([sys.executable, "-m", "sftcheck.plot_server"], stdin=subprocess.PIPE,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            except OSError as exc:
                self._give_up(f"the plot worker could not start ({exc})")
                return None
            self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,),
                                            name="sftcheck-plots", daemon=True)
            self._reader.start()
        return self._proc

    def _read(self, out) -> None:
        """The worker's answers, as they come (a thread: the pipe never fills up)."""
        try:
            while True:
                head = out.readline()
                if not head:
                    break
                msg = json.loads(head)
                png = out.read(msg["bytes"]) if msg.get("ok") else None
                with self._cond:
                    self._done[msg["id"]] = (png, None if png is not None else msg.get("error", "no answer"))
                    self._sent.discard(msg["id"])
                    self._cond.notify_all()
        except (OSError, ValueError, KeyError) as exc:
            self._give_up(f"the plot worker's answer could not be read ({exc})")
            return
        self._give_up("the plot worker ended")

    def _give_up(self, why: str) -> None:
        with self._cond:
            if self.given_up is None:
                self.given_up = why
            self._cond.notify_all()

    def wait(self, req_id: int) -> tuple[bytes | None, str | None]:
        """(PNG, None) once drawn; (None, why) when the caller should draw it: the worker failed,
        or it is still busy with earlier plots (the report is being written and the run's own
        process has nothing else to do: both draw, from either end of the queue)."""
        with self._cond:
            if req_id not in self._done and self._sent and req_id != min(self._sent):
                return None, "drawn here: the worker was still drawing earlier plots"
            drawn = self._cond.wait_for(lambda: req_id in self._done or self.given_up is not None,
                                        timeout=TIMEOUT)
            if req_id in self._done:
                return self._done.pop(req_id)
            if not drawn:
                self.given_up = f"a plot took over {TIMEOUT:g} s in the worker"
            return None, self.given_up

    def close(self) -> None:
        proc, self._proc = self._proc, None
        self._give_up("the run ended")
        if proc is None:
            return
        try:
            proc.stdin.close()  # end of input
            proc.terminate()    # and no waiting for plots still queued: every PNG needed is read
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            proc.stdout.close()


_KEY = pytest.StashKey[tuple]()


def pytest_configure(config: pytest.Config) -> None:
    """A diagnosis run (a run config given) draws its plots in the worker; plain pytest
    sessions (the self-tests calling checks directly) draw them inline."""
    from sftcheck.session_state import sft_session

    if sft_session(config).config is None or not wanted():
        return
    from sftcheck.checks.support import plot_render

    worker = PlotWorker()
    config.stash[_KEY] = (worker, plot_render.install(worker))


NO_PLOTS = ("pretrain", "artifact")  # stages whose checks draw nothing


def pytest_collection_finish(session: pytest.Session) -> None:
    """When a selected check may draw, the worker starts now: its interpreter and matplotlib
    load while the run loads its model, and it is ready for the first plot."""
    held = session.config.stash.get(_KEY, None)
    if held is None:
        return
    from sftcheck.model_test_map import model_test_spec

    if any((spec := model_test_spec(item)) is not None and spec.stage not in NO_PLOTS for item in session.items):
        held[0].start()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """After the reports are written (every PNG read): the worker ends, the renderer before it
    is back (a pytest run inside a process that goes on)."""
    held = config.stash.get(_KEY, None)
    if held is None:
        return
    from sftcheck.checks.support import plot_render

    worker, previous = held
    plot_render.install(previous)
    worker.close()
