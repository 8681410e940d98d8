"""A Python function as a scorer (``[scoring] scorer = "module:function"``).

The call form is ``sftcheck.hooks.Scorer``'s (the one interpreter of the hook): row form
``scorer(row, output)`` when the first parameter is named ``row`` / ``example`` / …,
else text form ``scorer(output_text, example_dict)``.  The value is a reward or a table of
named components (``records.parse_reward``); an exception is that record's error.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sftcheck.scorers.records import RewardFormatError, ScoreRequest, ScoringRun, parse_reward
from sftcheck.user_traceback import user_traceback


def as_hook_scorer(fn: Callable[..., Any], spec: str):
    """A plain function as ``sftcheck.hooks.Scorer`` (its form detected by signature)."""
    from sftcheck.hooks import Hook, Scorer, hook_form

    return Scorer(Hook("scorer", spec, fn, hook_form("scorer", fn)))


class InProcessScorer:
    """Calls the scorer hook once per record, in this process."""

    def __init__(self, scorer: Any, spec: str | None = None):
        self.scorer = scorer if hasattr(scorer, "value") else as_hook_scorer(scorer, spec or repr(scorer))

    @property
    def row_form(self) -> bool:
        return self.scorer.hook.row_form

    @property
    def name(self) -> str:
        form = "scorer(row, output)" if self.row_form else "scorer(output_text, example)"
        return f"[scoring] scorer = {self.scorer.hook.spec!r} ({form})"

    def score(self, requests: Sequence[ScoreRequest]) -> ScoringRun:
        run = ScoringRun(self.name, requested=len(requests))
        t0 = time.perf_counter()
        for req in requests:
            try:
                value = self.scorer.value(req.output, req.row if req.row is not None else dict(req.example))
            except Exception as exc:  # noqa: BLE001 - the user's scorer raised: a finding
                cause = exc.__cause__ or exc
                tb = user_traceback(cause)
                run.errors[req.id] = f"{exc}\n{tb}"
                continue
            try:
                run.rewards[req.id] = parse_reward(value)
            except RewardFormatError as exc:
                run.errors[req.id] = f"returned an unusable value: {exc}"
        run.seconds = time.perf_counter() - t0
        if requests and not run.rewards:
            first = next(iter(run.errors.values()), "")
            run.fatal = f"every call failed; first: {first.splitlines()[0] if first else '?'}"
        return run
