"""The conversation file of a ``kind = "conversation"`` suite: JSONL, one conversation a line.

```json
{"id": "units-7", "category": "constraint_update", "system": "optional system prompt",
 "turns": [
   {"user": "Use grams from now on."},
   {"user": "The box is 4.", "expect": {"constraint": {"require": ["grams"], "set_at": 1}}},
   {"user": "Now use meters."},
   {"user": "The rope is 7.", "expect": {"constraint": {"require": ["meters"], "forbid": ["grams"], "set_at": 3}}},
   {"user": "Tell me more.", "expect": {"topic": ["meters", "length"], "judge": "stays on the rope"}}]}
```

``category``: one of ``CATEGORIES``.  ``turns``: 2 or more, each the user's message and (optional)
the expectations of the model's reply to it:

============== ===============================================================================
``entities``   list: each term must appear in the reply (names, numbers, a code word to remember)
``constraint`` ``{"require": [...], "forbid": [...], "set_at": n}`` or a list (= require): the
               constraint in force at this turn; ``forbid`` holds what an update replaced
``preference`` same shape: a preference the user stated earlier
``topic``      list (or ``{"any": [...], "set_at": n}``): at least one of these words (topic continuity)
``judge``      text: an expectation only the suite's judge hook can score
============== ===============================================================================

A term matches case-insensitively as a whole word.  Every bad line becomes a ``RowProblem``
naming the row, the field (``turns[2].expect.constraint.forbid``) and the fix; nothing is raised for a row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftcheck.checks.support.conversations import CATEGORIES, EXPECT_KEYS, Conversation, Expectation, Turn
from sftcheck.checks.support.suites import RowProblem

ROW_KEYS = ("id", "category", "turns", "system")
TURN_KEYS = ("user", "expect")
MIN_TURNS = 2


@dataclass(frozen=True)
class ConversationData:
    conversations: tuple[Conversation, ...]
    problems: tuple[RowProblem, ...]
    n_read: int


class Bad(ValueError):
    """One problem in a row: ``field`` and the message with its fix."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.problem = field, problem


def _terms(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(t, str) and t.strip() for t in value):
        raise Bad(where, f"expected a non-empty list of texts, got {value!r}. Fix: write e.g. [\"grams\"]")
    return tuple(t.strip() for t in value)


def _set_at(value: Any, where: str, turn: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= turn:
        raise Bad(where, f"expected the number of an earlier turn (1-{turn}), got {value!r}. Fix: name the turn "
                         "(1-based) whose message set this")
    return value


def _ruled(kind: str, value: Any, where: str, turn: int) -> Expectation:
    if isinstance(value, (list, str)):
        return Expectation(kind, require=_terms(value, where)) if kind != "topic" else \
            Expectation(kind, any_of=_terms(value, where))
    if not isinstance(value, dict):
        raise Bad(where, f"expected a list of texts or an object, got {type(value).__name__}. Fix: write "
                         + ('{"any": [...]}' if kind == "topic" else '{"require": [...], "forbid": [...]}'))
    allowed = ("any", "set_at") if kind == "topic" else ("require", "forbid", "set_at")
    extra = [k for k in value if k not in allowed]
    if extra:
        raise Bad(f"{where}.{extra[0]}", f"unknown key {extra[0]!r}. Fix: use {', '.join(allowed)}")
    set_at = _set_at(value.get("set_at"), f"{where}.set_at", turn)
    if kind == "topic":
        return Expectation(kind, any_of=_terms(value.get("any"), f"{where}.any"), set_at=set_at)
    if "require" not in value and "forbid" not in value:
        raise Bad(where, "needs require and / or forbid. Fix: write {\"require\": [\"grams\"]}")
    req = _terms(value["require"], f"{where}.require") if "require" in value else ()
    forbid = _terms(value["forbid"], f"{where}.forbid") if "forbid" in value else ()
    clash = sorted({t.casefold() for t in req} & {t.casefold() for t in forbid})
    if clash:
        raise Bad(where, f"{clash[0]!r} is both required and forbidden. Fix: keep it in one list")
    return Expectation(kind, require=req, forbid=forbid, set_at=set_at)


def _expect(raw: Any, where: str, turn: int) -> tuple[Expectation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        raise Bad(where, f"expected an object of expectations, got {type(raw).__name__}. Fix: write "
                         '{"entities": ["..."]} (keys: ' + ", ".join(EXPECT_KEYS) + ")")
    out = []
    for key, value in raw.items():
        if key not in EXPECT_KEYS:
            import difflib

            close = difflib.get_close_matches(key, EXPECT_KEYS, n=1)
            raise Bad(f"{where}.{key}", f"unknown expectation {key!r}" + (f" (did you mean {close[0]!r}?)" if close
                                                                           else "")
                      + f". Fix: use {', '.join(EXPECT_KEYS)}")
        if key == "judge":
            if not isinstance(value, str) or not value.strip():
                raise Bad(f"{where}.judge", f"expected the expectation in words, got {value!r}. Fix: write e.g. "
                                            "\"stays on the topic of gardening\"")
            out.append(Expectation("judge", text=value.strip()))
        elif key == "entities":
            out.append(Expectation("entities", require=_terms(value, f"{where}.entities")))
        else:
            out.append(_ruled(key, value, f"{where}.{key}", turn))
    return tuple(out)


def parse_conversation(raw: Any, number: int, default_id: str) -> Conversation:
    """One line as a ``Conversation``; ``Bad`` names the field and the fix."""
    if not isinstance(raw, dict):
        raise Bad("(row)", f"expected an object, got {type(raw).__name__}. Fix: one JSON object per line")
    extra = [k for k in raw if k not in ROW_KEYS]
    if extra:
        raise Bad(extra[0], f"unknown key {extra[0]!r}. Fix: use {', '.join(ROW_KEYS)}")
    cid = raw.get("id", default_id)
    if isinstance(cid, bool) or not isinstance(cid, (str, int)) or not str(cid).strip():
        raise Bad("id", f"expected a text or number, got {cid!r}. Fix: give each conversation a unique id")
    category = raw.get("category")
    if category not in CATEGORIES:
        raise Bad("category", f"{category!r} is not one of {', '.join(CATEGORIES)}. Fix: pick one")
    system = raw.get("system")
    if system is not None and not isinstance(system, str):
        raise Bad("system", f"expected text, got {type(system).__name__}. Fix: write the system prompt as text")
    turns = raw.get("turns")
    if not isinstance(turns, list) or len(turns) < MIN_TURNS:
        raise Bad("turns", f"expected a list of {MIN_TURNS} or more turns, got "
                           f"{len(turns) if isinstance(turns, list) else type(turns).__name__}. Fix: write "
                           '[{"user": "...", "expect": {...}}, ...]')
    parsed = []
    for i, t in enumerate(turns, 1):
        where = f"turns[{i}]"
        if not isinstance(t, dict):
            raise Bad(where, f"expected an object, got {type(t).__name__}. Fix: write {{\"user\": \"...\"}}")
        extra = [k for k in t if k not in TURN_KEYS]
        if extra:
            raise Bad(f"{where}.{extra[0]}", f"unknown key {extra[0]!r}. Fix: use user, expect (the model's own "
                                             "replies are fed back; no assistant text is read)")
        user = t.get("user")
        if not isinstance(user, str) or not user.strip():
            raise Bad(f"{where}.user", f"expected the user's message, got {user!r}. Fix: write it as text")
        parsed.append(Turn(user, _expect(t.get("expect"), f"{where}.expect", i)))
    if not any(t.expect for t in parsed):
        raise Bad("turns", "no turn has an expectation, so nothing can be scored. Fix: add \"expect\" to the "
                           "turns that test memory / a constraint / a preference / the topic")
    return Conversation(str(cid), category, tuple(parsed), system, number)


def read_conversations(path: str, name: str, limit: int = 0) -> ConversationData:
    """The conversations of ``path`` (at most ``limit`` usable ones; 0 = all); ``SuiteFileError``
    when the file itself cannot be read."""
    from sftcheck.dataio import DataFileError, iter_raw
    from sftcheck.suites.loaders import SuiteFileError

    convs: list[Conversation] = []
    problems: list[RowProblem] = []
    seen: set[str] = set()
    n = 0
    try:
        for number, raw in iter_raw(path):
            if limit and len(convs) >= limit:
                break
            n += 1
            if isinstance(raw, Exception):
                problems.append(RowProblem(number, "(row)", f"not valid JSON: {raw}. Fix: one JSON object a line"))
                continue
            try:
                conv = parse_conversation(raw, number, f"{name}-{number}")
            except Bad as bad:
                problems.append(RowProblem(number, bad.field, bad.problem))
                continue
            if conv.id in seen:
                problems.append(RowProblem(number, "id", f"duplicate id {conv.id!r}. Fix: give each conversation "
                                                         "its own id"))
                continue
            seen.add(conv.id)
            convs.append(conv)
    except (DataFileError, OSError, UnicodeDecodeError) as exc:
        raise SuiteFileError(f"{path}: {exc}") from exc
    return ConversationData(tuple(convs), tuple(problems), n)
