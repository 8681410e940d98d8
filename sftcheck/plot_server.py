"""The plot worker's process (``python -m sftcheck.plot_server``; started by ``plot_worker``).

Reads one JSON request per line on stdin, ``{"id": n, "fn": "module:name", "args": [...],
"kwargs": {...}}``, calls the plot function (only ``@drawing`` functions of ``sftcheck.checks``)
and answers on stdout with a JSON header line, ``{"id": n, "ok": true, "bytes": k}`` followed
by the k bytes of the PNG, or ``{"id": n, "ok": false, "error": "..."}``.  Ends at end of input.
No pickle: the data is plain JSON, drawn by the same code the main process would run.
"""
from __future__ import annotations

import importlib
import json
import sys

ALLOWED_PREFIX = "sftcheck.checks."


def resolve(ref: str):
    """The ``@drawing`` function ``module:name`` of ``sftcheck.checks`` (nothing else runs here)."""
    module, _, name = ref.partition(":")
    if not module.startswith(ALLOWED_PREFIX) or not name.isidentifier():
        raise ValueError(f"not a plot function: {ref!r}")
    fn = getattr(importlib.import_module(module), name, None)
    if not getattr(fn, "sftcheck_drawing", False):
        raise ValueError(f"not a plot function: {ref!r}")
    return fn


def answer(out, req_id, png: bytes | None = None, error: str | None = None) -> None:
    if error is not None:
        out.write(json.dumps({"id": req_id, "ok": False, "error": error}).encode() + b"\n")
    else:
        out.write(json.dumps({"id": req_id, "ok": True, "bytes": len(png)}).encode() + b"\n" + png)
    out.flush()


def warm_up() -> bytes:
    """Draw one small plot before the first request (while the run loads its model): matplotlib's
    import, its font cache and Agg's first text layout, PIL's PNG writer (~0.3 s of a first plot)."""
    from sftcheck.checks.support import plots

    return plots._accuracy_ci_png({"base": 0.5, "tuned": 0.5}, {"base": (0.4, 0.6), "tuned": (0.4, 0.6)},
                                  0.5, None, "warm-up")


def serve(inp=None, out=None) -> None:
    inp = inp or sys.stdin.buffer
    out = out or sys.stdout.buffer
    warm_up()
    for line in inp:
        req_id = None
        try:
            req = json.loads(line)
            req_id = req["id"]
            png = resolve(req["fn"])(*req.get("args", ()), **req.get("kwargs", {}))
            answer(out, req_id, bytes(png))
        except Exception as exc:  # noqa: BLE001 - reported to the run, which draws it itself
            answer(out, req_id, error=f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    serve()
