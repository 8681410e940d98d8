"""The MCP scorer over streamable HTTP ([scoring.mcp] url): the fixture MCP server serving
on 127.0.0.1 in a subprocess, healthy, down, and killed mid-run (scores received are kept)."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time

from sftcheck.scorers.mcp_scorer import McpScorer
from tests.scorer_servers import MCP_MODULE
from tests.test_scorers import check_healthy, requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def mcp_http_server(*args: str):
    """``python -m sftcheck.fixtures.scorer_mcp --http PORT``; yields its ``/mcp`` URL once
    the port accepts connections."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, *MCP_MODULE[1:], "--http", str(port), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"the MCP server exited: {proc.stderr.read()[-2000:]}"
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the MCP server did not listen within 60 s"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stderr.close()


def test_mcp_streamable_http_healthy():
    with mcp_http_server() as (url, _):
        run = McpScorer(url=url, concurrency=4).score(requests(12))
    check_healthy(run, 12)
    assert url in run.backend


def test_mcp_streamable_http_down_names_the_url():
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    run = McpScorer(url=url, timeout=5, retries=0).score(requests(3))
    assert not run.rewards and run.partial and "cannot connect" in run.fatal, run.fatal
    assert url in run.backend and len(run.errors) == 3


def test_mcp_streamable_http_dies_mid_run_keeps_scores():
    with mcp_http_server("--fault", "die_after", "--after", "4") as (url, _):
        run = McpScorer(url=url, concurrency=1, timeout=5, retries=0).score(requests(10))
    assert len(run.rewards) == 4 and run.partial, run.summary()
    assert set(run.errors) == {f"e{i}" for i in range(4, 10)}
    assert run.rewards["e0"].total == 3.0
