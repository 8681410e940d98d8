"""Each pre-training check passes on the healthy world and fails, naming the cause, on its
broken variant (fixtures/broken/pretrain.py).  Checks are called directly (fast)."""
from __future__ import annotations

import pytest
from sftcheck.checks import tokens as checks_tokens
from sftcheck.checks.support.result import SideBySide, Status, Table, Text, TokenStrip
from sftcheck.fixtures.broken import pretrain as broken

from tests.pretrain_inputs import PRETRAIN_IDS, Inputs


@pytest.fixture(scope="module")
def healthy(world) -> Inputs:
    return Inputs(world.config)


@pytest.mark.parametrize("check_id", PRETRAIN_IDS)
def test_passes_on_healthy_world(healthy, check_id):
    result = healthy.run(check_id)
    assert result.status is Status.PASS, result.summary()


def test_healthy_label_checks_show_three_token_strips(healthy):
    result = healthy.run("labels.not_all_masked")
    strips = [e for e in result.evidence if isinstance(e, TokenStrip)]
    assert len(strips) == 3
    strip = strips[0]
    assert strip.trained[-1] and strip.special[-1], "the EOS closes the row, trained and marked"
    assert not strip.trained[0] and strip.special[0], "the BOS starts the row, masked and marked"


# variant, check id, words the explanation must contain (the cause)
CASES = [
    (broken.all_masked, "labels.not_all_masked", ["1200 of 1200", "NOTHING is trained", "response marker"]),
    (broken.prompt_not_masked, "labels.prompt_masked", ["train their prompt", "labels = input_ids"]),
    (broken.prompt_not_masked, "labels.response_span", ["question is trained too"]),
    (broken.pad_is_eos, "labels.eos_trained", ["pad == eos", "masks labels by pad id"]),
    (broken.left_padding_collator, "labels.padding_side", ["padded on the LEFT", "hooks.py:collate",
                                                            "trl#1842"]),
    (broken.truncated, "data.truncation", ["max_length=24", "lose the end of the answer"]),
    (broken.formatter_truncates, "data.truncation", ["1170 of 1200", "exactly 24 tokens long",
                                                     "your formatter", "already cut them"]),
    (broken.role_header_trained, "labels.response_span", ["first 3 trained tokens", "end the served prompt",
                                                          "role header"]),
    (broken.trailing_space_prompt, "format.train_infer_aligned", ["token 15", "extra inference text ' '"]),
    (broken.system_prompt_inference_only, "format.train_infer_aligned", ["system prompt on one side"]),
    (broken.double_bos, "format.bos_single", ["2 BOS tokens", "apply_chat_template(tokenize=False)"]),
    (broken.wrong_stop_token, "format.stop_tokens", ["'<|endoftext|>'", "['<|im_end|>']"]),
    (broken.parser_mismatch, "data.answer_roundtrip", ["recovers the gold answer from only 0", "parsed as None"]),
    (broken.train_eval_overlap, "data.leakage", ["40 of 160", "appear verbatim"]),
    (broken.malformed_row, "data.schema", ["row 5", "field 'answer'", "missing field"]),
    (broken.formatter_raises, "labels.not_all_masked", ["raised on", "cannot format question"]),
    (broken.token_out_of_range, "tokens.vocab_bounds", ["'</answer>'", "added without resizing"]),
    (broken.untrained_chat_tokens, "tokens.format_embeddings_trained", ["'<|im_end|>'", "look untrained",
                                                                         "sampling almost never"]),
]


@pytest.mark.parametrize("variant, check_id, causes", CASES,
                         ids=[f"{v.__name__}-{c}" for v, c, _ in CASES])
def test_fails_on_broken_variant(world, tmp_path, variant, check_id, causes):
    result = Inputs(variant(world, tmp_path)).run(check_id)
    assert result.status is Status.FAIL, result.summary()
    for cause in causes:
        assert cause in result.explanation, (cause, result.explanation)
    assert result.fix and result.threshold


def test_every_pretrain_check_has_a_broken_variant():
    assert set(PRETRAIN_IDS) <= {c for _, c, _ in CASES}
    assert set(broken.VARIANTS.items()) <= {(v, c) for v, c, _ in CASES}


def test_failing_rows_get_token_strips(world, tmp_path):
    result = Inputs(broken.pad_is_eos(world, tmp_path)).run("labels.eos_trained")
    strips = [e for e in result.evidence if isinstance(e, TokenStrip)]
    assert 3 < len(strips) <= 20
    assert any(s.title.startswith("FAILING") for s in strips)
    assert all(not s.trained[-1] for s in strips), "the masked EOS is shown untrained"


def test_misaligned_prompt_shows_both_renderings(world, tmp_path):
    result = Inputs(broken.trailing_space_prompt(world, tmp_path)).run("format.train_infer_aligned")
    sbs = next(e for e in result.evidence if isinstance(e, SideBySide))
    assert "first difference at token 15" in sbs.title
    assert sbs.left.split("\n\n--- tokens ---")[0] + " " == sbs.right.split("\n\n--- tokens ---")[0]


def test_hook_traceback_is_evidence(world, tmp_path):
    result = Inputs(broken.formatter_raises(world, tmp_path)).run("labels.eos_trained")
    assert result.status is Status.FAIL
    tb = next(e for e in result.evidence if isinstance(e, Text))
    assert "ValueError: cannot format question" in tb.body and "hooks.py" in tb.body


def test_malformed_row_table_names_file_row_field(world, tmp_path):
    result = Inputs(broken.malformed_row(world, tmp_path)).run("data.schema")
    table = next(e for e in result.evidence if isinstance(e, Table))
    rows = {(r[1], r[2]) for r in table.rows}
    assert (5, "answer") in rows and (9, "<row>") in rows
    assert all(r[0].endswith("train.jsonl") for r in table.rows)


def test_all_masked_variant_skips_checks_that_need_a_boundary(world, tmp_path):
    inputs = Inputs(broken.all_masked(world, tmp_path))
    for check_id in ("format.train_infer_aligned", "data.answer_roundtrip", "labels.response_span"):
        assert inputs.run(check_id).status is Status.SKIP


def test_left_padding_tokenizer_without_collator_warns(world, tmp_path):
    result = Inputs(broken.left_padding_tokenizer(world, tmp_path)).run("labels.padding_side")
    assert result.status is Status.WARN, result.summary()
    assert "padding_side is 'left'" in result.explanation and "padding_side = 'right'" in result.fix


def test_left_padded_rows_are_unpadded_for_the_other_checks(world, tmp_path):
    """The left padding is recorded, and the rows the label checks see are the real tokens."""
    inputs = Inputs(broken.left_padding_collator(world, tmp_path))
    assert all(r.left_pad >= 0 for r in inputs.train.rows) and any(r.left_pad for r in inputs.train.rows)
    assert inputs.run("labels.eos_trained").status is Status.PASS


def test_tokenizer_only_gate_skips_the_id_bound_but_checks_template_tokens(world, tmp_path):
    """A pre-training CI gate with only a tokenizer and data: no model, no embedding size."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[model]\ntokenizer = "{world.adapter}"\n\n[format]\n'
                   'prompt_template = "Question: {question}\\nAnswer:"\n'
                   'completion_template = " <answer>{answer}</answer>"\n\n'
                   f'[data]\ntrain = "{world.train}"\n')
    inputs = Inputs(cfg)
    result = inputs.run("tokens.vocab_bounds")
    assert result.status is Status.SKIP and "Set [model] base" in result.explanation
    assert inputs.run("labels.eos_trained").status is Status.PASS
    missing = checks_tokens.vocab_bounds(inputs.train, inputs.prompts, inputs.tokenizer, None, "none",
                                         "{{ '<|turn|>' + message['content'] }}")
    assert missing.status is Status.FAIL and "'<|turn|>'" in missing.explanation


def test_no_format_configured_skips_the_format_checks(world, tmp_path):
    """No hooks, templates or chat: the rows and prompts would both be sftcheck's default
    template, so comparing them proves nothing (a SKIP with the reason, never a PASS)."""
    inputs = Inputs(broken.write_config(world, tmp_path, drop=("prompt_builder", "train_formatter")))
    for check_id in ("format.train_infer_aligned", "format.bos_single", "format.stop_tokens"):
        result = inputs.run(check_id)
        assert result.status is Status.SKIP, result.summary()
        assert "No format configured" in result.explanation and "compared with itself" in result.explanation
    configured = Inputs(broken.write_config(world, tmp_path / "t", drop=("prompt_builder", "train_formatter"),
                                            fmt={"prompt_template": "Question: {question}\nAnswer:"}))
    assert configured.run("format.train_infer_aligned").status is Status.PASS


def test_broken_adapter_file_reads_the_embedding_size_from_the_base(world, tmp_path):
    """A garbage adapter_model.safetensors (artifact.safetensors_valid fails it) does not stop
    tokens.vocab_bounds: the embedding size comes from the base, and the source says so."""
    from sftcheck.fixtures.broken import artifact as broken_artifact

    from sftcheck.session_data import embedding_rows

    inputs = Inputs(broken_artifact.garbage_header(world, tmp_path))
    result = inputs.run("tokens.vocab_bounds")
    assert result.status is Status.PASS, result.summary()
    rows, source = embedding_rows(inputs.cfg)
    assert rows == len(inputs.tokenizer) and "passed over: adapter_model.safetensors unreadable" in source, source
