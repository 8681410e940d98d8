"""Inference prompts as the user serves them, and the user's own hooks.

The prompt comes from (first match): ``[format] prompt_builder`` (``module:function(question)
-> str``), ``[format] prompt_template`` (``str.format`` with ``{question}``), or the
tokenizer's chat template when ``[format] chat = true`` (with ``[format] system_prompt``).
A chat-rendered prompt that already starts with BOS is tokenized without adding another.
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sftcheck.config import Config
from sftcheck.generation import Prompt


class HookError(ValueError):
    """A configured ``module:function`` cannot be imported or called; names key and fix."""


def import_hook(spec: str, key: str, cfg: Config) -> Callable:
    """Import ``module:function``; the config's folder and the cwd are searched too."""
    if ":" not in spec:
        raise HookError(f"{cfg.source}: {key} = {spec!r} is not an import path. "
                        "Fix: write it as 'package.module:function'.")
    module_name, func_name = spec.split(":", 1)
    extra = [str(Path(cfg.source).parent)] if Path(cfg.source).exists() else []
    extra.append(str(Path.cwd()))
    for folder in extra:
        if folder not in sys.path:
            sys.path.append(folder)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - re-raised with the fix
        raise HookError(f"{cfg.source}: {key} = {spec!r}: cannot import {module_name!r} "
                        f"({type(exc).__name__}: {exc}). Fix: make the module importable "
                        "(install it, or put it next to the config file).") from exc
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise HookError(f"{cfg.source}: {key} = {spec!r}: {module_name} has no function "
                        f"{func_name!r}. Fix: correct the name.")
    return fn


def prompt_source(cfg: Config) -> str:
    f = cfg.format
    if f.prompt_builder:
        return f"[format] prompt_builder = {f.prompt_builder}"
    if f.prompt_template:
        return f"[format] prompt_template = {f.prompt_template!r}"
    if f.chat:
        return "the tokenizer's chat template ([format] chat = true)"
    return "no prompt format configured: the raw question"


def build_prompts(cfg: Config, tokenizer, rows: Sequence, *, raw: bool = False) -> list[Prompt]:
    """One ``Prompt`` per row (``row.id``, ``row.question``).  ``raw=True`` gives the bare
    question with no format cue (the sentinel's control condition)."""
    f = cfg.format
    if raw:
        return [Prompt(r.id, r.question) for r in rows]
    if f.prompt_builder:
        builder = import_hook(f.prompt_builder, "[format] prompt_builder", cfg)
        out = []
        for r in rows:
            try:
                text = builder(r.question)
            except Exception as exc:  # noqa: BLE001 - re-raised with the fix
                raise HookError(f"{cfg.source}: [format] prompt_builder {f.prompt_builder} raised "
                                f"{type(exc).__name__}: {exc} on example {r.id!r}. Fix: the hook "
                                "must accept the question string and return the prompt.") from exc
            if not isinstance(text, str):
                raise HookError(f"{cfg.source}: [format] prompt_builder returned "
                                f"{type(text).__name__}, not str. Fix: return the prompt text.")
            out.append(Prompt(r.id, text))
        return out
    if f.prompt_template:
        try:
            return [Prompt(r.id, f.prompt_template.format(question=r.question)) for r in rows]
        except (KeyError, IndexError) as exc:
            raise HookError(f"{cfg.source}: [format] prompt_template has a placeholder other than "
                            f"{{question}} ({exc}). Fix: use {{question}} only (double other braces).") \
                from exc
    if f.chat:
        if not getattr(tokenizer, "chat_template", None):
            raise HookError(f"{cfg.source}: [format] chat = true but the tokenizer has no chat "
                            "template. Fix: save the template with the tokenizer, or set "
                            "[format] prompt_template.")
        out = []
        bos = getattr(tokenizer, "bos_token", None)
        for r in rows:
            messages = ([{"role": "system", "content": f.system_prompt}] if f.system_prompt else [])
            messages.append({"role": "user", "content": r.question})
            text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            out.append(Prompt(r.id, text, add_special_tokens=not (bos and text.startswith(bos))))
        return out
    return [Prompt(r.id, r.question) for r in rows]
