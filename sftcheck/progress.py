"""Live progress on the real terminal for long work (generation passes, audits), even under
pytest's output capture — and never into the captured output or the HTML report.

Inside a pytest session (``attach`` is called by the report hooks at configure) a line is
written through pytest's terminal reporter with capturing suspended
(``CaptureManager.global_and_fixture_disabled``, as live logging does); outside pytest it
goes to ``sys.__stderr__``.  On a terminal the line is redrawn in place (``\\r``); in a CI
log it is written at the start, at each quarter and at the end, so logs stay short.
"""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Self

_CONFIG: Any = None  # the running pytest.Config, if any


def attach(config: Any) -> None:
    global _CONFIG
    _CONFIG = config


def detach(config: Any) -> None:
    global _CONFIG
    if _CONFIG is config:
        _CONFIG = None


def _terminal() -> tuple[Any, Any]:
    if _CONFIG is None:
        return None, None
    pm = _CONFIG.pluginmanager
    return pm.getplugin("terminalreporter"), pm.getplugin("capturemanager")


def write(text: str) -> None:
    """Write ``text`` to the user's terminal, bypassing pytest's capture."""
    reporter, capman = _terminal()
    suspend = capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
    with suspend:
        if reporter is not None:
            reporter.write(text, flush=True)
        elif sys.__stderr__ is not None:
            sys.__stderr__.write(text)
            sys.__stderr__.flush()


def _isatty() -> bool:
    reporter, _ = _terminal()
    if reporter is not None:
        return bool(getattr(reporter, "isatty", False))
    return bool(sys.__stderr__ and sys.__stderr__.isatty())


class LiveProgress:
    """``with LiveProgress(total, "tuned: generating") as bar: bar.update(n)`` (tqdm-like)."""

    def __init__(self, total: int, desc: str, unit: str = "ex", min_interval: float = 0.5) -> None:
        self.total, self.desc, self.unit = max(0, int(total)), desc, unit
        self.n = 0
        self.start = time.monotonic()
        self.min_interval = min_interval
        self.tty = _isatty()
        self._last = 0.0
        self._quarter = -1
        self._closed = False
        self._show(force=True)

    def _line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total else ""
        return f"sftcheck {self.desc}: {self.n}{of} {self.unit} ({elapsed:.1f} s, {rate:.1f} {self.unit}/s)"

    def _show(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            if force or now - self._last >= self.min_interval:
                self._last = now
                write("\r" + self._line() + "\x1b[K")
            return
        quarter = (4 * self.n // self.total) if self.total else 0
        if force or quarter > self._quarter:
            self._quarter = quarter
            write("\n" + self._line())

    def update(self, n: int = 1) -> None:
        self.n += n
        self._show()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        done = self.total and self.n >= self.total
        if not self.tty and done and self._quarter >= 4:
            write("\n")
            return
        write(("\r" if self.tty else "\n") + self._line() + (" done" if done else " stopped") + "\n")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
