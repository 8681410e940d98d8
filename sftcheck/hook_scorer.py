"""``[scoring] scorer``: the user's scoring function, called the way its signature asks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftcheck.checks.support import bounded
from sftcheck.checks.support.rows import Example
from sftcheck.hook_import import Hook, base_dir, hook_form, import_hook


class ScorerFailed(ValueError):
    """The user's scorer raised on one example; the message names the example and the fix."""


@dataclass(frozen=True)
class Scorer:
    """``[scoring] scorer``, called the way its signature asks: ``f(row, output)`` with the
    whole eval row (row form) or ``f(output_text, example_dict)`` (text form)."""
    hook: Hook

    @property
    def __name__(self) -> str:  # read by reports as a callable's name
        return self.hook.spec

    def __call__(self, output: str, example: Example | dict) -> float:
        return float(self.value(output, example))

    def value(self, output: str, example: Example | dict) -> Any:
        """What the scorer returned: a number or a table of named reward components
        (read by ``sftcheck.scorers.records.parse_reward``)."""
        if isinstance(example, Example):
            ex = example
            data = ex.row_dict() if self.hook.row_form else {
                "id": ex.id, "question": ex.question, "answer": ex.answer, "gold": ex.gold_answer}
            where = f"example {ex.id!r} (row {ex.row} of {ex.file})"
        else:
            data, where = dict(example), f"example {example.get('id')!r}"
        try:
            return self.hook.fn(data, output) if self.hook.row_form else self.hook.fn(output, data)
        except Exception as exc:  # the user's scorer raised: name the row
            form = "scorer(row, output)" if self.hook.row_form else "scorer(output_text, example_dict)"
            raise ScorerFailed(f"[scoring] scorer = {self.hook.spec} raised {type(exc).__name__}: {exc} "
                               f"on {where}. Fix: it is called as {form} -> float or a table of components "
                               "(a first parameter named row / example / … selects the row form).") from exc


def load_scorer(cfg) -> Scorer | None:
    """``[scoring] scorer`` as a ``Scorer``, or None."""
    if not cfg.scoring.scorer:
        return None
    fn = import_hook(cfg.scoring.scorer, key="scorer", base_dir=base_dir(cfg), source=cfg.source,
                     section="scoring")
    return Scorer(Hook("scorer", cfg.scoring.scorer, bounded.hook(fn, f"[scoring] scorer = {cfg.scoring.scorer!r}"),
                         hook_form("scorer", fn)))
