"""Importing the user's hooks: ``"module:function"`` (a dotted module or a ``.py`` path
relative to the config file), the hook's form (row or text) read from its signature, and
the contracts sftcheck calls them with (``HOOK_CONTRACTS``)."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class HookError(ValueError):
    """A hook named in the config cannot be imported; the message has file, key, fix."""


# First-parameter names that mark the row form of a hook.
ROW_NAMES = frozenset({"row", "example", "sample", "record", "item", "ex", "doc",
                       "rows", "examples", "batch", "features"})

HOOK_CONTRACTS = (
    ("train_formatter",
     ("`f(row, tokenizer) -> {\"input_ids\", \"labels\"}` (row form: `row` is the whole data-file "
     "row as a dict), or `f(question, answer, tokenizer)` (text form); either may return the "
     "whole training text (`str`) instead: it is tokenized and trained everywhere unless your "
     "collator masks it. Labels are -100 where not trained. Detected as the row form when the "
     "first parameter is named row / example / sample / record / item / ex / doc, or when it "
     "takes exactly two parameters.")),
    ("prompt_builder",
     ("`f(row, tokenizer)` or `f(row)` (row form), or `f(question)` / `f(question, tokenizer=...)` "
     "(text form) `-> str | list[int]`: the served prompt text (tokenized as `tokenizer(text)`) "
     "or its ids.")),
    ("collator",
     ("`f(rows, tokenizer)` or `f(rows)` `-> {\"input_ids\", \"labels\", ...}` (padded lists or "
     "tensors); `rows` are the formatter's outputs of one batch, as a trainer passes them. Rows "
     "are read back without padding through `attention_mask` when present.")),
    ("answer_parser", "`f(text) -> str | None`: the answer in a generation (default: `answer_pattern`)."),
    ("scorer",
     ("`f(row, output) -> float` (row form: the whole eval row dict and the generated text) or "
     "`f(output_text, example)` (text form: `{\"id\", \"question\", \"answer\", \"gold\"}`).")),
)


@dataclass(frozen=True)
class Hook:
    key: str          # the config key, e.g. "train_formatter"
    spec: str         # "module:function" or "builtin:..."
    fn: Callable[..., Any]
    form: str = "text"  # "row" (the whole data row), "text" (strings) or "builtin"

    @property
    def label(self) -> str:
        return f"{self.key} = {self.spec}"

    @property
    def row_form(self) -> bool:
        return self.form == "row"

    def accepts(self, name: str) -> bool:
        try:
            params = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):
            return False
        return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def positional(self) -> int:
        """Required positional parameters of the hook (a ``*args`` hook takes any number)."""
        return _required_positional(self.fn)


def _required_positional(fn: Callable[..., Any]) -> int:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 99
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in params)


def hook_form(key: str, fn: Callable[..., Any]) -> str:
    """``"row"`` or ``"text"``: the row form takes the whole data row first (detected by the
    first parameter's name; a ``train_formatter`` with exactly two parameters is the row form)."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return "text"
    if params and params[0].name in ROW_NAMES:
        return "row"
    if key == "train_formatter" and _required_positional(fn) == 2:
        return "row"
    return "text"


def import_hook(spec: str, *, key: str, base_dir: Path, source: str,
                section: str = "format") -> Callable[..., Any]:
    """Import ``module:function`` for config key ``[section] key``; ``module`` may be a
    ``.py`` path relative to ``base_dir``."""
    if ":" not in spec:
        raise HookError(f"{source}: [{section}] {key} = {spec!r} is not 'module:function'. "
                        "Fix: write e.g. 'mypkg.train:format_example' or 'hooks.py:format_example'.")
    module_name, _, attr = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise HookError(f"{source}: [{section}] {key} = {spec!r}: {path} does not exist. "
                                f"Fix: correct the path (relative to {base_dir}).")
            unique = f"sftcheck_hook_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(unique)
            if module is None:
                mspec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(mspec)  # type: ignore[arg-type]
                sys.modules[unique] = module
                mspec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if str(base_dir) not in sys.path:
                sys.path.append(str(base_dir))
            module = importlib.import_module(module_name)
    except HookError:
        raise
    except Exception as exc:
        raise HookError(f"{source}: [{section}] {key} = {spec!r}: importing {module_name!r} failed: "
                        f"{type(exc).__name__}: {exc}. Fix: make the module importable from "
                        f"{base_dir} (or give a .py file path).") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise HookError(f"{source}: [{section}] {key} = {spec!r}: {module_name!r} has no callable "
                        f"{attr!r}. Fix: name an existing function.")
    return fn


def base_dir(cfg) -> Path:
    """The folder hook paths are relative to: the config file's."""
    src = Path(cfg.source)
    return src.resolve().parent if src.exists() else Path.cwd()
