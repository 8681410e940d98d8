"""``--sft-redact-paths``: shorten local paths in what a report shares (HTML, JSON, Markdown).

The run config's folder becomes ``<config>`` and the home folder ``~`` (the config folder
first: it usually lies under home).  Applied to finished text and to JSON-like data, so no
renderer has to remember it.
"""
from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class Redactor:
    def __init__(self, config_dir: Path | None, home: Path | None = None) -> None:
        pairs = []
        if config_dir is not None:
            pairs.append((str(config_dir.resolve()), "<config>"))
        home = Path.home() if home is None else home
        if str(home) not in ("/", ""):
            pairs.append((str(home), "~"))
        self.pairs = [(p, r) for p, r in pairs if len(p) > 1]

    def text(self, s: str) -> str:
        for path, repl in self.pairs:
            s = s.replace(path, repl)
        return s

    def html(self, s: str) -> str:
        """Markup in which the paths appear escaped (``esc``)."""
        for path, repl in self.pairs:
            s = s.replace(html.escape(path, quote=True), html.escape(repl, quote=True))
        return s

    def deep(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v) for v in value]
        return value


def for_config(source: str | None) -> Redactor:
    folder = Path(source).resolve().parent if source and Path(source).is_file() else None
    return Redactor(folder)
