"""Check registry: every check is a function decorated with ``@check``.

The decorator records the stable dotted id, the stage (pytest marker), a title and the
default thresholds, so a result can say exactly what produced it and a user can skip or
re-threshold a check by id in the run config.  It also turns an unexpected exception
inside a check into an ``error`` result with the traceback as evidence: a broken input
never becomes a pytest INTERNALERROR.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sftcheck.checks.support.result import CheckResult, Status, Text

# The stages, in report order, with the text of their pytest markers.  A check declares its
# stage once (``@check(stage=...)``); the plugin marks each model test from it.
STAGE_DOCS = {
    "pretrain": "pre-training gate: tokenizer, data, label masks, prompt formats (no GPU)",
    "gap": "the gap before training: base, reference and alternative models side by side (no adapter needed)",
    "artifact": "checkpoint files: adapter headers, config, tokenizer (no weights loaded)",
    "training": "training log sanity",
    "behaviour": "generations of the tuned model (one shared generation pass)",
    "gate": "base-vs-tuned statistical gates",
    "perf": "throughput",
}
STAGES = tuple(STAGE_DOCS)


@dataclass(frozen=True)
class CheckSpec:
    id: str
    stage: str
    title: str
    defaults: Mapping[str, Any]
    doc: str
    area: str = ""        # the module (or package) under ``sftcheck.checks`` that defines it
    function: str = ""    # its function name there (model test ``test_<area>.py::test_<function>``)


REGISTRY: dict[str, CheckSpec] = {}


class UnknownThreshold(ValueError):
    pass


def check(check_id: str, *, stage: str, title: str) -> Callable:
    """Register ``fn`` as check ``check_id``.

    Default thresholds are the function's keyword-only parameters with defaults; the run
    config may override exactly those (``[gates."<id>"]``).
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")

    def decorate(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        sig = inspect.signature(fn)
        defaults = {n: p.default for n, p in sig.parameters.items()
                    if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
        spec = CheckSpec(check_id, stage, title, defaults, inspect.getdoc(fn) or "",
                         area=area_of(fn.__module__), function=fn.__name__)
        if check_id in REGISTRY and REGISTRY[check_id].title != title:
            raise ValueError(f"check id {check_id!r} registered twice")
        REGISTRY[check_id] = spec

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> CheckResult:
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a check must never crash the run
                return CheckResult(
                    id=check_id, status=Status.ERROR, value=type(exc).__name__, threshold=None,
                    explanation=f"The check could not run: {type(exc).__name__}: {exc}",
                    fix="Read the traceback below; if the input is valid, report a bug in sftcheck.",
                    evidence=(Text("traceback", traceback.format_exc()),),
                )
            if not isinstance(result, CheckResult) or result.id not in ("", check_id):
                raise TypeError(f"check {check_id!r} returned {result!r}")
            return dataclasses.replace(result, id=check_id)  # the one place a result gets its id

        run.spec = spec  # type: ignore[attr-defined]
        return run

    return decorate


def area_of(module: str) -> str:
    """The area of a check module: ``sftcheck.checks.<area>`` or a module of the package
    ``sftcheck.checks.<area>`` (``sftcheck.checks.behaviour.outputs`` -> ``behaviour``)."""
    _, sep, tail = module.partition("sftcheck.checks.")
    return tail.split(".")[0] if sep else module.rpartition(".")[2]


def spec_for(area: str, function: str) -> CheckSpec | None:
    """The check defined as ``function`` in ``sftcheck.checks.<area>`` (None if there is none)."""
    return next((s for s in REGISTRY.values() if s.area == area and s.function == function), None)


def see(check_id: str) -> str:
    """A reference to another check in an explanation or fix: ``see("labels.eos_trained")``.

    Returns the id as written; ``tests/test_registry.py`` checks statically that every
    target is a registered check, so a renamed or misspelt id fails a self-test instead
    of sending the reader to a check that does not exist.
    """
    return check_id


def thresholds_for(check_id: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Validate config overrides for one check; unknown names raise ``UnknownThreshold``."""
    spec = REGISTRY[check_id]
    unknown = sorted(set(overrides) - set(spec.defaults))
    if unknown:
        known = ", ".join(sorted(spec.defaults)) or "none"
        raise UnknownThreshold(f"{check_id} has no threshold {', '.join(unknown)} (known: {known})")
    return dict(overrides)


def load_all() -> dict[str, CheckSpec]:
    """Import every module of the ``checks`` package so that all checks are registered."""
    import importlib
    import pkgutil
    from pathlib import Path

    areas = Path(__file__).resolve().parents[1]  # checks/ (installed: sftcheck/checks/)
    for mod in pkgutil.iter_modules([str(areas)]):
        if mod.name != "support":  # the areas (a module, or a package of modules); ``support`` holds helpers
            importlib.import_module(f"sftcheck.checks.{mod.name}")
    return REGISTRY
