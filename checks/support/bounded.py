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

Off the main thread, or where ``setitimer`` does not exist, calls run unbounded (the
pytest session, the only caller, runs in the main thread).
"""
from __future__ import annotations

import functools
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
        with time_limit(seconds, culprit, fix):
            return fn(*args, **kwargs)
    except TimeLimitExceeded as exc:
        _HUNG[culprit] = str(exc)
        raise


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
    """``rx.search(text)`` under ``[limits] regex_seconds``."""
    return call(rx.search, text, seconds=LIMITS.regex_seconds, culprit=culprit, fix=REGEX_FIX)


def template(fn: Callable[..., Any], *args: Any, culprit: str = "the chat template", **kwargs: Any) -> Any:
    """A chat-template rendering (``apply_chat_template``) under ``[limits] template_seconds``."""
    return call(fn, *args, seconds=LIMITS.template_seconds, culprit=culprit, fix=TEMPLATE_FIX, **kwargs)
