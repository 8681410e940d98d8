"""Behaviour checks: what the tuned model actually generates (stage ``behaviour``).

Inputs are the session's one generation pass (``{"base": GenerationSet, "tuned": ...}``),
the scored answers (``{"base": [Scored], "tuned": [...]}``), role-leak markers and probe
logits; no model is loaded here.  Failing examples are shown base vs tuned side by side.

The area is a package of modules named for what they judge: ``generations`` (answers, stops,
leaks, empty outputs), ``logits`` (adapter effect, merge parity) and ``scores`` (reward
spread, length bias, sentinel).
"""
from sftcheck.checks.behaviour.generations import (
    MAX_ROWS,
    accuracy,
    answer_rate,
    no_role_leak,
    not_empty,
    stop_rate,
)
from sftcheck.checks.behaviour.logits import adapter_effect, merge_parity
from sftcheck.checks.behaviour.scores import length_bias, reward_spread, sentinel

__all__ = ["MAX_ROWS", "accuracy", "adapter_effect", "answer_rate", "length_bias", "merge_parity", "no_role_leak",
           "not_empty", "reward_spread", "sentinel", "stop_rate"]
