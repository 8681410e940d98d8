"""Plain data and pure scoring for multi-turn conversation suites (``[[suites]] kind = "conversation"``).

A ``Conversation`` is 2+ user turns, each with its expectations of the reply
(``Expectation``): entities to remember, a constraint in force (set earlier, maybe updated
since), a preference to respect, a topic to continue — all checkable by rules — and an optional
expectation in words that only a judge can score.  ``score_turn`` applies the rules (a term
matches case-insensitively as a whole word); ``ConversationRun`` is what the runtime
(``sftcheck.suites.conversation_runner``) hands the checks: per model (``base``, ``tuned`` and
any other model the run names) one ``TurnResult`` per conversation and turn, and one
generation pass per turn index.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sftcheck.checks.support.samples import Generation, GenerationSet, Outcome, Scored
from sftcheck.checks.support.stats import Paired, mcnemar_exact, wilson

CATEGORIES = ("memory", "preference", "topic_continuity", "constraint_update")
RULE_KINDS = ("entities", "constraint", "preference", "topic")
EXPECT_KEYS = (*RULE_KINDS, "judge")


@dataclass(frozen=True)
class Expectation:
    """One expectation of a reply.  ``require``: every term must appear; ``forbid``: none may;
    ``any_of``: at least one must (a topic's words); ``text``: the judge's rubric (kind ``judge``)."""
    kind: str
    require: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    text: str = ""
    set_at: int | None = None          # the turn that set / last updated this constraint or preference

    @property
    def needs_judge(self) -> bool:
        return self.kind == "judge"


@dataclass(frozen=True)
class Turn:
    user: str
    expect: tuple[Expectation, ...] = ()

    @property
    def has_rules(self) -> bool:
        return any(not e.needs_judge for e in self.expect)

    @property
    def judge_text(self) -> str:
        return "; ".join(e.text for e in self.expect if e.needs_judge)


@dataclass(frozen=True)
class Conversation:
    id: str
    category: str
    turns: tuple[Turn, ...]
    system: str | None = None
    row: int = 0

    def turn_id(self, turn: int) -> str:
        """The generation id of this conversation's ``turn`` (1-based): ``<id>#<turn>``."""
        return f"{self.id}#{turn}"


def _term(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term.strip())}(?!\w)", re.IGNORECASE)


def has_term(text: str, term: str) -> bool:
    return bool(_term(term).search(text))


def rule_failures(reply: str, expect: Sequence[Expectation]) -> list[str]:
    """What the reply misses, one phrase per broken rule ("" never); judge expectations are not rules."""
    out = []
    for e in expect:
        if e.needs_judge:
            continue
        since = f" (set at turn {e.set_at})" if e.set_at else ""
        missing = [t for t in e.require if not has_term(reply, t)]
        present = [t for t in e.forbid if has_term(reply, t)]
        if missing:
            out.append(f"{e.kind}: {', '.join(map(repr, missing))} missing{since}")
        if present:
            out.append(f"{e.kind}: {', '.join(map(repr, present))} present, no longer allowed{since}")
        if e.any_of and not any(has_term(reply, t) for t in e.any_of):
            out.append(f"{e.kind}: none of {', '.join(map(repr, e.any_of))}{since}")
    return out


@dataclass(frozen=True)
class TurnResult:
    """One model's reply at one turn of one conversation, and its verdict."""
    conversation: str
    category: str
    turn: int                       # 1-based
    passed: bool | None             # None: nothing checkable (no expectation, or judge-only without a judge)
    failures: tuple[str, ...] = ()  # the rules (and the judge) the reply broke
    reply: str = ""
    judged: bool | None = None      # the judge's verdict, when this turn needed one and a judge ran
    history_lost: tuple[int, ...] = ()  # earlier turns whose user message is not in the prompt


def score_turn(conv: Conversation, turn: int, gen: Generation, judge_verdict: bool | None,
               history_lost: tuple[int, ...] = ()) -> TurnResult:
    """The verdict of one reply: every rule holds and (when the turn has a judge expectation and a
    judge ran) the judge says pass.  Unscored (None) when nothing could be checked."""
    t = conv.turns[turn - 1]
    fails = rule_failures(gen.text, t.expect)
    needs_judge = any(e.needs_judge for e in t.expect)
    if needs_judge and judge_verdict is False:
        fails.append(f"judge: {t.judge_text!r} not met")
    checked = t.has_rules or (needs_judge and judge_verdict is not None)
    return TurnResult(conv.id, conv.category, turn, (not fails) if checked else None, tuple(fails), gen.text,
                      judge_verdict if needs_judge else None, history_lost)


@dataclass(frozen=True)
class JudgeLabel:
    """A person's verdict on one reply at one turn (``human_labels`` of a conversation suite)."""
    conversation: str
    turn: int
    output: str
    label: int
    judge: int | None = None        # the judge's verdict on the same reply


@dataclass(frozen=True)
class ConversationRun:
    """A conversation suite run for every model: one ``TurnResult`` per conversation and turn,
    one ``GenerationSet`` per turn index (the turn's one batched pass)."""
    suite: str
    file: str
    conversations: tuple[Conversation, ...]
    results: Mapping[str, tuple[TurnResult, ...]]            # model -> results
    passes: Mapping[str, tuple[GenerationSet, ...]]          # model -> one pass per turn index
    prompt_via: str = ""                                     # how prompts were rendered
    judge: str | None = None                                 # the judge hook, when configured
    labels: tuple[JudgeLabel, ...] | None = None             # human labels (None: not configured)
    labels_file: str | None = None
    judge_errors: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()                            # role-leak markers
    stop_tokens: tuple[str, ...] = ()
    max_new_tokens: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    roles: Mapping[str, str] = field(default_factory=dict)   # model -> role (base / tuned / reference / …)

    @property
    def tuned(self) -> str:
        """The model the checks hold to their thresholds: the first of role ``tuned``."""
        return next((m for m in self.results if self.roles.get(m, m) == "tuned"), "tuned")

    def role_keys(self) -> dict[str, str]:
        """model -> its key in ``SuiteRun.scored``: ``base`` / ``tuned`` for the first model of
        that role (what ``suite.accuracy`` compares), the model's name for every other."""
        out: dict[str, str] = {}
        for m in self.results:
            role = self.roles.get(m, m)
            out[m] = role if role in ("base", "tuned") and role not in out.values() else m
        return out

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.results)

    @property
    def n_turns(self) -> int:
        return max((len(c.turns) for c in self.conversations), default=0)

    def needs_judge(self) -> int:
        """How many turns carry a judge expectation."""
        return sum(e.needs_judge for c in self.conversations for t in c.turns for e in t.expect)

    def by_conversation(self, model: str) -> dict[str, list[TurnResult]]:
        out: dict[str, list[TurnResult]] = {}
        for r in self.results.get(model, ()):
            out.setdefault(r.conversation, []).append(r)
        return out

    def conversation_scored(self, model: str) -> list[Scored]:
        """Per-conversation success as ``Scored`` (correct: every scored turn passed); a
        conversation with no scored turn is left out."""
        out = []
        for cid, rs in self.by_conversation(model).items():
            scored = [r for r in rs if r.passed is not None]
            if not scored:
                continue
            first = next((r for r in scored if not r.passed), None)
            ok = first is None
            out.append(Scored(cid, "every turn", None if ok else f"turn {first.turn}: {'; '.join(first.failures)}",
                              Outcome.CORRECT if ok else Outcome.INCORRECT, "rules+judge", 1.0 if ok else 0.0))
        return out


# ---------------------------------------------------------------- per-turn arithmetic

@dataclass(frozen=True)
class Cell:
    """Success of one model at one (category, turn): k of n scored replies."""
    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else math.nan

    @property
    def ci(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n) if self.n else None

    def text(self) -> str:
        if not self.n:
            return "n/a"
        lo, hi = self.ci  # type: ignore[misc]
        return f"{self.rate:.2f} [{lo:.2f}, {hi:.2f}] ({self.k}/{self.n})"


def turn_cells(run: ConversationRun, model: str) -> dict[tuple[str, int], Cell]:
    """(category, turn) -> success of ``model`` over the scored replies."""
    acc: dict[tuple[str, int], list[int]] = {}
    for r in run.results.get(model, ()):
        if r.passed is None:
            continue
        acc.setdefault((r.category, r.turn), []).append(int(r.passed))
    return {key: Cell(sum(v), len(v)) for key, v in sorted(acc.items(), key=lambda kv: (_cat(kv[0][0]), kv[0][1]))}


def _cat(category: str) -> int:
    return CATEGORIES.index(category) if category in CATEGORIES else len(CATEGORIES)


def categories(run: ConversationRun) -> list[str]:
    return sorted({c.category for c in run.conversations}, key=_cat)


def paired_turns(run: ConversationRun, model: str, category: str, first: int, later: int) -> Paired:
    """The same conversations scored at ``first`` and at ``later`` (for an exact McNemar test of the drop)."""
    at: dict[int, dict[str, bool]] = {first: {}, later: {}}
    for r in run.results.get(model, ()):
        if r.category == category and r.turn in at and r.passed is not None:
            at[r.turn][r.conversation] = r.passed
    ids = sorted(set(at[first]) & set(at[later]))
    import numpy as np

    return Paired(tuple(ids), np.array([at[first][i] for i in ids], dtype=bool),
                  np.array([at[later][i] for i in ids], dtype=bool))


def drop_pvalue(paired: Paired) -> float:
    """Exact McNemar p of the change between two turns of the same conversations."""
    b, c = paired.discordant()
    return mcnemar_exact(b, c).pvalue


def success_table_rows(run: ConversationRun) -> list[tuple]:
    """(category, turn, n, <one cell per model>) rows for the report."""
    cells = {m: turn_cells(run, m) for m in run.models}
    keys = sorted({k for c in cells.values() for k in c}, key=lambda k: (_cat(k[0]), k[1]))
    rows = []
    for key in keys:
        n = max((c[key].n for c in cells.values() if key in c), default=0)
        rows.append((key[0], key[1], n, *(cells[m][key].text() if key in cells[m] else "n/a" for m in run.models)))
    return rows


def category_cells(run: ConversationRun, model: str) -> dict[str, Cell]:
    """Per-conversation success of ``model`` by category."""
    cats = {c.id: c.category for c in run.conversations}
    acc: dict[str, list[int]] = {}
    for s in run.conversation_scored(model):
        acc.setdefault(cats[s.id], []).append(int(s.outcome is Outcome.CORRECT))
    return {cat: Cell(sum(v), len(v)) for cat, v in sorted(acc.items(), key=lambda kv: _cat(kv[0]))}


def summary_rows(run) -> list:
    """The ``suite.summary`` rows of a conversation suite (``run``: its ``SuiteRun``): conversation
    success overall and per category, base vs tuned (Wilson, exact McNemar, paired bootstrap)."""
    from sftcheck.checks.support.metric_rows import paired_outcomes, proportion_row

    conv = run.conversation
    if "base" not in run.scored or "tuned" not in run.scored:
        return []
    hit = lambda s: s.outcome is Outcome.CORRECT
    rows = [proportion_row(run.name, "conversation success", paired_outcomes(run.scored["base"], run.scored["tuned"],
                                                                             hit))]
    cats = {c.id: c.category for c in conv.conversations}
    for cat in categories(conv):
        base = [s for s in run.scored["base"] if cats[s.id] == cat]
        tuned = [s for s in run.scored["tuned"] if cats[s.id] == cat]
        if base and tuned:
            rows.append(proportion_row(run.name, f"conversation success: {cat}", paired_outcomes(base, tuned, hit)))
    return rows
