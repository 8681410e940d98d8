"""Why is every reward the same?  The usual causes, each tested with counts.

When a scorer gives (almost) every output one value, ``behaviour.reward_spread`` asks, in
this order, which of these holds over the outputs at that value:

``missing marker``  a string the scorer parses (``[scoring] markers``, or one the scorer's
                    own messages quote: "Assistant start marker 'Answer:' not found"; a message
                    that names none -- "Assistant start token not found" -- points at the
                    prompt template's tail, the assistant start every prompt ends with) is in
                    none of those outputs — and, worse, sits in the prompt template, so the
                    model continues after it and never writes it;
``refusal``         the outputs refuse ("I'm sorry, I can't ...");
``empty / truncated`` the outputs are empty or were cut at ``max_new_tokens``;
``insensitive``     the base model's different outputs got the very same scores: the
                    scorer does not read the output it is given.

The first that holds is named as the cause; all that hold are reported with counts.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sftcheck.checks.support.refusals import is_refusal
from sftcheck.checks.support.registry import see
from sftcheck.checks.support.samples import FinishReason, Generation, Scored

QUOTED = re.compile(r"'([^'\n]{1,40})'|\"([^\"\n]{1,40})\"|`([^`\n]{1,40})`|«([^»\n]{1,40})»")
MIN_SHARE = 0.5        # a cause must hold for at least half of the collapsed outputs
MAX_MARKER_SHARE = 0.05  # "missing": the marker is in at most 5 % of them
SAME_SCORE_SHARE = 0.9   # "insensitive": >= 90 % of differing base/tuned pairs score the same


@dataclass
class Cause:
    name: str
    count: int
    of: int
    detail: str
    ids: list[str] = field(default_factory=list)


def quoted_markers(messages: Iterable[str]) -> list[str]:
    """Strings the scorer's messages quote ('marker X not found')."""
    out: dict[str, None] = {}
    for msg in messages:
        for m in QUOTED.finditer(msg or ""):
            text = next(g for g in m.groups() if g)
            if text.strip():
                out.setdefault(text, None)
    return list(out)


NOT_FOUND = re.compile(r"\b(?:start|marker|token|tag|delimiter|header)\b.*\b(?:not found|missing|absent)\b|"
                       r"\b(?:no|missing)\b.*\b(?:start|marker|token|tag|delimiter|header)\b", re.IGNORECASE)


def prompt_tail(prompts: Sequence[str]) -> str | None:
    """The text every prompt ends with, from its last line: where the template hands over to
    the model ("Answer:", "<|im_start|>assistant") -- the assistant start marker."""
    if not prompts:
        return None
    rev = [p.rstrip()[::-1] for p in prompts]
    common = os.path.commonprefix(rev)[::-1]
    tail = common.rsplit("\n", 1)[-1].strip()
    return tail or None


def unquoted_marker(messages: Iterable[str], prompts: Sequence[str]) -> tuple[str, str] | None:
    """(marker, message) when the scorer complains of a start marker / token it did not find
    without quoting it ("Assistant start token not found"): the marker is then taken to be the
    prompt template's tail, the assistant start every prompt ends with."""
    said = next((m for m in messages if m and NOT_FOUND.search(m) and not QUOTED.search(m)), None)
    tail = prompt_tail(prompts) if said else None
    return (tail, said) if tail and said else None


def diagnose(ids: Sequence[str], tuned: Mapping[str, Generation], scored: Mapping[str, Sequence[Scored]],
             base: Mapping[str, Generation], markers: Sequence[str], messages: Mapping[str, str]) -> list[Cause]:
    """Every cause that holds over the collapsed outputs ``ids`` (first = the primary one)."""
    causes: list[Cause] = []
    n = len(ids)
    outs = [tuned[i] for i in ids if i in tuned]
    prompts = [g.prompt for g in tuned.values()]
    said = [messages.get(i, "") for i in ids]
    candidates = list(dict.fromkeys([*markers, *quoted_markers(said)]))
    inferred = unquoted_marker(said, prompts)
    if inferred and inferred[0] not in candidates:
        candidates.append(inferred[0])
    for marker in candidates:
        hits = [g.id for g in outs if marker in g.text or marker in g.raw_text]
        if len(hits) > MAX_MARKER_SHARE * max(1, len(outs)):
            continue
        in_prompts = sum(marker in p for p in prompts)
        where = (f"it appears in {in_prompts} of {len(prompts)} prompts — only in the prompt template: the model "
                 "continues after it and never writes it" if in_prompts else
                 "it appears in no output and no prompt: the model was never trained to write it")
        why = ""
        if inferred and marker == inferred[0]:
            n_said = sum(m == inferred[1] for m in said)
            why = (f" (the scorer says {inferred[1]!r} on {n_said} of them without naming it; every prompt "
                   f"ends with {marker!r}, the assistant start)")
        causes.append(Cause("missing marker", len(outs) - len(hits), len(outs),
                            f"the marker {marker!r} the scorer parses is missing from {len(outs) - len(hits)} of "
                            f"{len(outs)} outputs{why}; {where}", [g.id for g in outs if g.id not in hits][:20]))
    refusals = [g.id for g in outs if is_refusal(g.text)]
    if len(refusals) >= MIN_SHARE * max(1, len(outs)):
        causes.append(Cause("refusal", len(refusals), len(outs),
                            f"the model refuses: {len(refusals)} of {len(outs)} outputs are refusals "
                            f"(e.g. {tuned[refusals[0]].text.strip()[:80]!r})",
                            refusals[:20]))
    short = [g.id for g in outs if not g.text.strip() or g.finish_reason in (FinishReason.LENGTH, FinishReason.TIME)]
    if len(short) >= MIN_SHARE * max(1, len(outs)):
        empty = sum(not tuned[i].text.strip() for i in short)
        causes.append(Cause("empty / truncated", len(short), len(outs),
                            f"{empty} outputs are empty and {len(short) - empty} were cut at max_new_tokens "
                            f"(of {len(outs)})", short[:20]))
    tscore = {s.id: s.score for s in scored.get("tuned", ())}
    bscore = {s.id: s.score for s in scored.get("base", ())}
    differ = [i for i in tscore if i in bscore and i in base and i in tuned and base[i].text != tuned[i].text
              and tscore[i] is not None and bscore[i] is not None]
    same = [i for i in differ if tscore[i] == bscore[i]]
    if len(differ) >= 5 and len(same) >= SAME_SCORE_SHARE * len(differ):
        causes.append(Cause("insensitive scorer", len(same), len(differ),
                            f"base and tuned outputs differ on {len(differ)} examples, yet {len(same)} of those "
                            "pairs got the very same score: the scorer does not read the output (or only "
                            "its penalty path runs)", same[:20]))
    del n
    return causes


FIXES = {
    "missing marker": "Make the scorer parse what the model writes: strip the expectation of a marker that the "
                      "prompt template already contains (score prompt + output, or the output after the "
                      "template), or train the model to emit it; list the strings your scorer needs in "
                      "[scoring] markers.",
    "refusal": "The model refuses: check the training data for refusal targets and the system prompt used "
               "at inference; score a few non-refused answers to confirm the scorer itself works.",
    "empty / truncated": (f"Outputs are empty or cut off: train EOS ({see('labels.eos_trained')}), raise "
                          f"[generation] max_new_tokens, check {see('behaviour.stop_rate')} / "
                          f"{see('behaviour.not_empty')}."),
    "insensitive scorer": "The scorer ignores its input: check which field it reads (output vs prompt / "
                          "example), call it on a right and a wrong answer for the same example and "
                          "compare.",
}


def cause_table(causes: Sequence[Cause]) -> Any:
    from sftcheck.checks.support.result import Table

    return Table("why every reward is the same: causes tested (first = the cause named)",
                 ("cause", "outputs", "of", "detail"),
                 tuple((c.name, c.count, c.of, c.detail) for c in causes))
