"""Classifying generated outputs: role / template leaks, empty outputs, no stop, missing tags.

Pure helpers shared by the behaviour checks (``behaviour.no_role_leak``,
``behaviour.reward_spread``) and the report.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet, Outcome, Scored

# Headers that start another turn in the common plain-text and chat formats.
GENERIC_MARKERS = (
    "<|im_start|>", "<|im_end|>", "<|user|>", "<|assistant|>", "<|system|>", "<|eot_id|>",
    "<|start_header_id|>", "<start_of_turn>", "<end_of_turn>", "[INST]", "[/INST]",
    "### Instruction", "### Response", "\nUser:", "\nHuman:", "\nAssistant:", "\nSystem:",
)
_HEADER = re.compile(r"^\s*([A-Z#][\w #]{0,30}:)")


def role_markers(special_tokens: Iterable[str], stop_tokens: Iterable[str] = (),
                 prompt_text: str = "", question: str = "") -> tuple[str, ...]:
    """Strings whose presence in an output is a role / template leak.

    The tokenizer's special tokens (except the stop tokens, which end an output), the
    generic turn headers above, and the plain-text header that introduces the user's
    question in the configured prompt (``"Question:"`` in ``"Question: {q}\\nAnswer:"``).
    """
    stops = set(stop_tokens)
    out: list[str] = [t for t in special_tokens if t and t not in stops]
    if prompt_text and question and question in prompt_text:
        before = prompt_text.split(question, 1)[0]
        lines = [ln for ln in before.splitlines() if ln.strip()]
        if lines:
            m = _HEADER.match(lines[-1])
            if m:
                out.append(m.group(1).strip())
    out.extend(m for m in GENERIC_MARKERS if m not in stops)
    seen: dict[str, None] = {}
    for m in out:
        seen.setdefault(m, None)
    return tuple(seen)


def searchable_markers(gs: GenerationSet, markers: Sequence[str]) -> tuple[list[str], str]:
    """The markers a pass's raw text can show, and a sentence naming those it cannot: a
    server that returns text without special tokens (``raw_text_special_tokens`` False, e.g.
    OpenAI's API, or a server that ignores ``skip_special_tokens``) hides every marker that is
    a special token (``unseen_special_tokens``)."""
    settings = gs.settings or {}
    if settings.get("raw_text_special_tokens") is not False:
        return list(markers), ""
    unseen = set(settings.get("unseen_special_tokens") or ())
    hidden = [m for m in markers if m in unseen]
    if not hidden:
        return list(markers), ""
    return [m for m in markers if m not in unseen], (
        f"{len(hidden)} of the {len(markers)} markers are special tokens this pass's text cannot show "
        f"({', '.join(map(repr, hidden[:4]))}{' …' if len(hidden) > 4 else ''}): "
        f"{settings.get('special_tokens_note') or 'the backend returns text without special tokens'}; "
        "they were not searched. Serve with vLLM or SGLang (which return them) to search them.")


def strip_stop(raw_text: str, stop_tokens: Iterable[str]) -> str:
    """The raw output without trailing stop / pad tokens (they end an output legitimately)."""
    text = raw_text
    stops = [s for s in stop_tokens if s]
    changed = True
    while changed and stops:
        changed = False
        for s in stops:
            if text.endswith(s):
                text = text[: -len(s)]
                changed = True
    return text


def find_leak(g: Generation, markers: Sequence[str], stop_tokens: Iterable[str] = ()) -> str | None:
    """The first marker found in the output (raw text, special tokens kept), else None."""
    text = strip_stop(g.raw_text, stop_tokens)
    hits = [(text.find(m), m) for m in markers if m and m in text]
    return min(hits)[1] if hits else None


def is_empty(g: Generation) -> bool:
    return not g.text.strip()


def classify(g: Generation, s: Scored | None, base: Generation | None, markers: Sequence[str],
             stop_tokens: Iterable[str] = ()) -> tuple[str, ...]:
    """Every problem class an output falls into (empty tuple = none)."""
    out = []
    if is_empty(g):
        out.append("empty")
    if g.finish_reason in (FinishReason.LENGTH, FinishReason.TIME):
        out.append("no stop")
    if find_leak(g, markers, stop_tokens):
        out.append("role leak")
    if s is not None and s.outcome is Outcome.UNPARSABLE and not is_empty(g):
        out.append("missing tags")
    if base is not None and base.text == g.text:
        out.append("identical to base")
    return tuple(out)


CLASSES = ("empty", "no stop", "role leak", "missing tags", "identical to base")


def class_counts(tuned: Sequence[Generation], scored: Mapping[str, Scored],
                 base: Mapping[str, Generation], markers: Sequence[str],
                 stop_tokens: Iterable[str] = ()) -> dict[str, int]:
    stop_tokens = tuple(stop_tokens)
    counts = dict.fromkeys(CLASSES, 0)
    for g in tuned:
        for c in classify(g, scored.get(g.id), base.get(g.id), markers, stop_tokens):
            counts[c] += 1
    return counts


def class_notes(tuned: Sequence[Generation], scored: Mapping[str, Scored],
                base: Mapping[str, Generation], markers: Sequence[str], stop_tokens: Iterable[str] = (),
                messages: Mapping[str, str] | None = None) -> dict[str, str]:
    """id -> "class, class, scorer: <message>" for every output with a problem class or a
    scorer message (the note column of an example table)."""
    notes = {}
    for g in tuned:
        c = list(classify(g, scored.get(g.id), base.get(g.id), markers, stop_tokens))
        if g.id in (messages or {}):
            c.append(f"scorer: {messages[g.id]}")
        if c:
            notes[g.id] = ", ".join(c)
    return notes
