"""Fixture world 2 — another model family (tiny Llama, a tokenizer that adds its own BOS, a
Llama-3 chat template ending turns with <|eot_id|>, GSM8K-style ``#### N`` targets, row-style
user hooks): every pre-training check passes on it, the world-agnostic broken variants fail
on it as they do on world 1, naming the cause, and the artifact checks pass on its adapter."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from sftcheck.checks.support.result import Status
from sftcheck.fixtures.broken import pretrain as broken
from sftcheck.fixtures.world_chat import world_config_text

from tests.pretrain_inputs import PRETRAIN_IDS, Inputs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def healthy2(world2) -> Inputs:
    return Inputs(world2.config)


def test_world2_is_another_family(world2):
    base = json.loads((world2.base / "config.json").read_text())
    assert base["architectures"] == ["LlamaForCausalLM"] and base["tie_word_embeddings"] is False
    row = json.loads(world2.train.read_text().splitlines()[0])
    assert {"final", "category"} <= set(row) and row["answer"].endswith(f"#### {row['final']}")
    from transformers import AutoTokenizer

    gen = json.loads((world2.adapter / "generation_config.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(world2.adapter))
    assert tok.convert_tokens_to_ids("<|eot_id|>") in gen["eos_token_id"]


@pytest.mark.parametrize("check_id", PRETRAIN_IDS)
def test_every_pretrain_check_passes_on_world2(healthy2, check_id):
    result = healthy2.run(check_id)
    assert result.status is Status.PASS, result.summary()


def test_world2_hooks_take_rows_and_the_tokenizer_adds_bos(healthy2):
    tok = healthy2.tokenizer
    assert tok("x").input_ids[0] == tok.bos_token_id
    assert healthy2.hooks.train_formatter.form == "row" and healthy2.hooks.prompt_builder.form == "row"
    row = healthy2.train.rows[0]
    assert list(row.input_ids).count(tok.bos_token_id) == 1
    assert tok.convert_ids_to_tokens(row.labels[-1]) == "<|eot_id|>"


# Every pre-training variant runs on world 2 too (it wraps the world's own formatter / config
# or derives its breakage from the world's tokens), with the words the explanation must contain
# on world 2 -- except WORLD1_ONLY, whose breakage only exists in world 1's conventions.
CASES2 = [
    (broken.all_masked, "labels.not_all_masked", ["1200 of 1200", "NOTHING is trained", "response marker"]),
    (broken.prompt_not_masked, "labels.prompt_masked", ["train their prompt", "labels = input_ids"]),
    (broken.prompt_not_masked, "labels.response_span", ["question is trained too"]),
    (broken.pad_is_eos, "labels.eos_trained", ["pad == eos", "'<|eot_id|>'", "masks labels by pad id"]),
    (broken.left_padding_collator, "labels.padding_side", ["padded on the LEFT"]),
    (broken.truncated, "data.truncation", ["max_length=24"]),
    (broken.formatter_truncates, "data.truncation", ["exactly 24 tokens long", "your formatter"]),
    (broken.role_header_trained, "labels.response_span", ["first 3 trained tokens", "end the served prompt",
                                                          "<|end_header_id|>"]),
    (broken.system_prompt_inference_only, "format.train_infer_aligned", ["system prompt on one side"]),
    (broken.double_bos, "format.bos_single", ["2 BOS tokens", "apply_chat_template(tokenize=False)"]),
    (broken.wrong_stop_token, "format.stop_tokens", ["'<|eot_id|>'", "['<|end_of_text|>']"]),
    (broken.parser_mismatch, "data.answer_roundtrip", ["recovers the gold answer from only 0", "parsed as None"]),
    (broken.train_eval_overlap, "data.leakage", ["40 of 160", "appear verbatim"]),
    (broken.malformed_row, "data.schema", ["row 5", "'answer'"]),
    (broken.formatter_raises, "labels.not_all_masked", ["raised on", "cannot format question"]),
    (broken.token_out_of_range, "tokens.vocab_bounds", ["'</answer>'", "added without resizing"]),
    # world 1's <answer> completion on world 2: its '<' / '>' pieces are rows the base never
    # trained and the tuned model never emits (the same failure, other tokens than <|im_end|>)
    (broken.untrained_chat_tokens, "tokens.format_embeddings_trained", ["look untrained", "tuned p = 0.000"]),
]

WORLD1_ONLY = {
    broken.trailing_space_prompt: "replaces the prompt with world 1's plain 'Question: ... Answer: ' template",
}


@pytest.mark.parametrize("variant, check_id, causes", CASES2, ids=[f"{v.__name__}-{c}" for v, c, _ in CASES2])
def test_broken_variant_fails_on_world2(world2, tmp_path, variant, check_id, causes):
    result = Inputs(variant(world2, tmp_path)).run(check_id)
    assert result.status is Status.FAIL, result.summary()
    for cause in causes:
        assert cause in result.explanation, (cause, result.explanation)
    assert result.fix


def test_every_pretrain_variant_is_proven_on_world2_or_says_why_not():
    on_world2 = {v for v, _, _ in CASES2}
    assert set(broken.VARIANTS) == on_world2 | set(WORLD1_ONLY) and not on_world2 & set(WORLD1_ONLY)
    assert set(PRETRAIN_IDS) <= {c for _, c, _ in CASES2}


def _keys(toml_text: str) -> set[tuple[str, str]]:
    """(section, key) pairs; ``[[suites]]`` blocks by their keys, ``[gates."<id>"]`` by the
    gate's check (a suite's name is the user's own)."""
    raw = tomllib.loads(toml_text)
    out = set()
    for section, table in raw.items():
        for item in table if isinstance(table, list) else [table]:
            for key, value in item.items():
                if section == "gates":
                    check = key.split(".")
                    out |= {(f"gates.{check[0]}.{check[-1]}", k) for k in value}
                else:
                    out.add((section, key))
    return out


def readme_gsm8k_example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### A GSM8K-style run"):]
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match, "the README's GSM8K section has no toml block"
    return match.group(1)


def test_readme_gsm8k_example_and_world2_config_set_the_same_keys(tmp_path):
    readme = _keys(readme_gsm8k_example())
    world = _keys(world_config_text(tmp_path))
    assert readme == world, (f"only in the README: {sorted(readme - world)}; "
                             f"only in world 2's config: {sorted(world - readme)}")


def test_worlds_doc_lists_every_check():
    """docs/WORLDS.md says for every registered check where it is proven to fail (both worlds,
    one, or synthetic inputs): a new check needs its row."""
    from sftcheck.checks.support.registry import load_all

    doc = (REPO / "docs" / "WORLDS.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+\.(?:[a-z_]+|\*))`", doc, re.MULTILINE))
    missing = [i for i in load_all() if i not in listed and f"{i.split('.')[0]}.*" not in listed]
    assert not missing, missing
