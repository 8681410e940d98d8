"""Does an output refuse?  One refusal detector for every check that asks.

A refusal is an answer that declines instead of answering: "I'm sorry, I can't help with
that.", "As an AI ...", "I must decline".  The patterns are English phrases that open or
carry a refusal; an answer that merely contains "cannot" in its reasoning is not one.
Used by ``behaviour.reward_spread`` (the model refuses, so every reward is the same) and
available to suite checks (``is_refusal`` / ``refusals``).
"""
from __future__ import annotations

import re
from collections.abc import Iterable

PATTERNS = (
    r"I(?:'m| am) (?:really |so |very )?sorry",
    r"I apologi[sz]e",
    r"I can(?:no|')t (?:help|assist|answer|provide|do|comply|share|give)",
    r"I (?:am|'m) (?:unable|not able) to",
    r"I won't",
    r"I will not",
    r"I must (?:decline|refuse)",
    r"As an AI",
    r"cannot comply",
    r"(?:against|violates?) (?:my|our|the) (?:guidelines|policy|policies|principles)",
    r"(?:please )?(?:seek|contact|reach out to) (?:a |an )?(?:professional|doctor|crisis line|the police)",
)
REFUSAL = re.compile(r"\b(?:" + "|".join(PATTERNS) + r")\b", re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True when ``text`` declines (one of ``PATTERNS``, case-insensitive)."""
    return bool(REFUSAL.search(text or ""))


def refusals(items: Iterable[tuple[str, str]]) -> list[str]:
    """The ids of the ``(id, text)`` pairs that refuse, in order."""
    return [key for key, text in items if is_refusal(text)]
