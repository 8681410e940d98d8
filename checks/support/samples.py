"""Plain data that behaviour, gate and perf checks consume: generations and scored answers.

Produced once per session by the generation engine (``sftcheck.generation``) and the
answer scorer (``sftcheck.checks.support.answers``); checks only read them.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class FinishReason(str, enum.Enum):
    EOS = "eos"        # the model emitted EOS / a configured stop token
    STOP = "stop"      # a configured stop string matched
    LENGTH = "length"  # max_new_tokens reached
    TIME = "time"      # the wall-time cap ended the pass


@dataclass(frozen=True)
class Generation:
    id: str
    prompt: str
    text: str              # decoded new tokens, special tokens removed, cut at a stop string
    raw_text: str          # decoded new tokens with special tokens kept (role-leak evidence)
    prompt_tokens: int
    new_tokens: int
    finish_reason: FinishReason
    seconds: float         # this example's share of its batch's wall time
    run_on: str = ""       # raw text after an end token the stop set missed (not scored)
    missed_stop: str = ""  # that end token (e.g. "<|eot_id|>"), when the output ran on past it


@dataclass(frozen=True)
class GenerationSet:
    """All generations of one model variant (``"base"`` = adapter disabled, ``"tuned"``)."""
    model: str
    items: tuple[Generation, ...]
    wall_seconds: float
    batch_size: int
    settings: dict = field(default_factory=dict)

    def by_id(self) -> dict[str, Generation]:
        return {g.id: g for g in self.items}


class Outcome(str, enum.Enum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    UNPARSABLE = "unparsable"


@dataclass(frozen=True)
class Scored:
    """One example's verdict: exactly one of correct / incorrect / unparsable."""
    id: str
    gold: str
    extracted: str | None
    outcome: Outcome
    rule: str | None       # which extraction rule matched ("strict", "lenient", a hook name)
    score: float | None = None  # a configured scorer's value (reward), if any
