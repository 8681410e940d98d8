"""Where a generation ends, the same way for every backend.

A backend hands back the new token ids (or text) of one row; these helpers decide the
finish reason from the run's stop set (stop token ids + stop strings: an input, never
re-derived here) and cut the text at the first stop string.
"""
from __future__ import annotations

from collections.abc import Sequence

from sftcheck.checks.support.samples import FinishReason


def cut_at_stop(text: str, stop_strings: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    cut = len(text)
    for s in stop_strings:
        k = text.find(s) if s else -1
        if k >= 0:
            cut = min(cut, k)
    return text[:cut], cut < len(text)


def finish_ids(new_ids: Sequence[int], stop_ids: Sequence[int], stop_strings: Sequence[str], decode,
               max_new_tokens: int, timed_out: bool) -> tuple[list[int], FinishReason]:
    """The row's own tokens (up to and including its first stop token; up to the token that
    completed a stop string) and why it ended.  Tokens after that are the batch's padding."""
    stops = set(stop_ids)
    ids = list(new_ids)
    for k, t in enumerate(ids):
        if t in stops:
            ids, reason = ids[:k + 1], FinishReason.EOS
            break
    else:
        reason = None
    if stop_strings:
        body = ids[:-1] if reason is FinishReason.EOS else ids
        if cut_at_stop(decode(body), stop_strings)[1]:
            k = next(k for k in range(1, len(body) + 1) if cut_at_stop(decode(body[:k]), stop_strings)[1])
            return body[:k], FinishReason.STOP
    if reason is not None:
        return ids, reason
    if len(ids) >= max_new_tokens:
        return ids, FinishReason.LENGTH
    return ids, FinishReason.TIME if timed_out else FinishReason.LENGTH
