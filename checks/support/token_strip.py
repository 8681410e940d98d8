"""TokenStrip evidence: a row's tokens coloured trained / masked, EOS/EOT/BOS marked."""
from __future__ import annotations

from collections.abc import Iterable

from sftcheck.checks.support.result import TokenStrip
from sftcheck.checks.support.rows import IGNORE, TrainRow

MAX_STRIPS = 20


def token_strip(row: TrainRow, tokenizer, title: str, end_ids: Iterable[int] = ()) -> TokenStrip:
    """The strip of one training row; ``special`` marks BOS, EOS/EOT and pad ids."""
    marks = set(end_ids)
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        tid = getattr(tokenizer, name, None)
        if tid is not None:
            marks.add(int(tid))
    ids = tuple(int(i) for i in row.input_ids)
    tokens = tuple(token_text(tokenizer, t) for t in tokenizer.convert_ids_to_tokens(list(ids)))
    return TokenStrip(title=title, tokens=tokens, token_ids=ids,
                      trained=tuple(lab != IGNORE for lab in row.labels[:len(ids)]),
                      special=tuple(i in marks for i in ids))


def token_text(tokenizer, token: str | None) -> str:
    """The text one token stands for (byte-level ``Ġ`` → a real space; the report makes
    whitespace visible and escapes everything)."""
    if token is None:
        return "<?>"
    try:
        text = tokenizer.convert_tokens_to_string([token])
    except Exception:  # noqa: BLE001 - a tokenizer without a usable decoder: show the raw piece
        return token
    return text if text and "\ufffd" not in text else token


def strips(rows: Iterable[TrainRow], failing: Iterable[TrainRow], tokenizer, end_ids: Iterable[int] = (),
           first: int = 3, cap: int = MAX_STRIPS) -> tuple[TokenStrip, ...]:
    """Strips for the first ``first`` rows, then every failing row, ``cap`` in all."""
    end_ids = tuple(end_ids)
    out: list[TokenStrip] = []
    seen: set[int] = set()
    for i, row in enumerate(rows):
        if i >= first:
            break
        out.append(token_strip(row, tokenizer, f"row {row.row} ({row.id})", end_ids))
        seen.add(row.row)
    for row in failing:
        if len(out) >= cap:
            break
        if row.row in seen:
            continue
        out.append(token_strip(row, tokenizer, f"FAILING row {row.row} ({row.id})", end_ids))
        seen.add(row.row)
    return tuple(out)
