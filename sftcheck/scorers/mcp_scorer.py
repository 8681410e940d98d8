"""A tool on an MCP server as the scorer (``[scoring.mcp]``), through the official ``mcp``
Python SDK (``mcp.Client``): a server command started over stdio, or a streamable-HTTP URL.

Each output is one ``tools/call`` of ``tool`` whose arguments are built from the record by
``arguments`` (tool argument -> ``id`` | ``prompt`` | ``output`` | ``example`` |
``example.<field>``).  The tool's structured result (or its text content, parsed as JSON or
a number) is the reward or a table of components (``records.parse_reward``); a result
flagged ``isError`` is that record's error.  Calls run ``concurrency`` at a time, each
bounded by ``timeout`` seconds and retried ``retries`` times on timeout; when the
connection is lost the records not yet scored are reported as such and every reward
already received is kept.  The server's stderr is captured and quoted in errors.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

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
                 api_key_env: str | None = None, startup_timeout: float = 60.0):
        if bool(command) == bool(url):
            raise ValueError("give exactly one of command / url")
        self.command = list(command or [])
        self.url = url
        self.tool = tool
        self.arguments = dict(arguments or DEFAULT_ARGUMENTS)
        self.pass_env, self.cwd = list(pass_env), cwd
        self.timeout, self.concurrency, self.retries = timeout, max(1, concurrency), max(0, retries)
        self.api_key_env = api_key_env

    @property
    def name(self) -> str:
        where = self.url or " ".join(self.command)
        return f"MCP tool {self.tool!r} on {where}"

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
        import anyio

        run = ScoringRun(self.name, requested=len(requests))
        t0 = time.perf_counter()
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
            try:
                anyio.run(self._score_all, list(requests), run, errlog)
            except ScorerError:
                raise
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                if not run.fatal:
                    run.fatal = _describe(exc)
            if run.fatal:
                errlog.seek(0)
                tail = errlog.read()[-600:].strip()
                if tail:
                    run.fatal += f"; the server's stderr ends: {tail}"
        for req in requests:
            if req.id not in run.rewards and req.id not in run.errors:
                run.errors[req.id] = f"not scored: {run.fatal or 'no result'}"
        run.seconds = time.perf_counter() - t0
        return run

    async def _score_all(self, requests: list[ScoreRequest], run: ScoringRun, errlog) -> None:
        from mcp import Client

        transport, http_client = self._transport(errlog)
        try:
            async with Client(transport, read_timeout_seconds=self.timeout) as client:
                await self._calls(client, requests, run)
        except Exception as exc:  # noqa: BLE001 - cannot start / connect, or a dead server's teardown
            if not run.fatal and len(run.rewards) < len(requests):
                run.fatal = (f"cannot connect: {_describe(exc)}" if not run.rewards and not run.errors
                             else _describe(exc))
        finally:
            if http_client is not None:
                await http_client.aclose()

    async def _calls(self, client, requests: list[ScoreRequest], run: ScoringRun) -> None:
        import anyio

        tools = await client.list_tools()
        names = [t.name for t in tools.tools]
        if self.tool not in names:
            run.fatal = (f"the server has no tool {self.tool!r} (it offers: {', '.join(names) or 'none'}); "
                         "fix [scoring.mcp] tool")
            return
        limiter = anyio.Semaphore(self.concurrency)
        async with anyio.create_task_group() as tg:
            for req in requests:
                tg.start_soon(self._one, client, req, run, limiter)

    async def _one(self, client, req: ScoreRequest, run: ScoringRun, limiter) -> None:
        import anyio

        async with limiter:
            if run.fatal:
                run.errors[req.id] = f"not sent: {run.fatal}"
                return
            last = ""
            for attempt in range(self.retries + 1):
                try:
                    with anyio.fail_after(self.timeout):
                        result = await client.call_tool(self.tool, tool_arguments(req, self.arguments))
                except TimeoutError:
                    last = f"no result within {self.timeout:g} s (timeout, attempt {attempt + 1})"
                    continue
                except Exception as exc:  # noqa: BLE001 - the connection is gone
                    why = _describe(exc)
                    if "timed out" in why.lower() or "timeout" in why.lower():
                        last = f"{why} (attempt {attempt + 1})"
                        continue
                    run.errors[req.id] = why
                    run.fatal = run.fatal or f"the connection failed: {why}"
                    return
                if result.is_error:
                    text = " ".join(getattr(c, "text", "") for c in result.content)
                    run.errors[req.id] = f"the tool reported an error: {text[:300]}"
                    return
                try:
                    run.rewards[req.id] = parse_reward(result_value(result))
                except RewardFormatError as exc:
                    run.errors[req.id] = f"unusable tool result: {exc}"
                return
            run.errors[req.id] = last


def _describe(exc: BaseException) -> str:
    """One line for an exception, unwrapping task-group exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"
