"""Span logic (hypothesis) and hooks: import paths, defaults, collators, clean errors."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sftcheck.checks import labels
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.rows import IGNORE, Example, TrainRow, TrainSet
from sftcheck.checks.support.spans import (
    first_difference,
    first_trained,
    last_trained,
    trained_positions,
    trained_runs,
    truncate,
)

from sftcheck import config as cfgmod
from sftcheck import hooks as hookmod

labels_st = st.lists(st.one_of(st.just(IGNORE), st.integers(0, 50)), max_size=40)


@given(labels_st)
def test_runs_cover_exactly_the_trained_positions(labels_):
    runs = trained_runs(labels_)
    assert [i for a, b in runs for i in range(a, b)] == trained_positions(labels_)
    assert all(b < c for (_, b), (c, _) in itertools.pairwise(runs)), "runs are maximal and disjoint"
    pos = trained_positions(labels_)
    assert first_trained(labels_) == (pos[0] if pos else None)
    assert last_trained(labels_) == (pos[-1] if pos else None)


@given(st.lists(st.integers(0, 5), max_size=20), st.lists(st.integers(0, 5), max_size=20))
def test_first_difference(a, b):
    i = first_difference(a, b)
    if i is None:
        assert a == b
    else:
        assert a[:i] == b[:i] and (i == min(len(a), len(b)) or a[i] != b[i])


@given(labels_st, st.integers(0, 50))
def test_truncate_keeps_a_prefix(labels_, n):
    ids = list(range(len(labels_)))
    t_ids, t_labels = truncate(ids, labels_, n)
    assert t_ids == ids[:n] and t_labels == labels_[:n]


@settings(max_examples=60, deadline=None)
@given(prompt=st.lists(st.integers(5, 50), min_size=2, max_size=10),
       answer=st.lists(st.integers(5, 50), min_size=1, max_size=10), eos_kept=st.booleans())
def test_eos_trained_iff_last_label_is_eos(prompt, answer, eos_kept):
    class Tok:
        pad_token_id, eos_token_id = 0, 2

        def convert_ids_to_tokens(self, ids):
            return [f"t{i}" for i in ids] if isinstance(ids, list) else f"t{ids}"

    ids = [1] + prompt + answer + [2]
    labs = [IGNORE] * (1 + len(prompt)) + answer + [2 if eos_kept else IGNORE]
    train = TrainSet((TrainRow(1, "a", "q", "a", tuple(ids), tuple(labs)),), end_ids=frozenset({2}))
    result = labels.eos_trained(train, Tok())
    assert result.status is (Status.PASS if eos_kept else Status.FAIL)


# ---------------------------------------------------------------- hooks

def config(tmp_path: Path, fmt: str) -> cfgmod.Config:
    path = tmp_path / "run.toml"
    path.write_text(f"[format]\n{fmt}\n")
    return cfgmod.load(path)


def test_hook_from_py_file_relative_to_config(tmp_path, world):
    (tmp_path / "my_hooks.py").write_text("def build(question, tokenizer):\n    return 'Q: ' + question\n")
    hooks = hookmod.resolve(config(tmp_path, 'prompt_builder = "my_hooks.py:build"'))
    from sftcheck.loading import load_tokenizer
    tok = load_tokenizer(cfgmod.load(world.config))
    text, ids = hooks.prompt(Example("f", 1, "a", "hi", "4"), tok)
    assert text == "Q: hi" and ids == list(tok("Q: hi").input_ids)


@pytest.mark.parametrize("fmt, words", [
    ('train_formatter = "nowhere.py:f"', ["does not exist", "relative to"]),
    ('train_formatter = "no_such_module_xyz:f"', ["importing 'no_such_module_xyz' failed"]),
    ('train_formatter = "sftcheck.fixtures.user_code:nope"', ["has no callable 'nope'"]),
    ('train_formatter = "just_a_name"', ["is not 'module:function'"]),
    ("answer_pattern = '(unclosed'", ["not a valid regex"]),
])
def test_unusable_hook_is_a_clear_error(tmp_path, fmt, words):
    with pytest.raises(hookmod.HookError) as err:
        hookmod.resolve(config(tmp_path, fmt))
    for w in words:
        assert w in str(err.value)


def test_builtin_chat_default_is_completion_only(tmp_path, world):
    from sftcheck.loading import load_tokenizer
    tok = load_tokenizer(cfgmod.load(world.config))
    hooks = hookmod.resolve(config(tmp_path, "chat = true"))
    row = hooks.train_row(Example("f", 1, "a", "What is 2+2?", "4"), tok)
    trained = [t for t, lab in zip(row["input_ids"], row["labels"]) if lab != IGNORE]
    assert tok.decode(trained) == "4<|im_end|>"
    _, prompt = hooks.prompt(Example("f", 1, "a", "What is 2+2?", "4"), tok)
    assert row["input_ids"][:len(prompt)] == prompt and row["labels"][len(prompt) - 1] == IGNORE


def test_builtin_template_batch_equals_row_by_row(tmp_path, world):
    from sftcheck.loading import load_tokenizer
    tok = load_tokenizer(cfgmod.load(world.config))
    hooks = hookmod.resolve(config(tmp_path, 'prompt_template = "Q: {question}\\nA:"'))
    exs = [Example("f", i, str(i), f"What is {i}+{i}?", str(2 * i)) for i in range(1, 30)]
    assert hooks.train_rows(exs, tok) == [hooks.train_row(e, tok) for e in exs]
