"""A tool on an MCP server as the scorer (``[scoring.mcp]``), through the official ``mcp``
Python SDK (``mcp.Client``): a server command started over stdio, or a streamable-HTTP URL.

Each output is one ``tools/call`` of ``tool`` whose arguments are built from the record by
``arguments`` (tool argument -> ``id`` | ``prompt`` | ``output`` | ``example`` |
``example.<field>``).  The tool's structured result (or its text content, parsed as JSON or
a number) is the reward or a table of components (``records.parse_reward``); a result
flagged ``isError`` is that record's error.  With ``batch_tool``, records go ``batch_size``
at a time to that tool as ``{"items": [arguments, ...]}`` and it answers a list of reward
answers, one per item in order (a reward model scores a batch at once; one round trip per
batch instead of per record).  Calls run ``concurrency`` at a time, each
bounded by ``timeout`` seconds and retried ``retries`` times on timeout; when the
connection is lost the records not yet scored are reported as such and every reward
already received is kept.  The server's stderr is captured and quoted in errors.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sftcheck.scorers.mcp_live import describe as _describe
from sftcheck.scorers.records import RewardFormatError, ScoreRequest, ScorerError, ScoringRun, parse_reward

DEFAULT_ARGUMENTS = {"id": "id", "prompt": "prompt", "output": "output", "example": "example"}
RECORD_FIELDS = ("id", "prompt", "output", "example")


def tool_arguments(req: ScoreRequest, mapping: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arg, source in mapping.items():
        if source.startswith("example."):
            out[arg] = req.example.get(source[len("example."):])
        elif source == "example":
            out[arg] = dict(req.example)
        else:
            out[arg] = getattr(req, source)
    return out


def result_value(result: Any) -> Any:
    """The reward answer carried by a ``CallToolResult``."""
    if result.structured_content is not None:
        value = result.structured_content
        # a non-object return value is wrapped by the SDK as {"result": value}
        if isinstance(value, Mapping) and set(value) == {"result"}:
            value = value["result"]
        return value
    texts = [getattr(c, "text", None) for c in result.content]
    texts = [t for t in texts if t is not None]
    if not texts:
        raise RewardFormatError(f"the tool result has no structured content and no text "
                                f"({[getattr(c, 'type', '?') for c in result.content]})")
    text = "\n".join(texts).strip()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RewardFormatError(f"the tool's text is not JSON or a number: {text[:160]!r}") from exc


class McpScorer:
    def __init__(self, *, command: Sequence[str] | None = None, url: str | None = None, tool: str = "score",
                 arguments: Mapping[str, str] | None = None, pass_env: Sequence[str] = (),
                 cwd: str | None = None, timeout: float = 30.0, concurrency: int = 4, retries: int = 1,
                 api_key_env: str | None = None, startup_timeout: float = 60.0, keep_alive: bool = False,
                 batch_tool: str | None = None, batch_size: int = 16):
        if bool(command) == bool(url):
            raise ValueError("give exactly one of command / url")
        self.command = list(command or [])
        self.url = url
        self.tool = tool
        self.arguments = dict(arguments or DEFAULT_ARGUMENTS)
        self.pass_env, self.cwd = list(pass_env), cwd
        self.timeout, self.concurrency, self.retries = timeout, max(1, concurrency), max(0, retries)
        self.api_key_env = api_key_env
        self.startup_timeout = startup_timeout
        self.keep_alive = keep_alive  # one server session for every score() until close()
        self.batch_tool, self.batch_size = batch_tool, max(1, batch_size)
        self._live = None

    @property
    def name(self) -> str:
        where = self.url or " ".join(self.command)
        return f"MCP tool {self.batch_tool or self.tool!r} on {where}"

    # ------------------------------------------------------------------ transport
    def _transport(self, errlog):
        if self.url:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            headers = {}
            if self.api_key_env:
                key = os.environ.get(self.api_key_env)
                if not key:
                    raise ScorerError(f"{self.name}: [scoring.mcp] api_key_env = {self.api_key_env!r} is not "
                                      "set in the environment. Fix: export it before running.")
                headers["Authorization"] = f"Bearer {key}"
            client = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(self.timeout))
            return streamable_http_client(self.url, http_client=client), client
        from mcp.client.stdio import StdioServerParameters, stdio_client

        cmd = list(self.command)
        if cmd[0] == "python":  # the interpreter running sftcheck (same environment)
            cmd[0] = sys.executable
        env = {k: os.environ[k] for k in self.pass_env if k in os.environ}
        params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env or None, cwd=self.cwd)
        return stdio_client(params, errlog=errlog), None

    # ------------------------------------------------------------------ scoring
    def score(self, requests: Sequence[ScoreRequest]) -> ScoringRun:
        run = ScoringRun(self.name, requested=len(requests))
        t0 = time.perf_counter()
        live = self._session(run)
        if live is not None:
            wanted, key = (self.batch_tool, "batch_tool") if self.batch_tool else (self.tool, "tool")
            if wanted not in live.tools:
                run.fatal = (f"the server has no tool {wanted!r} (it offers: {', '.join(live.tools) or 'none'}); "
                             f"fix [scoring.mcp] {key}")
            else:
                try:
                    live.submit(lambda client: self._calls(client, list(requests), run))
                except KeyboardInterrupt:
                    self.close()
                    raise
                except BaseException as exc:  # noqa: BLE001 - the connection is gone
                    run.fatal = run.fatal or _describe(exc)
            if run.fatal or not live.alive:
                run.fatal = run.fatal or live.failed or "the connection was lost"
                tail = live.stderr_tail()
                if tail:
                    run.fatal += f"; the server's stderr ends: {tail}"
                self.close()  # a broken session is not reused: the next score() connects again
            elif not self.keep_alive:
                self.close()
        for req in requests:
            if req.id not in run.rewards and req.id not in run.errors:
                run.errors[req.id] = f"not scored: {run.fatal or 'no result'}"
        run.seconds = time.perf_counter() - t0
        return run

    def _session(self, run: ScoringRun):
        """The open ``LiveSession`` (connecting now if there is none), or None with
        ``run.fatal`` saying why it cannot connect."""
        if self._live is not None and self._live.alive:
            return self._live
        if self._live is None or self._live.connected:
            self.close()  # none yet, or one that broke after connecting: connect (again)
            self.start()
        live = self._live
        try:
            live.wait(self.startup_timeout)
        except ScorerError:
            raise
        except BaseException as exc:  # cannot start / connect
            self._live = None
            if isinstance(exc, KeyboardInterrupt):
                raise
            why = (f"no answer within {self.startup_timeout:g} s" if isinstance(exc, TimeoutError)
                   else _describe(exc))
            run.fatal = f"cannot connect: {why}"
            tail = live.stderr_tail()
            if tail:
                run.fatal += f"; the server's stderr ends: {tail}"
            return None
        return live

    def start(self) -> None:
        """Start connecting in the background (the server process starts now, while the run
        loads its model); the first ``score`` waits for it."""
        from sftcheck.scorers.mcp_live import LiveSession

        if self._live is None:
            self._live = LiveSession(self._transport, self.timeout)
            self._live.begin()

    def stop(self) -> None:
        """Ask the open session to end, not waiting for the server to exit (``close`` waits)."""
        if self._live is not None:
            self._live.stop()

    def close(self) -> None:
        """End the open session (the stdio server exits)."""
        live, self._live = self._live, None
        if live is not None:
            live.close()

    async def _calls(self, client, requests: list[ScoreRequest], run: ScoringRun) -> None:
        import anyio

        limiter = anyio.Semaphore(self.concurrency)
        async with anyio.create_task_group() as tg:
            if self.batch_tool:
                for start in range(0, len(requests), self.batch_size):
                    tg.start_soon(self._batch, client, requests[start:start + self.batch_size], run, limiter)
            else:
                for req in requests:
                    tg.start_soon(self._one, client, req, run, limiter)

    async def _call(self, client, tool: str, arguments: dict, run: ScoringRun, ids: list[str]):
        """One ``tools/call`` with the timeout and retries; the result, or None with every id in
        ``ids`` given its error."""
        import anyio

        last = ""
        for attempt in range(self.retries + 1):
            try:
                with anyio.fail_after(self.timeout):
                    result = await client.call_tool(tool, arguments)
            except TimeoutError:
                last = f"no result within {self.timeout:g} s (timeout, attempt {attempt + 1})"
                continue
            except Exception as exc:  # noqa: BLE001 - the connection is gone
                why = _describe(exc)
                if "timed out" in why.lower() or "timeout" in why.lower():
                    last = f"{why} (attempt {attempt + 1})"
                    continue
                run.errors.update(dict.fromkeys(ids, why))
                run.fatal = run.fatal or f"the connection failed: {why}"
                return None
            if result.is_error:
                text = " ".join(getattr(c, "text", "") for c in result.content)
                run.errors.update(dict.fromkeys(ids, f"the tool reported an error: {text[:300]}"))
                return None
            return result
        run.errors.update(dict.fromkeys(ids, last))
        return None

    async def _one(self, client, req: ScoreRequest, run: ScoringRun, limiter) -> None:
        async with limiter:
            if run.fatal:
                run.errors[req.id] = f"not sent: {run.fatal}"
                return
            result = await self._call(client, self.tool, tool_arguments(req, self.arguments), run, [req.id])
            if result is None:
                return
            try:
                run.rewards[req.id] = parse_reward(result_value(result))
            except RewardFormatError as exc:
                run.errors[req.id] = f"unusable tool result: {exc}"

    async def _batch(self, client, reqs: list[ScoreRequest], run: ScoringRun, limiter) -> None:
        """One call of ``batch_tool`` with ``{"items": [arguments of each record]}``; it answers a
        list with one reward answer per item, in order."""
        ids = [r.id for r in reqs]
        async with limiter:
            if run.fatal:
                run.errors.update(dict.fromkeys(ids, f"not sent: {run.fatal}"))
                return
            result = await self._call(client, self.batch_tool,
                                      {"items": [tool_arguments(r, self.arguments) for r in reqs]}, run, ids)
            if result is None:
                return
            try:
                values = result_value(result)
            except RewardFormatError as exc:
                run.errors.update(dict.fromkeys(ids, f"unusable batch result: {exc}"))
                return
            if not isinstance(values, list) or len(values) != len(reqs):
                got = f"{len(values)} results" if isinstance(values, list) else f"a {type(values).__name__}"
                run.errors.update(dict.fromkeys(ids, f"the batch tool returned {got} for {len(reqs)} items "
                                                    "(it must return a list, one reward answer per item, in order)"))
                return
            for req, value in zip(reqs, values, strict=True):
                try:
                    run.rewards[req.id] = parse_reward(value)
                except RewardFormatError as exc:
                    run.errors[req.id] = f"unusable tool result: {exc}"
