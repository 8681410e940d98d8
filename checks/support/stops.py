"""The run's stop set: the token ids and strings that end a generation, each with where it
came from.  Built once per session (``sftcheck.stopset.build_stop_set``); the generation
engine stops on exactly it, ``format.stop_tokens`` judges exactly it, scoring reads a
generation up to its first stop.  Pure data and string helpers.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sftcheck.checks.support.registry import see
from sftcheck.checks.support.result import Table
from sftcheck.checks.support.samples import Generation, GenerationSet


@dataclass(frozen=True)
class StopSet:
    """Stop token ids and stop strings; ``id_sources[id]`` / ``string_sources[s]`` say where
    each came from (a config key or a file and its field)."""
    ids: tuple[int, ...]
    strings: tuple[str, ...] = ()
    id_sources: Mapping[int, str] | None = None
    string_sources: Mapping[str, str] | None = None

    @property
    def source(self) -> str:
        """Where the ids came from, in one line."""
        where = sorted(set((self.id_sources or {}).values()))
        return "; ".join(where) if where else "nothing configured"

    def table(self, tokenizer=None) -> Table:
        """Evidence: every stop id and string, as the tokenizer spells it, and its source."""
        def name(i: int) -> str:
            if tokenizer is None:
                return ""
            try:
                return str(tokenizer.convert_ids_to_tokens(int(i)))
            except (IndexError, KeyError, TypeError, ValueError, OverflowError):
                return "<not in the vocabulary>"

        rows = [("token id", i, name(i), (self.id_sources or {}).get(i, "")) for i in self.ids]
        rows += [("string", "", s, (self.string_sources or {}).get(s, "")) for s in self.strings]
        return Table("the stop set (what generation stops on)", ("kind", "id", "token / string", "from"),
                     tuple(rows))

    def to_dict(self) -> dict:
        return {"ids": list(self.ids), "strings": list(self.strings),
                "id_sources": {str(k): v for k, v in (self.id_sources or {}).items()},
                "string_sources": dict(self.string_sources or {})}


def first_stop(ids: Sequence[int], stops: StopSet) -> int | None:
    """Index of the first stop token in ``ids``, or None."""
    wanted = set(stops.ids)
    return next((k for k, t in enumerate(ids) if t in wanted), None)


def cut_text(text: str, strings: Sequence[str]) -> tuple[str, str | None]:
    """``text`` up to its first stop string, and the string that cut it (None: none found)."""
    best, which = len(text), None
    for s in strings:
        k = text.find(s) if s else -1
        if 0 <= k < best:
            best, which = k, s
    return text[:best], which


def read_to_first_stop(g: Generation, end_markers: Sequence[str], specials: Iterable[str] = ()) -> Generation:
    """``g`` as a server returns it: read up to its first end marker (a stop token or string,
    or an end-of-turn token the stop set misses).  When text follows a missed end token, the
    scored ``text`` is what came before it (special tokens removed), the rest is ``run_on``
    and the token is ``missed_stop``; otherwise ``g`` is returned unchanged."""
    raw = g.raw_text
    hits = [(raw.find(m), m) for m in end_markers if m and m in raw]
    if not hits:
        return g
    k, marker = min(hits)
    rest = raw[k + len(marker):]
    tail = rest
    for s in sorted({*end_markers, *specials}, key=len, reverse=True):
        if s:
            tail = tail.replace(s, "")
    if not tail.strip():
        return g  # only end / pad tokens follow: the output ended there
    text = raw[:k]
    for s in sorted(set(specials), key=len, reverse=True):
        if s:
            text = text.replace(s, "")
    return replace(g, text=text, run_on=rest, missed_stop=marker)


def read_set(gs: GenerationSet, end_markers: Sequence[str], specials: Iterable[str] = ()) -> GenerationSet:
    """``read_to_first_stop`` for every generation of a pass."""
    specials = tuple(specials)
    return replace(gs, items=tuple(read_to_first_stop(g, end_markers, specials) for g in gs.items))


def run_on_count(gs: GenerationSet) -> dict[str, int]:
    """How many outputs ran on past each missed end token."""
    out: dict[str, int] = {}
    for g in gs.items:
        if g.missed_stop:
            out[g.missed_stop] = out.get(g.missed_stop, 0) + 1
    return out


def run_on_note(gs: GenerationSet, ids: Iterable[str] | None = None) -> str:
    """One sentence naming the stop problem when outputs (all, or those in ``ids``) ran on past
    an end token the stop set misses; "" when none did."""
    wanted = set(ids) if ids is not None else None
    hits = [g for g in gs.items if g.missed_stop and (wanted is None or g.id in wanted)]
    if not hits:
        return ""
    tokens = sorted({g.missed_stop for g in hits})
    return (f" {len(hits)} of these outputs ended their answer with {', '.join(map(repr, tokens))} and ran on "
            f"past it: the stop set (stop ids {gs.settings.get('stop_ids')}) does not contain it, so this is "
            f"a stop-set problem, not a training one (see {see('format.stop_tokens')}); they are scored up to it and "
            "the text after it is shown as run-on.")
