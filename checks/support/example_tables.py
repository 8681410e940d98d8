"""Evidence tables of eval examples, base vs tuned, for the behaviour checks' reports."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from sftcheck.checks.support.result import Table
from sftcheck.checks.support.samples import GenerationSet, Outcome, Scored


def clip(text: str, n: int = 160) -> str:
    """``text`` cut to ``n`` characters (the last one an ellipsis) for a table cell."""
    return text if len(text) <= n else text[: n - 1] + "…"


def every_example(generations: Mapping[str, GenerationSet],
                  scored: Mapping[str, Sequence[Scored]]) -> Table:
    """Every eval example base vs tuned, filterable to discordant pairs and tuned failures."""
    tuned, base = generations["tuned"].by_id(), generations.get("base")
    base = base.by_id() if base else {}
    bscored = {s.id: s for s in scored.get("base", ())}
    rows, tags = [], []
    for s in scored["tuned"]:
        b = bscored.get(s.id)
        g, bg = tuned.get(s.id), base.get(s.id)
        rows.append((s.id, clip(g.prompt) if g else "", s.gold, clip(bg.text) if bg else "",
                     b.outcome.value if b else "", clip(g.text) if g else "", s.outcome.value,
                     g.finish_reason.value if g else ""))
        row_tags = []
        if b and (b.outcome is Outcome.CORRECT) != (s.outcome is Outcome.CORRECT):
            row_tags.append("discordant (base vs tuned)")
        if s.outcome is not Outcome.CORRECT:
            row_tags.append(f"tuned {s.outcome.value}")
        tags.append(tuple(row_tags))
    return Table("every example, base vs tuned", ("id", "prompt", "gold", "base output", "base",
                                                  "tuned output", "tuned", "tuned finish"),
                 tuple(rows), tuple(tags))
