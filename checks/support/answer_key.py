"""A multiple-choice file whose answer key is shifted (a 0- vs 1-based index slip, letters
moved by one when the file was converted): the model's choices sit at one fixed offset from
the key's letter far more often than chance allows.

A healthy model picks the key's letter (offset 0); a weak one spreads its picks (each offset
~1/k); a model that always answers "A" gives offsets that follow the key's letters, which the
check requires to vary.  Only a consistent non-zero offset across different key letters, far
above chance (exact binomial test, Bonferroni over the offsets tried), reads as a shifted key.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sftcheck.checks.support.samples import Scored

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class KeyShift:
    offset: int         # the model's choice minus the key's letter (signed, in choices)
    rows: int           # rows at that offset
    n: int              # rows compared
    key_letters: int    # distinct key letters among those rows
    pvalue: float       # exact binomial, one-sided, Bonferroni-adjusted over the offsets tried

    def describe(self, model: str = "tuned") -> str:
        where = (f"the choice {abs(self.offset)} {'after' if self.offset > 0 else 'before'} the key's letter"
                 if abs(self.offset) > 1 else f"the choice {'after' if self.offset > 0 else 'before'} the key's letter")
        return (f"in {self.rows} of {self.n} rows the {model} model's choice is {where} (over {self.key_letters} "
                f"different key letters; chance would put ~1/k there, exact binomial p = {self.pvalue:.2g})")


def _signed(offset: int, k: int) -> int:
    return offset if offset <= k // 2 else offset - k


def shifted_key(scored: Sequence[Scored], n_choices: Mapping[str, int], *, min_share: float = 0.6,
                alpha: float = 1e-3, min_rows: int = 10) -> KeyShift | None:
    """The consistent non-zero offset of the picks from the key, when there is one (else None)."""
    rows = [(s, n_choices[s.id]) for s in scored
            if n_choices.get(s.id, 0) >= 2 and s.gold in LETTERS and s.extracted is not None
            and len(s.extracted) == 1 and s.extracted in LETTERS]
    if len(rows) < min_rows:
        return None
    offsets = Counter(_signed((LETTERS.index(s.extracted) - LETTERS.index(s.gold)) % k, k) for s, k in rows)
    offset, count = max(((o, c) for o, c in offsets.items() if o != 0), key=lambda oc: oc[1], default=(0, 0))
    if not offset or count < min_share * len(rows):
        return None
    from scipy.stats import binomtest

    chance = sum(1.0 / k for _, k in rows) / len(rows)
    tried = max(k for _, k in rows) - 1
    p = min(1.0, binomtest(count, len(rows), chance, alternative="greater").pvalue * tried)
    letters = len({s.gold for s, k in rows
                   if _signed((LETTERS.index(s.extracted) - LETTERS.index(s.gold)) % k, k) == offset})
    if p >= alpha or letters < 2:
        return None
    return KeyShift(offset, count, len(rows), letters, p)
