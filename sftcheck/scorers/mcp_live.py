"""One MCP client session held open for a whole run (``McpScorer(keep_alive=True)``).

Starting an MCP server over stdio costs a process start and the SDK's import (about a second
of CPU for the fixture server), and a run scores several times: the eval set's outputs, the
human-labelled outputs, the length-flip rescoring, a refusal suite.  ``LiveSession`` connects
once, in a background thread with its own event loop, and each ``score`` submits its calls
there; the session is closed by ``close`` (the pytest plugin closes every open one when the
run ends, ``atexit`` as a last resort).  A session whose connection failed is dropped, and the
next ``score`` connects again.
"""
from __future__ import annotations

import asyncio
import atexit
import tempfile
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

_OPEN: weakref.WeakSet = weakref.WeakSet()


class LiveSession:
    """``connect(errlog) -> (transport, http client or None)`` is called on the session's loop;
    ``begin()`` starts connecting, ``wait(timeout)`` waits for it (``open`` = both);
    ``submit(fn)`` runs the coroutine ``fn(client)`` there and returns its result; ``close()``
    ends the session and the server."""

    def __init__(self, connect: Callable[[Any], tuple[Any, Any]], read_timeout: float):
        self._connect, self._read_timeout = connect, read_timeout
        self.errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by close()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sftcheck-mcp", daemon=True)
        self._thread.start()
        self.client: Any = None
        self.connected = False  # was connected at some point (a later failure: connect again)
        self._stderr_tail = ""
        self.tools: list[str] = []
        self.failed: str | None = None
        self._stop = asyncio.Event()  # bound to the session's loop when first awaited there
        self._held: Any = None  # the concurrent future of the holding coroutine
        self._started: Any = None  # set once connected
        _OPEN.add(self)

    def open(self, timeout: float) -> None:
        """Connect and list the tools; raises the connection's exception (or TimeoutError)."""
        self.begin()
        self.wait(timeout)

    def begin(self) -> None:
        """Start connecting (the server process starts) without waiting for it."""
        if self._held is not None:
            return
        self._started = asyncio.run_coroutine_threadsafe(_new_future(), self.loop).result()
        self._held = asyncio.run_coroutine_threadsafe(self._hold(self._started), self.loop)

    def wait(self, timeout: float) -> None:
        """Wait until connected (tools listed); on failure the session is closed and the
        connection's exception (or TimeoutError) raised."""
        if self.client is not None:
            return
        wait = asyncio.run_coroutine_threadsafe(_await(self._started), self.loop)
        try:
            wait.result(timeout=timeout)
        except BaseException:
            wait.cancel()
            self.close()
            raise

    async def _hold(self, started: asyncio.Future) -> None:
        from mcp import Client

        transport, http_client = self._connect(self.errlog)
        try:
            async with Client(transport, read_timeout_seconds=self._read_timeout) as client:
                self.tools = [t.name for t in (await client.list_tools()).tools]
                self.client = client
                self.connected = True
                if not started.done():
                    started.set_result(None)
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - reported to the waiting caller
            self.failed = self.failed or describe(exc)
            if not started.done():
                started.set_exception(exc if isinstance(exc, Exception) else RuntimeError(describe(exc)))
        finally:
            self.client = None
            if http_client is not None:
                await http_client.aclose()

    def submit(self, fn: Callable[[Any], Coroutine[Any, Any, Any]]) -> Any:
        if self.client is None:
            raise ConnectionError(self.failed or "the MCP session is closed")
        fut = asyncio.run_coroutine_threadsafe(fn(self.client), self.loop)
        try:
            return fut.result()
        except BaseException:
            fut.cancel()
            raise

    @property
    def alive(self) -> bool:
        return self.client is not None and self.failed is None and self._held is not None and not self._held.done()

    def stderr_tail(self, n: int = 600) -> str:
        if self.errlog.closed:
            return self._stderr_tail[-n:]
        try:
            self.errlog.flush()
            self.errlog.seek(0)
            return self.errlog.read()[-n:].strip()
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        """Ask the session to end without waiting (the server shuts down while the caller goes
        on, e.g. while the report is written); ``close`` waits for it."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)

    def close(self, timeout: float = 10.0) -> None:
        """End the session (the stdio server process with it) and stop the loop's thread."""
        if not self._thread.is_alive():
            return
        self.stop()
        if self._held is not None:
            try:
                self._held.result(timeout=timeout)
            except BaseException:  # noqa: BLE001 - closing: the failure was reported already
                self._held.cancel()
        self._stderr_tail = self.stderr_tail(4000)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=timeout)
        if not self._thread.is_alive():
            self.loop.close()
        self.errlog.close()
        _OPEN.discard(self)


async def _new_future() -> asyncio.Future:
    return asyncio.get_running_loop().create_future()


async def _await(fut: asyncio.Future) -> None:
    await fut


def close_all() -> None:
    """Close every open session (at the end of a run)."""
    for live in list(_OPEN):
        live.close()


def describe(exc: BaseException) -> str:
    """One line for an exception, unwrapping task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {str(exc) or repr(exc)}"


atexit.register(close_all)
