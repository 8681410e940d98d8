"""When an artifact check's input is unavailable: one SKIP naming the root cause, so a
missing or broken file fails only the check that owns it (``artifact.adapter_files``,
``artifact.safetensors_valid``, ``artifact.config_valid``) instead of every check; and the
ERROR for a configured base that cannot be read at all."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sftcheck.checks.support.base_identity import BaseInfo
from sftcheck.checks.support.lora_layout import Unreadable
from sftcheck.checks.support.registry import see
from sftcheck.checks.support.result import CheckResult, Status
from sftcheck.checks.support.safetensors_header import Header, HeaderError

WEIGHTS_GONE = (f"Fix the adapter files first (see {see('artifact.adapter_files')} / "
                f"{see('artifact.safetensors_valid')}).")


def why_unavailable(x: Any, payload: bool = False) -> str | None:
    """Why input ``x`` cannot be checked, or ``None`` if it can.

    Missing (``None``) and unreadable inputs, an adapter config with an unusable rank, and
    (``payload``: for checks that read tensor payloads) a header with problems.
    """
    if x is None or (isinstance(x, BaseInfo) and not x.configured):
        return "not configured"
    if isinstance(x, (Unreadable, HeaderError)):
        return x.reason if isinstance(x, Unreadable) else str(x)
    if isinstance(x, Mapping) and not (isinstance(x.get("r"), int) and x.get("r", 0) > 0):
        return f"adapter_config.json has r = {x.get('r')!r} (see {see('artifact.config_valid')})"
    if payload and isinstance(x, Header) and x.problems():
        return f"{x.path.name}: {x.problems()[0][1]} (see {see('artifact.safetensors_valid')})"
    return None


def unavailable(*inputs: Any, payload: bool = False) -> CheckResult | None:
    """A SKIP for the first unavailable input (see ``why_unavailable``), else ``None``."""
    for x in inputs:
        why = why_unavailable(x, payload)
        if why:
            return CheckResult(Status.SKIP, None, None, f"Input unavailable: {why}", WEIGHTS_GONE)
    return None


def base_not_found(base: BaseInfo, threshold: str) -> CheckResult | None:
    """An ERROR when a base is configured but neither a local folder nor readable: nothing
    about the adapter can be checked against it, so the stage must not pass.  A base that is
    only the adapter's record (not configured) and absent here is a SKIP with the reason (in
    ``artifact.base_match``): the documented no-weights CI stage runs without the base."""
    if base.recorded_only or not (base.shapes is None and base.resolved_path is None and base.configured):
        return None
    return CheckResult(Status.ERROR, "base not found", threshold,
                       f"The configured base {base.configured!r} could not be read: {base.shapes_source}. "
                       "Nothing about the adapter was checked against it (shapes, identity), so this stage "
                       "cannot pass.",
                       "Point [model] base at the base model's folder (relative paths are relative to the "
                       "config file), or at a hub id already in the local Hugging Face cache "
                       "(huggingface-cli download <id> first).", metrics={"configured_base": base.configured})
