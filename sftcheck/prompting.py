"""Importing the user's scoring hooks from the run config.

Prompt building itself goes through ``sftcheck.hooks`` (the same prompt-builder hook the
pre-training gate checks; see ``sftcheck.session_model.build_prompts``).  This module
adapts its importer for keys outside ``[format]`` such as ``[scoring] scorer``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sftcheck.config import Config
from sftcheck.hooks import HookError

__all__ = ["HookError", "import_hook", "load_scorer"]


def import_hook(spec: str, key: str, cfg: Config) -> Callable:
    """Import ``module:function`` (or ``file.py:function`` relative to the config's folder)
    for config key ``key`` (e.g. ``"[scoring] scorer"``)."""
    from sftcheck import hooks

    src = Path(cfg.source)
    base_dir = src.resolve().parent if src.exists() else Path.cwd()
    short = key.split("]")[-1].strip()
    try:
        return hooks.import_hook(spec, key=short, base_dir=base_dir, source=cfg.source)
    except HookError as exc:
        raise HookError(str(exc).replace(f"[format] {short}", key)) from None


def load_scorer(cfg: Config) -> Callable[[str, dict], float] | None:
    """``[scoring] scorer``: ``f(output_text, example_dict) -> float``, or None."""
    return import_hook(cfg.scoring.scorer, "[scoring] scorer", cfg) if cfg.scoring.scorer else None
