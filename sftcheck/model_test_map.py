"""Which check a model test runs: ``model_tests/test_<area>.py::test_<name>`` runs
``sftcheck.checks.<area>.<name>`` (the plugin's stage markers and ``sft_inputs`` use it)."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sftcheck.checks.support.registry import CheckSpec, load_all, spec_for


def model_test_spec(item: Any) -> CheckSpec | None:
    """The check a model test (a collected pytest item) runs; None for any other test."""
    path = Path(str(getattr(item, "path", "")))
    func = getattr(item, "originalname", item.name)
    if path.parent.name != "model_tests" or not path.stem.startswith("test_") or not func.startswith("test_"):
        return None
    load_all()
    return spec_for(path.stem.removeprefix("test_"), func.removeprefix("test_"))


def check_id_of(item: Any) -> str | None:
    spec = model_test_spec(item)
    return spec.id if spec is not None else None


def check_fn_of(spec: CheckSpec) -> Callable:
    """The check function a spec registers."""
    return getattr(importlib.import_module(f"sftcheck.checks.{spec.area}"), spec.function)
