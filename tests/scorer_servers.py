"""Start the fixture scorer servers as real subprocesses on 127.0.0.1 for the self-tests."""
from __future__ import annotations

import contextlib
import subprocess
import sys


@contextlib.contextmanager
def http_server(*args: str):
    """``python -m sftcheck.fixtures.scorer_http ARGS``; yields its ``http://127.0.0.1:PORT/score``."""
    proc = subprocess.Popen([sys.executable, "-m", "sftcheck.fixtures.scorer_http", *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"scorer server did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}/score"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def free_port_url() -> str:
    """A loopback URL where nothing listens (the server is down)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/score"


MCP_MODULE = ["python", "-m", "sftcheck.fixtures.scorer_mcp"]
