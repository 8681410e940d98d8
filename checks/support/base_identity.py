"""The base model's identity: one type (``BaseInfo``) built once per session from the run
config and the run's files, and one matcher (``match_base``) that says whether, and how
surely, a recorded base name (``adapter_config.json`` ``base_model_name_or_path``) is the
configured base.

``artifact.base_match`` and ``gate.contamination`` both judge the recorded base with
``match_base``; they differ only in what they ask of the answer (see ``match_base``).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any


@dataclass(frozen=True)
class BaseInfo:
    """What is known about the configured base, from the run config and its files (headers
    and small JSON files; no weights)."""
    configured: str | None            # [model] base as written / resolved (None: no base configured)
    resolved_path: str | None = None  # a local folder, if it is one
    declared_id: str | None = None    # [model] base_id
    config_name: str | None = None    # the base config.json's _name_or_path
    shapes: Mapping[str, tuple[int, ...]] | None = None  # weight name -> shape
    shapes_source: str = ""           # "safetensors headers" / "meta-device model"
    config: Mapping[str, Any] = field(default_factory=dict)  # the base config.json
    recorded_only: bool = False       # the base is only the adapter's record, not configured
    recorded: str | None = None       # adapter_config.json base_model_name_or_path
    chat_template: str | None = None  # where the base folder ships a chat template, if it does

    def names(self) -> list[str]:
        return [n for n in (self.configured, self.resolved_path, self.declared_id, self.config_name) if n]

    def identity_known(self) -> bool:
        """The configured base has a name to compare with: a hub id, [model] base_id or its
        config's ``_name_or_path`` (a bare local folder does not say what it is)."""
        return bool(self.declared_id or self.config_name or (self.configured and self.resolved_path is None))


# How a recorded name matched one of the base's names, surest first.  The first three
# confirm the identity; "same model name" (a hub id and a folder of that name) only suggests it.
SAME_NAME, SAME_FOLDER, HUB_SNAPSHOT, SAME_MODEL_NAME = ("same name", "same folder", "hub cache snapshot",
                                                        "same model name")
CONFIRMED = (SAME_NAME, SAME_FOLDER, HUB_SNAPSHOT)


@dataclass(frozen=True)
class BaseMatch:
    name: str    # the base's name that matched
    source: str  # where that name comes from ("[model] base", "[model] base_id", ...)
    how: str     # SAME_NAME / SAME_FOLDER / HUB_SNAPSHOT / SAME_MODEL_NAME

    @property
    def confirmed(self) -> bool:
        return self.how in CONFIRMED


def _sources(base: BaseInfo, config_name: bool) -> list[tuple[str, str]]:
    out = [("[model] base", base.configured), ("[model] base folder", base.resolved_path),
           ("[model] base_id", base.declared_id)]
    if config_name:
        out.append(("base config.json _name_or_path", base.config_name))
    return [(s, str(n)) for s, n in out if n]


def _hub_id_of_snapshot(name: str) -> str | None:
    """``org/name`` of a Hugging Face cache path (``…/models--org--name/snapshots/<sha>``)."""
    for part in PurePath(name).parts:
        if part.startswith("models--"):
            return part[len("models--"):].replace("--", "/")
    return None


def _is_hub_id(name: str) -> bool:
    return "/" in name and not name.startswith(("/", ".", "~"))


def _model_names(name: str) -> set[str]:
    """The model's own name in lower case: the last path component, a hub id's name part,
    a cache snapshot's model name."""
    out = {PurePath(name).name.lower()}
    snap = _hub_id_of_snapshot(name)
    if snap:
        out.add(snap.split("/")[-1].lower())
    return {n for n in out if n and n != "snapshots"}


def _same_folder(a: str, b: str) -> bool:
    try:
        return Path(a).exists() and Path(b).exists() and Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _how(recorded: str, name: str) -> str | None:
    rec, n = recorded.rstrip("/"), name.rstrip("/")
    if rec == n:
        return SAME_NAME
    if Path(rec).is_absolute() and _same_folder(rec, n):  # a relative record is relative to an unknown cwd
        return SAME_FOLDER
    snap_n, snap_r = _hub_id_of_snapshot(n), _hub_id_of_snapshot(rec)
    if (_is_hub_id(rec) and snap_n == rec) or (_is_hub_id(n) and snap_r == n) or (snap_r and snap_r == snap_n):
        return HUB_SNAPSHOT
    if rec.lower() == n.lower() or _model_names(rec) & _model_names(n):
        return SAME_MODEL_NAME
    return None


def match_base(recorded: str, base: BaseInfo, *, config_name: bool = True) -> BaseMatch | None:
    """Whether ``recorded`` names the configured base, and how surely: the surest match over
    the base's names (the configured value, its folder, ``[model] base_id`` and, with
    ``config_name``, its config.json ``_name_or_path``), or ``None``.

    ``artifact.base_match`` accepts only a ``confirmed`` match.  ``gate.contamination``
    fails only on no match at all, and leaves out ``_name_or_path``: a model saved from
    another (a merge) keeps its parent's ``_name_or_path``, so it cannot vouch that the
    configured base is the model the adapter was trained on.
    """
    found = [BaseMatch(n, s, how) for s, n in _sources(base, config_name) if (how := _how(recorded, n))]
    confirmed = [m for m in found if m.confirmed]
    return (confirmed or found or [None])[0]
