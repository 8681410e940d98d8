"""The one function that builds the run's stop set (``checks.support.stops.StopSet``).

Stop token ids, first source that says anything:

1. what the run config names for the server: ``[format] stop_ids`` and/or the
   ``eos_token_id`` of ``[format] generation_config`` (both, when both are set);
2. else the checkpoint's own ``generation_config.json`` ``eos_token_id`` (the fully
   fine-tuned model's folder, then the adapter's, then the base's), then its ``config.json``;
3. else the loaded model's in-memory ``generation_config`` (API callers without a config);
4. else the tokenizer's EOS.

Stop strings are ``[format] stop_strings``.  The session builds it once (``sft_stop_set``);
the generation engine stops on exactly it, ``format.stop_tokens`` judges exactly it, and
scoring reads each generation up to its first stop.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sftcheck.checks.support.stops import StopSet


class StopSetError(ValueError):
    """A file the stop set comes from cannot be read; the message names it and the fix."""


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _eos_ids(data: Any, where: str) -> list[int] | None:
    eos = data.get("eos_token_id") if isinstance(data, dict) else None
    if eos is None:
        return None
    values = eos if isinstance(eos, list) else [eos]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise StopSetError(f"{where}: eos_token_id = {eos!r} is not an id or a list of ids. "
                           "Fix: write an integer or a list of integers.")
    return [int(v) for v in values]


def _file(path: Path, read_json: Callable[[Path], Any], fix: str) -> Any:
    try:
        return read_json(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise StopSetError(f"{path}: cannot read it ({type(exc).__name__}: {exc}). Fix: {fix}") from exc


def build_stop_set(cfg, tokenizer, *, model=None,
                   read_json: Callable[[Path], Any] = _read_json) -> StopSet:
    """The stop set of a run (see the module docstring for the order of sources)."""
    f = cfg.format if cfg is not None else None
    ids: dict[int, str] = {}
    if f is not None and f.stop_ids:
        for i in f.stop_ids:
            ids.setdefault(int(i), "[format] stop_ids")
    if f is not None and f.generation_config:
        path = Path(f.generation_config)
        data = _file(path, read_json, "point [format] generation_config at the generation_config.json "
                                      "your server loads.")
        found = _eos_ids(data, f"{path}") or []
        if not found and not f.stop_ids:
            raise StopSetError(f"{path}: has no eos_token_id, so it names no stop token. Fix: add "
                               "eos_token_id to it, or set [format] stop_ids.")
        for i in found:
            ids.setdefault(i, f"[format] generation_config {path} eos_token_id")
    if not ids and cfg is not None:
        ids = _from_checkpoint(cfg, read_json)
    if not ids and model is not None:
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        for i in (eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else []):
            ids.setdefault(int(i), "the model's generation_config eos_token_id")
    if not ids and getattr(tokenizer, "eos_token_id", None) is not None:
        ids[int(tokenizer.eos_token_id)] = "tokenizer.eos_token_id"
    strings = tuple(f.stop_strings) if f is not None else ()
    return StopSet(ids=tuple(sorted(ids)), strings=strings, id_sources=ids,
                   string_sources={s: "[format] stop_strings" for s in strings})


def _from_checkpoint(cfg, read_json: Callable[[Path], Any]) -> dict[int, str]:
    m = cfg.model
    folders = [Path(p) for p in (m.finetuned, m.adapter, m.base) if p and Path(p).is_dir()]
    for name in ("generation_config.json", "config.json"):
        for folder in folders:
            path = folder / name
            if not path.is_file():
                continue
            data = _file(path, read_json, "repair the file, or name the serving stop set with [format] "
                                          "generation_config / stop_ids.")
            found = _eos_ids(data, str(path))
            if found:
                return {i: f"{path} eos_token_id" for i in found}
    return {}


def end_markers(stops: StopSet, tokenizer) -> tuple[str, ...]:
    """The strings a generation is read up to: the stop set's tokens and strings, plus the
    end-of-turn tokens of this vocabulary the stop set misses (a run-on past one of them is
    reported, not scored)."""
    from sftcheck.checks.support.spans import end_token_ids

    ids = sorted(set(stops.ids) | set(end_token_ids(tokenizer)))
    names = [str(tokenizer.convert_ids_to_tokens(int(i))) for i in ids]
    return tuple(dict.fromkeys([*names, *stops.strings]))
