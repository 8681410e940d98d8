"""Bounded time for the user's code: hooks, answer regexes and chat-template rendering
(and the session's size limits for data rows, read by ``sftcheck.dataio``).

A hook that sleeps, an ``answer_pattern`` such as ``(a+)+$`` meeting a long answer, or a
chat template with nested ``range(100000)`` loops must end in a finding that names the
culprit, not in a run that never finishes.  Each such call runs under a wall-clock limit
(``[limits]`` in the run config): ``SIGALRM`` (``setitimer``) interrupts it in the main
thread — Python code, ``time.sleep`` and ``re`` matching all see the signal — and
``TimeLimitExceeded`` names the config key, the limit and the fix.  A culprit that timed
out once is not called again in this session (every further call fails at once), so one
hung hook costs one limit, not one limit per row.

Off the main thread (pytest driven from a worker thread, an IDE runner), or where
``setitimer`` does not exist (Windows), a signal cannot be used, so:

* hooks and template renderings run in a daemon worker thread the caller waits for with a
  deadline; past it the caller gets the same ``TimeLimitExceeded`` and the worker is sent
  an asynchronous ``_Abandoned`` exception (``PyThreadState_SetAsyncExc``), which stops it
  at its next Python bytecode;
* an ``answer_pattern`` is matched by the ``regex`` engine (installed with transformers)
  with its own ``timeout``: CPython's ``re`` holds the GIL for a whole match, so no thread
  could wait it out.  The pattern is compiled with the same flags (``re``-compatible
  ``VERSION0`` syntax); a pattern ``regex`` cannot compile runs in ``re``, unbounded.

What stays unbounded (measured by ``test_what_stays_unbounded_is_c_code_that_does_not_return_to_python``
in ``tests/test_hostile.py``): C code that does not return to the interpreter.  In the main
thread a signal handler runs only between bytecodes, so a C extension call that runs long
without checking signals (a long tokenizer, numpy or hashing call, a blocking read that
retries on EINTR) finishes before the limit is enforced, and only then ends named;
``time.sleep``, ``re`` and Jinja (pure Python) all see the signal.  Off the main thread the
caller is released at the deadline whenever the GIL is free (sleeps, I/O, Python code, C
calls that release it), but a worker stuck in C code that holds the GIL (e.g. ``re``
inside a hook) holds the caller too, until it returns; an abandoned worker blocked in a
GIL-releasing call (``time.sleep(3600)``) lingers, never called again, until that call
returns or the process exits.
"""
from __future__ import annotations

import contextvars
import ctypes
import functools
import queue
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    hook_seconds: float = 30.0
    regex_seconds: float = 2.0
    template_seconds: float = 10.0
    max_row_bytes: int = 1_000_000
    max_json_bytes: int = 200_000_000


LIMITS = Limits()
_HUNG: dict[str, str] = {}   # culprit -> first timeout message (this session)
GRACE_SECONDS = 2.0          # after the first interrupt, re-raise this often (code that swallows it)


def configure(limits: Any) -> None:
    """Set the session's limits from ``[limits]`` (any object with these attributes)."""
    global LIMITS
    LIMITS = Limits(**{k: type(getattr(Limits, k))(getattr(limits, k, getattr(Limits, k)))
                       for k in Limits.__dataclass_fields__})
    _HUNG.clear()


class TimeLimitExceeded(Exception):
    """The user's code (or regex, or template) ran past its limit; the message names it."""

    def __init__(self, culprit: str, seconds: float, fix: str, *, earlier: bool = False):
        self.culprit, self.seconds = culprit, seconds
        if earlier:
            msg = f"{culprit} was not run: it already ran past its {seconds:g} s limit in this session"
        else:
            msg = f"{culprit} ran past its {seconds:g} s limit and was stopped"
        super().__init__(f"{msg}. Fix: {fix}")


class _StillRunning(BaseException):
    """Raised when the culprit swallowed ``TimeLimitExceeded`` and kept going."""


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def time_limit(seconds: float, culprit: str, fix: str) -> Iterator[None]:
    """Run the block under a wall-clock limit; past it, raise ``TimeLimitExceeded``.
    Nests: an enclosing limit that ends sooner stays in charge."""
    if not seconds or seconds <= 0 or not _can_alarm():
        yield
        return
    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer_left and outer_left <= seconds:
        yield
        return
    fired = [0]

    def on_alarm(signum, frame):
        fired[0] += 1
        if fired[0] == 1:
            raise TimeLimitExceeded(culprit, seconds, fix)
        raise _StillRunning(f"{culprit} ignored its {seconds:g} s time limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds, GRACE_SECONDS)
    try:
        yield
    except _StillRunning as exc:
        raise TimeLimitExceeded(culprit, seconds, fix) from exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - start), 1e-3))


def call(fn: Callable[..., Any], *args: Any, seconds: float, culprit: str, fix: str, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` under ``seconds``; a culprit that timed out before is not run."""
    if culprit in _HUNG:
        raise TimeLimitExceeded(culprit, seconds, fix, earlier=True)
    try:
        if seconds and seconds > 0 and not _can_alarm():
            return _in_thread(fn, args, kwargs, seconds, culprit, fix)
        with time_limit(seconds, culprit, fix):
            return fn(*args, **kwargs)
    except TimeLimitExceeded as exc:
        _HUNG[culprit] = str(exc)
        raise


class _Abandoned(BaseException):
    """Raised asynchronously in a worker thread whose caller stopped waiting for it."""


class _Worker:
    """A daemon thread running one calling thread's bounded calls one at a time (one thread
    per caller, not per call: ~30 µs a call instead of ~160 µs); replaced when abandoned."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.abandoned = False
        self.thread = threading.Thread(target=self._loop, name="sftcheck bounded calls", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.abandoned:
            fn, args, kwargs, context, box, done = self.jobs.get()
            try:
                box["value"] = context.run(fn, *args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box["error"] = exc
            done.set()

    def abandon(self) -> None:
        self.abandoned = True
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread.ident), ctypes.py_object(_Abandoned))


_WORKERS = threading.local()


def _in_thread(fn: Callable[..., Any], args: tuple, kwargs: dict, seconds: float, culprit: str,
               fix: str) -> Any:
    """``fn`` in this caller's worker thread (the caller's context variables copied); the
    caller waits ``seconds`` at most, then raises ``TimeLimitExceeded`` and abandons the worker."""
    worker = getattr(_WORKERS, "worker", None)
    if worker is None or worker.abandoned or not worker.thread.is_alive():
        worker = _WORKERS.worker = _Worker()
    box: dict[str, Any] = {}
    done = threading.Event()
    worker.jobs.put((fn, args, kwargs, contextvars.copy_context(), box, done))
    if not done.wait(seconds):
        worker.abandon()
        raise TimeLimitExceeded(culprit, seconds, fix)
    if "error" in box:
        raise box["error"]
    return box["value"]


HOOK_FIX = ("make the hook return promptly for every row (no sleeps, network calls or unbounded "
            "loops), or raise [limits] hook_seconds if it is legitimately slow")
REGEX_FIX = ("the pattern backtracks catastrophically on this text (nested quantifiers such as "
             "(a+)+); write it without nested repetition, e.g. '<answer>(.*?)</answer>', or raise "
             "[limits] regex_seconds")
TEMPLATE_FIX = ("the chat template loops too long for one conversation (nested range() loops?); "
                "fix chat_template in tokenizer_config.json / chat_template.jinja, or raise "
                "[limits] template_seconds")


def hook(fn: Callable[..., Any], culprit: str) -> Callable[..., Any]:
    """The user's hook wrapped to run under ``[limits] hook_seconds`` (signature kept)."""
    if getattr(fn, "__sftcheck_bounded__", False):
        return fn

    @functools.wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        return call(fn, *args, seconds=LIMITS.hook_seconds, culprit=culprit, fix=HOOK_FIX, **kwargs)

    bounded.__sftcheck_bounded__ = True  # type: ignore[attr-defined]
    return bounded


def search(rx, text: str, culprit: str):
    """``rx.search(text)`` under ``[limits] regex_seconds`` (off the main thread: the same
    pattern in the ``regex`` engine with its ``timeout``)."""
    seconds = LIMITS.regex_seconds
    if _can_alarm() or not seconds or seconds <= 0:
        return call(rx.search, text, seconds=seconds, culprit=culprit, fix=REGEX_FIX)
    if culprit in _HUNG:
        raise TimeLimitExceeded(culprit, seconds, REGEX_FIX, earlier=True)
    twin = _regex_twin(rx.pattern, rx.flags)
    if twin is None:
        return rx.search(text)
    try:
        return twin.search(text, timeout=seconds)
    except TimeoutError:
        exc = TimeLimitExceeded(culprit, seconds, REGEX_FIX)
        _HUNG[culprit] = str(exc)
        raise exc from None


_RE_FLAGS = ("IGNORECASE", "LOCALE", "MULTILINE", "DOTALL", "VERBOSE", "ASCII")


@functools.lru_cache(maxsize=64)
def _regex_twin(pattern: str, flags: int):
    """The pattern compiled by the ``regex`` engine with the same flags, or None."""
    try:
        import regex
    except ImportError:
        return None
    twin_flags = regex.VERSION0
    for name in _RE_FLAGS:
        if flags & getattr(re, name):
            twin_flags |= getattr(regex, name)
    try:
        return regex.compile(pattern, twin_flags)
    except (regex.error, TypeError, ValueError):
        return None


def template(fn: Callable[..., Any], *args: Any, culprit: str = "the chat template", **kwargs: Any) -> Any:
    """A chat-template rendering (``apply_chat_template``) under ``[limits] template_seconds``."""
    return call(fn, *args, seconds=LIMITS.template_seconds, culprit=culprit, fix=TEMPLATE_FIX, **kwargs)
