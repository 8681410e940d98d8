"""The base-vs-tuned gates' inputs (area ``gates``): one frozen bundle whose attributes are
named like the checks' input parameters, taken from the session's behaviour bundle (the
one generation pass and its scores) and artifact bundle (the base's identity); see
``sftcheck.check_inputs``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftcheck.check_inputs import Sources
from sftcheck.checks.support.base_identity import BaseInfo


def _row_id(row: Any) -> str:
    return str(row["id"] if isinstance(row, dict) else row.id)


@dataclass(frozen=True)
class GateInputs:
    src: Sources

    @property
    def _behaviour(self):
        return self.src.bundle("behaviour")

    @property
    def base(self) -> list:
        """The base's scored outputs (adapter disabled)."""
        return self._behaviour.scored["base"]

    @property
    def tuned(self) -> list:
        return self._behaviour.scored["tuned"]

    @property
    def eval_ids(self) -> list[str]:
        """The eval file's example ids, in file order (duplicates kept: the gates fail loudly on them)."""
        return [_row_id(r) for r in self._behaviour.eval_rows]

    @property
    def base_gen(self):
        return self._behaviour.generations["base"]

    @property
    def tuned_gen(self):
        return self._behaviour.generations["tuned"]

    @property
    def info(self) -> BaseInfo:
        """The base's identity (the artifact bundle's: what artifact.base_match judges too)."""
        return self.src.bundle("artifact").base

    @property
    def base_accuracy(self) -> float | None:
        """Accuracy of the base (adapter disabled); None when there are no base results."""
        base = self.base
        return sum(s.outcome.value == "correct" for s in base) / len(base) if base else None
