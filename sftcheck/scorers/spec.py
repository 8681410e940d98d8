"""From the ``[scoring]`` config to one scorer backend; validated when the config loads.

Exactly one of ``scorer`` (a Python function), ``server`` (an HTTP endpoint) or
``[scoring.mcp]`` (a tool on an MCP server) may be set.  Only the addresses named here
are ever contacted.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sftcheck.scorers.mcp_scorer import DEFAULT_ARGUMENTS, RECORD_FIELDS

MCP_KEYS = ("command", "url", "tool", "batch_tool", "arguments", "pass_env", "cwd")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ScoringConfigError(ValueError):
    """An unusable ``[scoring]`` setup; ``sftcheck.config`` raises it as a ``ConfigError``."""


def _error(source: str, msg: str) -> ScoringConfigError:
    return ScoringConfigError(f"{source}: {msg}")


def _check_url(url: str, key: str, source: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _error(source, f"{key} = {url!r} is not an http(s) URL. Fix: write e.g. "
                             "'http://127.0.0.1:8000/score'.")
    if parts.username or parts.password:
        raise _error(source, f"{key} = {url!r} carries credentials in the URL. Fix: remove them and "
                             "name an environment variable in [scoring] api_key_env.")


def validate(scoring, source: str) -> None:
    """Raise ``ScoringConfigError`` (file, key, problem, fix) for an unusable ``[scoring]`` setup."""
    chosen = [k for k, v in (("scorer", scoring.scorer), ("server", scoring.server),
                             ("[scoring.mcp]", scoring.mcp)) if v]
    if len(chosen) > 1:
        raise _error(source, f"[scoring] sets {' and '.join(chosen)}: can't have more than one scorer. "
                             "Fix: keep one of scorer / server / [scoring.mcp].")
    for key, low in (("timeout", 1e-9), ("concurrency", 1), ("retries", 0), ("batch_size", 1)):
        if getattr(scoring, key) < low:
            raise _error(source, f"[scoring] {key} = {getattr(scoring, key)!r} must be >= {low:g}. "
                                 "Fix: raise it.")
    if scoring.api_key_env is not None and not _ENV_NAME.match(scoring.api_key_env):
        raise _error(source, f"[scoring] api_key_env = {scoring.api_key_env!r} must be the NAME of an "
                             "environment variable (e.g. 'SCORER_API_KEY'), never the key itself. "
                             "Fix: export the key under a name and put the name here.")
    if scoring.server:
        _check_url(scoring.server, "[scoring] server", source)
    if scoring.mcp:
        _validate_mcp(scoring.mcp, source)


def _validate_mcp(table: dict[str, Any], source: str) -> None:
    import difflib

    for key in table:
        if key not in MCP_KEYS:
            close = difflib.get_close_matches(key, MCP_KEYS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise _error(source, f"unknown key [scoring.mcp] {key!r}.{hint} Known keys: {', '.join(MCP_KEYS)}.")
    command, url = table.get("command"), table.get("url")
    if bool(command) == bool(url):
        raise _error(source, "[scoring.mcp] needs exactly one of command (a server started over stdio, "
                             "e.g. command = [\"python\", \"-m\", \"my_scorer\"]) or url (streamable HTTP).")
    if command is not None and (not isinstance(command, list) or not command
                                or not all(isinstance(c, str) and c for c in command)):
        raise _error(source, f"[scoring.mcp] command = {command!r} must be a non-empty list of strings.")
    if url is not None:
        if not isinstance(url, str):
            raise _error(source, f"[scoring.mcp] url = {url!r} must be a string.")
        _check_url(url, "[scoring.mcp] url", source)
    tool = table.get("tool", "score")
    if not isinstance(tool, str) or not tool:
        raise _error(source, f"[scoring.mcp] tool = {tool!r} must be the tool's name (a string).")
    batch_tool = table.get("batch_tool")
    if batch_tool is not None and (not isinstance(batch_tool, str) or not batch_tool):
        raise _error(source, f"[scoring.mcp] batch_tool = {batch_tool!r} must be the batch tool's name (a string): "
                             "it gets {\"items\": [arguments of each record]} and answers a list, one reward per item.")
    args = table.get("arguments", DEFAULT_ARGUMENTS)
    if not isinstance(args, dict) or not args:
        raise _error(source, f"[scoring.mcp] arguments = {args!r} must be a table: tool argument -> "
                             "record field (id, prompt, output, example, example.<field>).")
    for arg, field_name in args.items():
        ok = isinstance(field_name, str) and (field_name in RECORD_FIELDS or (
            field_name.startswith("example.") and len(field_name) > len("example.")))
        if not ok:
            raise _error(source, f"[scoring.mcp] arguments.{arg} = {field_name!r}: not a record field. "
                                 "Fix: use one of id, prompt, output, example, example.<field>.")
    if "output" not in args.values():
        raise _error(source, "[scoring.mcp] arguments never pass the model's output to the tool. "
                             "Fix: map one argument to \"output\".")
    pass_env = table.get("pass_env", [])
    if not isinstance(pass_env, list) or not all(isinstance(n, str) and _ENV_NAME.match(n) for n in pass_env):
        raise _error(source, f"[scoring.mcp] pass_env = {pass_env!r} must be a list of environment "
                             "variable names (their values are passed to the server, never stored).")
    cwd = table.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise _error(source, f"[scoring.mcp] cwd = {cwd!r} must be a folder path (a string).")


def build(cfg, hooks=None):
    """The configured backend (``InProcessScorer`` / ``HttpScorer`` / ``McpScorer``), or None.
    ``hooks``: the session's resolved hooks (their ``scorer`` is reused).  Raises
    ``sftcheck.hooks.HookError`` for a scorer hook that cannot be imported."""
    s = cfg.scoring
    if s.scorer:
        from sftcheck.hooks import load_scorer
        from sftcheck.scorers.inprocess import InProcessScorer

        hook = getattr(hooks, "scorer", None) or load_scorer(cfg)
        return InProcessScorer(hook)
    if s.server:
        from sftcheck.scorers.http_scorer import HttpScorer

        return HttpScorer(s.server, timeout=s.timeout, concurrency=s.concurrency, retries=s.retries,
                          batch_size=s.batch_size, api_key_env=s.api_key_env)
    if s.mcp:
        from sftcheck.scorers.mcp_scorer import McpScorer

        m = s.mcp
        src = Path(cfg.source)
        base = src.resolve().parent if src.exists() else Path.cwd()
        cwd = m.get("cwd")
        cwd = str((base / cwd) if cwd and not Path(cwd).is_absolute() else (cwd or base))
        kw = {"command": m.get("command"), "url": m.get("url"), "tool": m.get("tool", "score"),
              "batch_tool": m.get("batch_tool"), "batch_size": s.batch_size,
              "arguments": m.get("arguments"), "pass_env": tuple(m.get("pass_env", ())), "cwd": cwd,
              "timeout": s.timeout, "concurrency": s.concurrency, "retries": s.retries, "api_key_env": s.api_key_env}
        key = repr(sorted(kw.items()))
        if key not in _MCP:  # one server session per run, shared by every scoring pass
            _MCP[key] = McpScorer(**kw, keep_alive=True)
        return _MCP[key]
    return None


_MCP: dict = {}


def stop_all() -> None:
    """Ask every MCP server session the run opened to end, not waiting (the servers shut down
    while the report is written; ``close_all`` waits for them)."""
    for scorer in _MCP.values():
        scorer.stop()


def close_all() -> None:
    """End every MCP server session the run opened (the pytest plugin calls it at the end)."""
    for scorer in list(_MCP.values()):
        scorer.close()
    _MCP.clear()


def describe(cfg) -> str | None:
    """The configured scorer in words (for reports), or None when none is configured."""
    s = cfg.scoring
    if s.scorer:
        return s.scorer
    if s.server:
        return f"HTTP scorer {s.server}"
    if s.mcp:
        where = s.mcp.get("url") or " ".join(s.mcp.get("command") or [])
        return f"MCP tool {s.mcp.get('tool', 'score')!r} on {where}"
    return None
