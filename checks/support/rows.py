"""Plain records the pre-training checks consume: loaded examples, file problems,
tokenized training rows, inference prompts and hook failures.

Produced once per session by ``sftcheck.dataio`` / ``sftcheck.session_data`` (which run
the user's own formatter, collator and prompt builder); checks only read them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

IGNORE = -100  # the label of a token that is not trained

# Marks the hooks' source when the run configures no format at all (no hooks, templates or
# chat): the rows and prompts then come from sftcheck's own default template, and a check
# comparing the two would compare that default with itself.
UNCONFIGURED_FORMAT = "(built-in default: no [format] configured)"


def format_unconfigured(*sources: str) -> bool:
    """Every given ``TrainSet`` / ``PromptSet`` source is the built-in default format."""
    return bool(sources) and all(UNCONFIGURED_FORMAT in (s or "") for s in sources)


@dataclass(frozen=True)
class Example:
    """One row of a data file, reduced to what the checks need.

    ``row`` is the 1-based row number in ``file``; ``question`` is the last user turn
    (with the Alpaca input appended), ``answer`` the training target the model should produce.
    ``messages`` keeps the chat turns before the answer for chat-shaped schemas.
    ``gold`` is the gold answer scoring compares with (``[data] gold_field`` /
    ``gold_pattern``); None means the training target itself.  ``raw`` is the whole row as
    read from the data file (what row-form hooks receive).
    """
    file: str
    row: int
    id: str
    question: str
    answer: str
    system: str | None = None
    messages: tuple[tuple[str, str], ...] = ()
    gold: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def gold_answer(self) -> str:
        """The answer scoring and ``data.answer_roundtrip`` compare with."""
        return self.answer if self.gold is None else self.gold

    def row_dict(self) -> dict[str, Any]:
        """The raw data-file row (a copy), or the fields this example was built from."""
        if self.raw is not None:
            return dict(self.raw)
        return {"id": self.id, "question": self.question, "answer": self.answer}


@dataclass(frozen=True)
class RowProblem:
    """A row that does not fit the schema: where, which field, what is wrong."""
    file: str
    row: int
    field: str
    problem: str


@dataclass(frozen=True)
class DataAudit:
    """The streamed audit of one data file (bounded memory: counts + the first problems)."""
    file: str
    schema: str
    rows: int                 # rows read (valid + invalid)
    valid: int
    problems: tuple[RowProblem, ...]   # the first ``problems_kept`` problems
    problem_count: int                 # all problems
    error: str | None = None           # the file itself could not be read


@dataclass(frozen=True)
class HookFailure:
    """The user's hook raised on one row; the traceback goes into the evidence."""
    hook: str          # e.g. "train_formatter = sftcheck.fixtures.user_code:format_example"
    row: int
    traceback: str
    id: str = ""       # the row's example id


@dataclass(frozen=True)
class TrainRow:
    """One training row as the trainer sees it: after the formatter and the collator."""
    row: int
    id: str
    question: str
    answer: str
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    left_pad: int = 0          # padding positions the collator put *before* the row
    gold: str | None = None    # the gold answer when it differs from the training target

    @property
    def gold_answer(self) -> str:
        return self.answer if self.gold is None else self.gold

    @property
    def trained(self) -> tuple[int, ...]:
        """Positions whose label is trained (``label != -100``)."""
        return tuple(i for i, lab in enumerate(self.labels) if lab != IGNORE)


@dataclass(frozen=True)
class TrainSet:
    rows: tuple[TrainRow, ...]
    failures: tuple[HookFailure, ...] = ()
    source: str = ""           # which formatter / collator produced the rows
    end_ids: frozenset[int] = field(default_factory=frozenset)  # EOS + EOT ids
    collated: bool = False     # True when the user's collator produced the batches


@dataclass(frozen=True)
class Prompt:
    """One inference prompt exactly as it is served: text and ids."""
    row: int
    id: str
    question: str
    text: str
    input_ids: tuple[int, ...]


@dataclass(frozen=True)
class PromptSet:
    prompts: tuple[Prompt, ...]
    failures: tuple[HookFailure, ...] = ()
    source: str = ""
