"""Turn a ``CheckResult`` into a pytest outcome that reads as the diagnosis."""
from __future__ import annotations

import warnings
from typing import NoReturn

import pytest

from sftcheck.checks.support.result import CheckResult, Status


class SftcheckWarning(UserWarning):
    """A check passed with a warning (shown in pytest's warnings summary and the report)."""


def assert_result(result: CheckResult, *, fail_on_warn: bool = False) -> None:
    __tracebackhide__ = True
    if result.status is Status.SKIP:
        pytest.skip(f"{result.id}: {result.explanation}")
    if result.status is Status.WARN and fail_on_warn:
        pytest.fail(result.summary() + "\n(failing: --sft-fail-on warn)", pytrace=False)
    if result.status is Status.WARN:
        warnings.warn(SftcheckWarning(result.summary()), stacklevel=2)
        return
    if result.status.is_bad:
        pytest.fail(result.summary(), pytrace=False)


def setup_failure(message: str) -> NoReturn:
    """Fail a fixture with a message that reads as the diagnosis: no traceback and no chain of
    the library exceptions it was raised from (the message already names cause and fix)."""
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None
