"""Turn a ``CheckResult`` into a pytest outcome that reads as the diagnosis."""
from __future__ import annotations

import warnings

import pytest

from checks.result import CheckResult, Status


class SftcheckWarning(UserWarning):
    """A check passed with a warning (shown in pytest's warnings summary and the report)."""


def assert_result(result: CheckResult) -> None:
    __tracebackhide__ = True
    if result.status is Status.SKIP:
        pytest.skip(f"{result.id}: {result.explanation}")
    if result.status is Status.WARN:
        warnings.warn(SftcheckWarning(result.summary()), stacklevel=2)
        return
    if result.status.is_bad:
        pytest.fail(result.summary(), pytrace=False)
