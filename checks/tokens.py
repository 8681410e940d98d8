"""Vocabulary checks: every id fits the embedding matrix; the template's special tokens exist."""
from __future__ import annotations

import re

from checks.registry import check
from checks.result import CheckResult, Status, Table
from checks.rows import PromptSet, TrainSet

SPECIAL_LITERAL = re.compile(r"<\|[^|<>\s]{1,40}\|>|<(?:start|end)_of_turn>|\[/?INST\]")


def template_special_tokens(chat_template: str | None) -> list[str]:
    """Special-token literals a chat template writes (``<|im_start|>``, ``<end_of_turn>`` …)."""
    if not chat_template:
        return []
    return sorted(set(SPECIAL_LITERAL.findall(chat_template)))


@check("tokens.vocab_bounds", stage="pretrain", title="Token ids fit the embedding matrix; template tokens exist")
def vocab_bounds(train: TrainSet, prompts: PromptSet, tokenizer, embedding_rows: int, rows_source: str = "",
                 chat_template: str | None = None) -> CheckResult:
    """``max(input ids) < embedding rows`` and ``len(tokenizer) <= embedding rows``; each
    special token (tokenizer's and the chat template's) is a single vocabulary entry."""
    seqs = [("training", r.row, r.input_ids) for r in train.rows] + \
           [("inference", p.row, p.input_ids) for p in prompts.prompts]
    over = [(side, row, max(ids)) for side, row, ids in seqs if ids and max(ids) >= embedding_rows]
    max_id = max((max(ids) for _, _, ids in seqs if ids), default=-1)
    vocab = tokenizer.get_vocab()
    wanted = sorted(set(template_special_tokens(chat_template)) | {
        t for t in (getattr(tokenizer, "bos_token", None), getattr(tokenizer, "eos_token", None),
                    getattr(tokenizer, "pad_token", None)) if t})
    missing = [t for t in wanted if t not in vocab]
    n_tok = len(tokenizer)
    metrics = {"max_id": max_id, "embedding_rows": embedding_rows, "len_tokenizer": n_tok,
               "rows_source": rows_source, "template_tokens": wanted, "missing_tokens": missing}
    threshold = f"max id < {embedding_rows} embedding rows; len(tokenizer) <= rows; template tokens in vocab"
    problems = []
    if over:
        side, row, m = over[0]
        problems.append(f"{len(over)} sequences use ids >= {embedding_rows} (first: {side} row {row}, id {m} "
                        f"= {tokenizer.convert_ids_to_tokens(int(m))!r}): an index error on GPU "
                        "(device-side assert) or garbage on CPU")
    if n_tok > embedding_rows:
        added = [tokenizer.convert_ids_to_tokens(i) for i in range(embedding_rows, min(n_tok, embedding_rows + 5))]
        problems.append(f"the tokenizer has {n_tok} tokens but the embedding has {embedding_rows} rows "
                        f"(added without resizing: {added})")
    if missing:
        problems.append(f"special tokens the template uses are not in the vocabulary: {missing} "
                        "(they are split into pieces and never act as markers)")
    if problems:
        return CheckResult(
            "tokens.vocab_bounds", Status.FAIL, max_id, threshold,
            "; ".join(problems) + f". Embedding rows from {rows_source or 'the base'}.",
            fix="After adding tokens call model.resize_token_embeddings(len(tokenizer)) and train/save the "
                "new rows (modules_to_save=['embed_tokens','lm_head']), or use the tokenizer the base "
                "was trained with; add missing template tokens as special tokens.",
            metrics=metrics,
            evidence=(Table("ids beyond the embedding", ("side", "row", "max id"), tuple(over[:20])),) if over else ())
    return CheckResult("tokens.vocab_bounds", Status.PASS, max_id, threshold,
                       f"Max id {max_id} < {embedding_rows} embedding rows; len(tokenizer) = {n_tok}; "
                       f"{len(wanted)} special tokens present.", metrics=metrics)
