"""Answer parsing: every generation lands in exactly one of correct / incorrect / unparsable.

Two extraction modes, reported side by side:

* **strict** — the configured pattern (default ``<answer>(.*?)</answer>``; group 1 is the
  answer), or the user's ``[format] answer_parser`` hook.  This is the verdict: a model
  that knows the answer but not the format it was tuned to produce is not done.
* **lenient** — strict first, then fallbacks that show what the model *meant*: an opened
  but unclosed tag (``<answer>42``), then the last number in the text.  The gap between
  the two is the format problem, measured.

Comparison is numeric when both sides parse as numbers (``math.isclose`` with
``rel_tol`` / ``abs_tol``; ``"2400.0" == "2,400" == "2400"``), else case- and
whitespace-insensitive string equality.  Pure functions: strings in, ``Scored`` out.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sftcheck.checks.support import bounded
from sftcheck.checks.support.samples import Generation, Outcome, Scored

DEFAULT_PATTERN = r"<answer>(.*?)</answer>"
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|[-+]?\.\d+")


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    rule: str | None  # "strict", "hook:<name>", "lenient:unclosed_tag", "lenient:last_number"


def as_number(text: str) -> float | None:
    """``"2,400"`` / ``" 2400.0 "`` / ``"$3"`` → float; anything else → None."""
    t = text.strip().strip("$€£%").replace(",", "").replace("_", "").strip()
    if not t:
        return None
    try:
        value = float(t)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def normalise(text: str) -> str:
    return " ".join(text.strip().casefold().split()).rstrip(".")


def equivalent(extracted: str, gold: str, *, rel_tol: float = 0.0, abs_tol: float = 0.0) -> bool:
    a, b = as_number(extracted), as_number(gold)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return normalise(extracted) == normalise(gold)


@functools.lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern:
    rx = re.compile(pattern, flags=re.DOTALL)
    if rx.groups < 1:
        raise ValueError(f"answer pattern {pattern!r} has no capturing group: wrap the answer part "
                         "in parentheses, e.g. <answer>(.*?)</answer>")
    return rx


def _open_tag(pattern: str) -> str | None:
    """The literal text before the group of a tag-style pattern (``<answer>``), if any."""
    head = pattern.split("(", 1)[0]
    literal = re.sub(r"\\(.)", r"\1", head)
    return literal if literal and not re.search(r"[.*+?\[\]{}|^$]", head.replace("\\", "")) else None


@dataclass(frozen=True)
class AnswerParser:
    """The run's one answer parser: the user's ``[format] answer_parser`` hook, else the
    ``answer_pattern`` regex (group 1).  The same object reads training targets back in
    ``data.answer_roundtrip`` and extracts answers from generations in scoring."""
    pattern: str = DEFAULT_PATTERN
    hook: Callable[[str], str | None] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.hook is None:
            _compile(self.pattern)  # a bad pattern fails here, when the run is set up

    @property
    def label(self) -> str:
        return self.name or (getattr(self.hook, "__name__", "parser") if self.hook else f"regex {self.pattern!r}")

    def extract(self, text: str) -> Extraction:
        """Strict extraction: the verdict's rule."""
        if self.hook is not None:
            got = self.hook(text)
            name = getattr(self.hook, "__name__", "parser")
            if got is not None and not isinstance(got, str):
                kind = type(got).__name__
                raise TypeError(f"the answer parser {name} returned {kind} {str(got)[:80]!r} ({kind}, not str: "
                                f"the parser must return a str or None) for the output {text[:80]!r}. Fix: "
                                "return str(answer) (or None) from [format] answer_parser")
            return Extraction(got.strip(), f"hook:{name}") if isinstance(got, str) and got.strip() else \
                Extraction(None, None)
        m = bounded.search(_compile(self.pattern), text, f"[format] answer_pattern = {self.pattern!r}")
        if m and m.group(1) is not None and m.group(1).strip():
            return Extraction(m.group(1).strip(), "strict")
        return Extraction(None, None)

    def __call__(self, text: str) -> str | None:
        return self.extract(text).answer


def _parser(pattern: str, parser) -> AnswerParser:
    return parser if isinstance(parser, AnswerParser) else AnswerParser(pattern, parser)


def extract_strict(text: str, pattern: str = DEFAULT_PATTERN,
                   parser: Callable[[str], str | None] | AnswerParser | None = None) -> Extraction:
    return _parser(pattern, parser).extract(text)


def extract_lenient(text: str, pattern: str = DEFAULT_PATTERN,
                    parser: Callable[[str], str | None] | AnswerParser | None = None) -> Extraction:
    one = _parser(pattern, parser)
    got = one.extract(text)
    if got.answer is not None:
        return got
    tag = _open_tag(one.pattern)
    if tag and tag in text:
        rest = text.split(tag, 1)[1]
        rest = re.split(r"</|<\|", rest, maxsplit=1)[0].strip()
        if rest:
            return Extraction(rest, "lenient:unclosed_tag")
    numbers = _NUMBER.findall(text)
    if numbers:
        return Extraction(numbers[-1], "lenient:last_number")
    return Extraction(None, None)


def score_one(example_id: str, text: str, gold: str, *, mode: str = "strict",
              pattern: str = DEFAULT_PATTERN, parser: Callable[[str], str | None] | AnswerParser | None = None,
              rel_tol: float = 0.0, abs_tol: float = 0.0, score: float | None = None) -> Scored:
    """One example's verdict.  ``mode`` is ``"strict"`` or ``"lenient"``."""
    if mode not in ("strict", "lenient"):
        raise ValueError(f"mode must be strict or lenient, got {mode!r}")
    ext = (extract_strict if mode == "strict" else extract_lenient)(text, pattern, parser)
    if ext.answer is None:
        outcome = Outcome.UNPARSABLE
    elif equivalent(ext.answer, gold, rel_tol=rel_tol, abs_tol=abs_tol):
        outcome = Outcome.CORRECT
    else:
        outcome = Outcome.INCORRECT
    return Scored(id=example_id, gold=gold, extracted=ext.answer, outcome=outcome, rule=ext.rule,
                  score=score)


def score_all(generations: Iterable[Generation], gold: Mapping[str, str], *, mode: str = "strict",
              pattern: str = DEFAULT_PATTERN, parser: Callable[[str], str | None] | AnswerParser | None = None,
              rel_tol: float = 0.0, abs_tol: float = 0.0,
              scorer: Callable[[str, dict], float] | None = None,
              examples: Mapping[str, dict] | None = None) -> list[Scored]:
    """Score every generation against ``gold[id]``.  ``scorer(text, example)`` (a reward) is
    recorded in ``Scored.score``; without one the score is exact-match correctness 1 / 0."""
    out = []
    for g in generations:
        s = score_one(g.id, g.text, gold[g.id], mode=mode, pattern=pattern, parser=parser,
                      rel_tol=rel_tol, abs_tol=abs_tol)
        if scorer is not None:
            example = examples[g.id] if examples and g.id in examples else {"id": g.id, "answer": gold[g.id]}
            value = float(scorer(g.text, example))
        else:
            value = 1.0 if s.outcome is Outcome.CORRECT else 0.0
        out.append(Scored(s.id, s.gold, s.extracted, s.outcome, s.rule, value))
    return out


def rates(scored: Sequence[Scored]) -> dict[str, float]:
    """Shares of correct / incorrect / unparsable (they sum to 1) and the answer rate."""
    n = len(scored)
    if n == 0:
        return {"n": 0, "correct": 0.0, "incorrect": 0.0, "unparsable": 0.0, "answered": 0.0}
    c = sum(s.outcome is Outcome.CORRECT for s in scored)
    i = sum(s.outcome is Outcome.INCORRECT for s in scored)
    u = n - c - i
    return {"n": n, "correct": c / n, "incorrect": i / n, "unparsable": u / n, "answered": (c + i) / n}
