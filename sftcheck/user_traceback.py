"""The traceback of an exception raised by the user's code, as evidence.

A hook failure is a finding about the user's code, so its evidence shows the user's frames:
sftcheck's own call frames (the hook adapter, the time limit wrapper) are dropped, and the
header says whose code raised, so a report never mistakes it for sftcheck crashing.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

from sftcheck.checks.support import bounded

RUNTIME = Path(__file__).resolve().parent
BOUNDED = Path(bounded.__file__).resolve()  # the time-limit wrapper every hook call goes through
HEADER = "Your code raised (most recent call last):\n"


def _ours(filename: str) -> bool:
    try:
        path = Path(filename).resolve()
        return path == BOUNDED or path.is_relative_to(RUNTIME)
    except (OSError, ValueError):
        return False


def user_traceback(exc: BaseException | None = None) -> str:
    """Format ``exc`` (default: the exception being handled) with sftcheck's frames removed.

    Falls back to the whole traceback when every frame is sftcheck's (then it is not the
    user's code that raised, and hiding the frames would hide the cause)."""
    exc = exc if exc is not None else sys.exc_info()[1]
    if exc is None:
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _ours(f.filename)]
    if not frames:
        return "".join(traceback.format_exception(exc))
    body = "".join(traceback.format_list(frames))
    tail = "".join(traceback.format_exception_only(exc))
    return HEADER + body + tail
