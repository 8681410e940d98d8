"""tokens.format_embeddings_trained on synthetic embedding matrices: what counts as an
untrained row, and when the adapter's own embedding training makes it fine."""
from __future__ import annotations

import torch
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.rows import TrainRow, TrainSet
from sftcheck.checks.tokens import format_embeddings_trained, format_token_ids, ids_trained_by_adapter


class Tok:
    all_special_ids = (0, 1)

    def convert_ids_to_tokens(self, i):
        return f"<t{i}>"


def rows(n: int = 10) -> TrainSet:
    # every row trains: a content token that varies (10 + i), the tag 5 and the EOS 1
    return TrainSet(tuple(TrainRow(i, f"r{i}", "q", "a", (2, 3, 10 + i, 5, 1), (-100, -100, 10 + i, 5, 1))
                          for i in range(n)))


def matrix(seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(40, 16)


def test_format_tokens_are_the_frequent_and_special_trained_labels():
    assert set(format_token_ids(rows(), Tok(), 0.5)) == {1, 5}


def test_distinct_rows_pass():
    r = format_embeddings_trained(rows(), Tok(), matrix(), "synthetic")
    assert r.status is Status.PASS, r.summary()


def test_mean_initialised_new_rows_fail_when_the_tuned_model_does_not_emit_them():
    # resize_token_embeddings fills new rows with the mean: identical to each other
    emb = matrix()
    emb[5] = emb[30] = emb[31] = emb[:30].mean(0)
    r = format_embeddings_trained(rows(), Tok(), emb, "synthetic", frozenset(), lambda ids: dict.fromkeys(ids, 0.02))
    assert r.status is Status.FAIL and "'<t5>'" in r.explanation and "cosine 1.00" in r.explanation
    assert "tuned p = 0.020" in r.explanation and "trainable_token_indices" in r.fix


def test_similar_rows_the_tuned_model_emits_pass():
    """Similarity alone is not evidence: a mean-initialised row the tuned model emits with
    p >= 0.5 at its label positions is usable (the issue's healthy untied-embedding run)."""
    emb = matrix()
    emb[5] = emb[30] = emb[31] = emb[:30].mean(0)
    r = format_embeddings_trained(rows(), Tok(), emb, "synthetic", frozenset(), lambda ids: dict.fromkeys(ids, 0.93))
    assert r.status is Status.PASS and "p = 0.930" in r.explanation, r.summary()


def test_similar_rows_without_a_tuned_model_warn():
    emb = matrix()
    emb[5] = emb[30] = emb[31] = emb[:30].mean(0)
    r = format_embeddings_trained(rows(), Tok(), emb, "synthetic")
    assert r.status is Status.WARN and "not yet evidence" in r.explanation, r.summary()


def test_zero_rows_fail_on_norm():
    emb = matrix()
    emb[1] = 0.0
    r = format_embeddings_trained(rows(), Tok(), emb, "synthetic", frozenset(), lambda ids: dict.fromkeys(ids, 0.0))
    assert r.status is Status.FAIL and "'<t1>'" in r.explanation and "norm 0.00 x median" in r.explanation


def test_rows_the_adapter_trains_are_fine():
    emb = matrix()
    emb[5] = emb[30] = emb[:30].mean(0)
    assert format_embeddings_trained(rows(), Tok(), emb, "s", frozenset({5})).status is Status.PASS
    assert format_embeddings_trained(rows(), Tok(), emb, "s", None).status is Status.PASS


def test_adapter_config_parsing():
    assert ids_trained_by_adapter({"modules_to_save": ["lm_head"]}) is None
    assert ids_trained_by_adapter({"trainable_token_indices": [3, 4]}) == {3, 4}
    assert ids_trained_by_adapter({"trainable_token_indices": {"embed_tokens": [7]}}) == {7}
    assert ids_trained_by_adapter({"target_modules": ["q_proj"]}) == frozenset()


def test_no_embedding_skips():
    assert format_embeddings_trained(rows(), Tok(), None, "hub id").status is Status.SKIP
