"""The ``sftcheck run --help`` epilog, generated from the plugin's options and the stages, so
it cannot drift from what pytest accepts."""
from __future__ import annotations

import textwrap
from typing import Any


class _Recorder:
    """Stands in for pytest's parser: records ``addoption`` calls."""

    def __init__(self) -> None:
        self.options: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def getgroup(self, *args: Any, **kwargs: Any) -> _Recorder:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.options.append((names, kwargs))

    def addini(self, *args: Any, **kwargs: Any) -> None:
        pass


def plugin_options() -> list[tuple[str, str]]:
    """(flag with metavar, help) of every ``--sft-*`` option."""
    from sftcheck import plugin

    rec = _Recorder()
    plugin.pytest_addoption(rec)  # type: ignore[arg-type]
    out = []
    for names, kw in rec.options:
        flag = names[0] + (f" {kw['metavar']}" if kw.get("metavar") else "")
        help_text = str(kw.get("help", ""))
        try:
            help_text = help_text % {"default": kw.get("default")}
        except (TypeError, ValueError, KeyError):
            pass
        out.append((flag, help_text))
    return out


def run_epilog() -> str:
    from sftcheck.checks.support.registry import STAGE_DOCS

    wrap = textwrap.TextWrapper(width=96, initial_indent="    ", subsequent_indent="    ")
    lines = ["stages (select with -m, e.g. -m pretrain or -m \"artifact or training\"):"]
    lines += [f"  {stage:<10} {doc}" for stage, doc in STAGE_DOCS.items()]
    lines += ["", ("overrides and report options (pytest options of the sftcheck plugin; they win over "
                   "the config file):")]
    for flag, help_text in plugin_options():
        lines.append(f"  {flag}")
        lines.extend(wrap.wrap(help_text))
    lines += ["", "Every other option goes to pytest unchanged, e.g. -m STAGES, -k EXPR, -x, -q,",
              "--junitxml=PATH (check id, stage, status, value, threshold as properties per test).",
              "Exit status: 0 pass/warn, 1 fail (or warn with --fail-on warn), 2 interrupted,",
              "4 usage error (no report is written; an earlier one at the path is marked)."]
    return "\n".join(lines)
