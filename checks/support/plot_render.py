"""Where the report's plots are drawn: here, or by the renderer a run installs.

A plot function builds its figure from plain data in a module-level ``@drawing`` function and
returns ``Image(title, render(png_fn, *args))``.  A library caller (nothing installed) gets
the PNG bytes at once; a run installs ``sftcheck.plot_worker.PlotWorker``, which draws in a
worker process while the run goes on to its next check, and the report reads ``Image.png``
(waiting for it) when the page is written.  Checks stay pure: they never start a process.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

_RENDERER: Callable[[Callable[..., bytes], tuple, dict], Any] | None = None


def install(renderer: Callable[[Callable[..., bytes], tuple, dict], Any] | None):
    """Use ``renderer(fn, args, kwargs) -> bytes | pending`` (a pending has ``result()``);
    ``None`` draws in this process.  Returns the renderer it replaces."""
    global _RENDERER
    previous, _RENDERER = _RENDERER, renderer
    return previous


def drawing(fn: Callable[..., bytes]) -> Callable[..., bytes]:
    """Marks a module-level function of plain data returning PNG bytes as one a renderer may
    run elsewhere (the plot worker runs nothing else)."""
    fn.sftcheck_drawing = True
    return fn


def render(fn: Callable[..., bytes], /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` (a module-level function of plain, picklable data returning PNG
    bytes), drawn here or by the installed renderer."""
    if _RENDERER is None:
        return fn(*args, **kwargs)
    return _RENDERER(fn, args, kwargs)
