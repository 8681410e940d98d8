"""What a scorer backend receives and returns, whatever the transport.

A scorer sees one record per output: ``{"id", "prompt", "output", "example"}`` and answers
with a number (the reward) or a table of named reward components, optionally with a
message (``"Assistant start token not found"``).  ``parse_reward`` turns any of those
answers into one ``Reward``; a ``ScoringRun`` keeps every reward received and every
record that could not be scored, so a server that fails half-way loses nothing.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TOTAL_KEYS = ("reward", "score", "total")
MESSAGE_KEYS = ("message", "messages", "error", "errors", "log", "logs", "detail", "details")


class ScorerError(RuntimeError):
    """The scorer could not be reached or answered something unusable; the message names
    the backend (URL / command / hook), the problem and the fix."""


class RewardFormatError(ValueError):
    """One answer is not a number or a table of numeric components."""


@dataclass(frozen=True)
class ScoreRequest:
    """One output to score.  ``example`` is what goes over the wire (JSON); ``row`` the
    loaded example object an in-process hook receives (never sent)."""
    id: str
    prompt: str
    output: str
    example: Mapping[str, Any]
    row: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "prompt": self.prompt, "output": self.output, "example": dict(self.example)}


@dataclass(frozen=True)
class Reward:
    """One output's score: the total reward, its named components, the scorer's message."""
    total: float
    components: Mapping[str, float] = field(default_factory=dict)
    message: str = ""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()
        else:
            raise RewardFormatError(f"{where} is {type(value).__name__} {value!r}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise RewardFormatError(f"{where} is {value!r}, not a finite number")
    return value


def _message(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def parse_reward(answer: Any) -> Reward:
    """A number, or a table: ``reward`` / ``score`` / ``total`` (the total), ``components``
    (a table of numbers) and/or other numeric keys (components), ``message`` (text).
    Without a total the components are summed."""
    if not isinstance(answer, Mapping):
        return Reward(_number(answer, "the score"))
    components: dict[str, float] = {}
    messages: list[str] = []
    total: float | None = None
    for key, value in answer.items():
        key = str(key)
        if key in ("id",):
            continue
        if key.lower() in TOTAL_KEYS and total is None and not isinstance(value, Mapping):
            total = _number(value, f"{key!r}")
        elif key == "components":
            if not isinstance(value, Mapping):
                raise RewardFormatError(f"'components' is {type(value).__name__}, not a table of numbers")
            for name, v in value.items():
                components[str(name)] = _number(v, f"component {name!r}")
        elif key.lower() in MESSAGE_KEYS:
            if value:
                messages.append(_message(value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            components[key] = _number(value, f"component {key!r}")
        elif isinstance(value, str):
            messages.append(f"{key}: {value}")
        # other values (lists, nested tables) are the scorer's own metadata: ignored
    if total is None:
        if not components:
            raise RewardFormatError(f"the table {dict(answer)!r} holds no reward: give 'reward' (or "
                                    "'score' / 'total') or numeric components")
        total = sum(components.values())
    return Reward(total, components, " | ".join(messages))


@dataclass
class ScoringRun:
    """Every reward received (``rewards``) and every record that got none (``errors``: id ->
    why).  ``partial`` when some records are missing; ``fatal`` is the error that stopped
    the run (the server died, refused the connection …)."""
    backend: str
    rewards: dict[str, Reward] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    fatal: str | None = None
    requested: int = 0
    seconds: float = 0.0

    @property
    def partial(self) -> bool:
        return len(self.rewards) < self.requested

    def component_names(self) -> list[str]:
        names: dict[str, None] = {}
        for r in self.rewards.values():
            for k in r.components:
                names.setdefault(k, None)
        return list(names)

    def summary(self) -> str:
        text = f"{len(self.rewards)} of {self.requested} outputs scored by {self.backend}"
        if self.errors:
            first = next(iter(self.errors.items()))
            text += f"; {len(self.errors)} not scored (first: {first[0]}: {first[1]})"
        if self.fatal:
            text += f"; stopped by: {self.fatal}"
        return text
