"""Scorer backends: one interface for a Python function, an HTTP endpoint and an MCP tool.

A backend has a ``name`` (what it is, in words) and ``score(requests) -> ScoringRun``:
every ``ScoreRequest`` (id, prompt, output, example) gets a ``Reward`` (total, named
components, message) or an error; a run that fails half-way keeps what it received.
``score_generations`` scores the base and tuned outputs of a session in one pass.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from sftcheck.scorers.records import (
    Reward,
    RewardFormatError,
    ScoreRequest,
    ScorerError,
    ScoringRun,
    parse_reward,
)
from sftcheck.scorers.spec import build, describe, validate

__all__ = ["Reward", "RewardFormatError", "ScoreRequest", "Scorer", "ScorerError", "ScoringRun", "build",
           "describe", "example_record", "parse_reward", "score_generations", "split_run", "validate"]


class Scorer(Protocol):
    name: str

    def score(self, requests: Sequence[ScoreRequest]) -> ScoringRun: ...


def example_record(example: Any) -> dict[str, Any]:
    """The JSON example sent to a remote scorer: ``id``, ``question``, ``answer`` (the training
    target) and ``gold`` (the answer scoring compares with), or a plain dict as given."""
    if isinstance(example, Mapping):
        return dict(example)
    return {"id": example.id, "question": example.question, "answer": example.answer,
            "gold": getattr(example, "gold_answer", example.answer)}


def score_generations(backend: Scorer, generations: Mapping[str, Any], examples: Mapping[str, Any],
                      extra: Mapping[str, Sequence[ScoreRequest]] | None = None) -> dict[str, ScoringRun]:
    """Score every variant's outputs (``{"base": GenerationSet, "tuned": ...}``) in one backend
    pass (one server session); returns one ``ScoringRun`` per variant, keyed by example id.
    ``examples``: ``{id: Example}`` (or plain dicts).  ``extra``: more requests scored in the
    same pass (``{"labels": [...]}``: the human-labelled outputs), returned under their name."""
    requests: list[ScoreRequest] = []
    for variant, gens in generations.items():
        for g in gens.items:
            ex = examples.get(g.id)
            record = example_record(ex) if ex is not None else {"id": g.id}
            requests.append(ScoreRequest(f"{variant}/{g.id}", g.prompt, g.text, record,
                                         row=ex if ex is not None and not isinstance(ex, Mapping) else None))
    sizes = {v: len(g.items) for v, g in generations.items()}
    for name, reqs in (extra or {}).items():
        requests += [replace(r, id=f"{name}/{r.id}") for r in reqs]
        sizes[name] = len(reqs)
    run = backend.score(requests)
    return split_run(run, list(sizes), sizes)


def split_run(run: ScoringRun, variants: Sequence[str], sizes: Mapping[str, int]) -> dict[str, ScoringRun]:
    out = {}
    for variant in variants:
        prefix = f"{variant}/"
        part = ScoringRun(run.backend, requested=sizes[variant], fatal=run.fatal, seconds=run.seconds)
        part.rewards = {k[len(prefix):]: v for k, v in run.rewards.items() if k.startswith(prefix)}
        part.errors = {k[len(prefix):]: v for k, v in run.errors.items() if k.startswith(prefix)}
        out[variant] = part
    return out
