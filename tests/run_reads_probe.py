"""A pytest plugin for self-tests: counts how sftcheck reads a run's files in one session.

Loaded with ``-p tests.run_reads_probe`` (``SFTCHECK_READS_OUT`` names the JSON it writes at
the end).  It records every read of a watched run file (``adapter_config.json``,
``config.json``, ``generation_config.json``, ``trainer_state.json``, the chat template
files) whose caller is sftcheck code other than ``sftcheck/run_files.py`` (a bypass of the
one reader), the one reader's own counts (``Run.files.reads``) and how often
``sftcheck.hooks.resolve`` ran.
"""
from __future__ import annotations

import builtins
import json
import os
import pathlib
import traceback

import sftcheck
from sftcheck import hooks

WATCHED = {"adapter_config.json", "config.json", "generation_config.json", "trainer_state.json",
           "chat_template.jinja", "chat_template.json", "tokenizer_config.json"}
OURS = (str(pathlib.Path(sftcheck.__file__).resolve().parent.parent),)  # the repository (sftcheck/, checks/)
SKIP_FRAMES = ("pathlib", "run_reads_probe.py", "<frozen")

bypasses: list[str] = []
resolve_calls = [0]


def _sftcheck_caller() -> str | None:
    """The innermost caller outside pathlib and this probe, when it is sftcheck code other
    than the one reader."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        f = frame.filename
        if any(s in f for s in SKIP_FRAMES):
            continue
        ours = f.startswith(OURS) and "/tests/" not in f and "/site-packages/" not in f
        return f"{f}:{frame.lineno}" if ours and not f.endswith("run_files.py") else None
    return None


def _watch(path) -> None:
    name = os.path.basename(str(path))
    if name in WATCHED:
        caller = _sftcheck_caller()
        if caller:
            bypasses.append(f"{path} read by {caller}")


def install() -> None:
    orig_open, orig_text, orig_bytes = builtins.open, pathlib.Path.read_text, pathlib.Path.read_bytes
    orig_resolve = hooks.resolve

    def open_(file, *a, **k):
        if isinstance(file, (str, os.PathLike)):
            _watch(file)
        return orig_open(file, *a, **k)

    def read_text(self, *a, **k):
        _watch(self)
        return orig_text(self, *a, **k)

    def read_bytes(self):
        _watch(self)
        return orig_bytes(self)

    def resolve(cfg):
        resolve_calls[0] += 1
        return orig_resolve(cfg)

    builtins.open, pathlib.Path.read_text, pathlib.Path.read_bytes = open_, read_text, read_bytes
    hooks.resolve = resolve


def pytest_configure(config) -> None:
    install()


def pytest_sessionfinish(session) -> None:
    from sftcheck.session_state import sft_session

    run = sft_session(session.config).run
    out = {"reads": dict(run.files.reads) if run else {}, "bypasses": bypasses,
           "resolve_calls": resolve_calls[0]}
    pathlib.Path(os.environ["SFTCHECK_READS_OUT"]).write_text(json.dumps(out, indent=1))
