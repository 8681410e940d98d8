"""Every artifact check passes on the healthy world and fails, naming the cause, on its
broken variant (check functions called directly; the zoo test runs them through pytest)."""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sftcheck.checks import artifact, training
from sftcheck.checks.support.base_identity import BaseInfo
from sftcheck.checks.support.lora_layout import Unreadable, parse_key, scale_of
from sftcheck.checks.support.lora_payload import scan_updates
from sftcheck.checks.support.result import Status
from sftcheck.checks.support.safetensors_header import HeaderError, read_header
from sftcheck.fixtures.broken import artifact as broken

from sftcheck import config as cfgmod
from sftcheck import session_artifact as session
from sftcheck.check_inputs import bundle_for, run_check

# What each variant's failing explanation must name (the cause, in words a user can act on).
CAUSE = {
    "missing_adapter_file": "no adapter_model.safetensors",
    "zero_byte_safetensors": "0 bytes",
    "truncated_file": "truncated",
    "garbage_header": "not valid JSON",
    "zero_numel_tensor": "zero-numel",
    "untrained_adapter": "exactly zero",
    "partly_untrained": "6 of 28",
    "nan_tensor": "NaN/Inf",
    "partial_layers": "layers_to_transform",
    "other_base_shape": "do not fit the configured base",
    "wrong_base_name": "Qwen/Qwen2.5-0.5B-Instruct",
    "base_path_elsewhere": "does not exist on this machine",
    "unresolvable_base": "nothing about the base was verified",
    "modules_to_save_vocab": "rows but the base has",
    "tokenizer_missing": "no tokenizer",
    "chat_template_missing": "no chat template",
    "bin_only": "convert to safetensors",
    "bad_lora_config": "PREFIX_TUNING",
    "log_nan_loss": "nan",
    "log_loss_collapsed": "exactly 0.0",
    "log_grad_zero": "grad_norm is 0.0",
}


ARTIFACT_IDS = ("artifact.adapter_files", "artifact.safetensors_valid", "artifact.config_valid",
                "artifact.base_match", "artifact.target_coverage", "artifact.lora_b_nonzero", "artifact.finite",
                "artifact.tokenizer_saved", "artifact.vocab_consistent", "training.log_sane")


def run_all(config_path: Path) -> dict[str, object]:
    """All ten checks on one run config, with the session's own inputs (``ArtifactInputs``,
    built as the plugin builds it) and the config's [gates."<id>"] thresholds, as sft_check runs them."""
    inputs = bundle_for(cfgmod.load(config_path), "artifact")
    results = [run_check(check_id, inputs) for check_id in ARTIFACT_IDS]
    return {r.id: r for r in results}


@pytest.fixture(scope="module")
def healthy(world):
    return run_all(world.config)


def test_every_check_passes_on_the_healthy_world(healthy, world):
    assert len(healthy) == 10
    bad = {cid: r.summary() for cid, r in healthy.items()
           if r.status is not Status.PASS and cid != "training.log_sane"}
    assert bad == {}
    log = healthy["training.log_sane"]
    if log.status is not Status.PASS:
        # The world's task is fully deterministic: its final loss is legitimately < 0.1, which
        # the default band calls suspicious.  With the gate set for such a task it passes.
        assert log.status is Status.WARN and "suspiciously low" in log.explanation
        state = json.loads((world.adapter / "trainer_state.json").read_text())
        assert training.log_sane(state, min_final_loss=log.value / 2).status is Status.PASS


def test_healthy_world_reports_provenance_and_norms(healthy):
    tok = healthy["artifact.tokenizer_saved"].metrics
    assert len(tok["chat_template_sha256"]) == 64
    lora = healthy["artifact.lora_b_nonzero"].metrics
    assert lora["zero_share"] == 0 and 0 < lora["relative_update_median"] < 10
    assert healthy["artifact.base_match"].metrics["checked_tensors"] == 56


@pytest.mark.parametrize("variant", sorted(broken.VARIANTS))
def test_broken_variant_is_caught_with_its_cause(world, tmp_path, variant):
    results = run_all(broken.VARIANTS[variant](world, tmp_path))
    check_id, status = broken.EXPECTED[variant]
    got = results[check_id]
    assert got.status.value == status, got.summary()
    assert CAUSE[variant].lower() in (str(got.value) + got.explanation + got.fix).lower(), got.summary()
    assert got.fix, "a non-pass result must say how to fix it"
    errors = [r.summary() for r in results.values() if r.status is Status.ERROR]
    assert errors == [], "broken input must become fail/skip, never an internal error"


def test_bin_adapter_is_read_with_explicit_opt_in(world, tmp_path):
    broken.bin_only(world, tmp_path)
    cfg_path = broken.write_config(world, tmp_path, tmp_path / "adapter", allow_pickle=True)
    results = run_all(cfg_path)
    assert results["artifact.adapter_files"].status is Status.PASS
    assert "weights_only=True" in results["artifact.adapter_files"].explanation
    assert results["artifact.safetensors_valid"].status is Status.SKIP
    for cid in ("artifact.base_match", "artifact.lora_b_nonzero", "artifact.finite"):
        assert results[cid].status is Status.PASS, results[cid].summary()


def test_zero_byte_and_header_truncation_report_expected_vs_actual_bytes(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(HeaderError) as exc:
        read_header(empty)
    assert (exc.value.expected_bytes, exc.value.actual_bytes) == (8, 0)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(struct.pack("<Q", 500) + b'{"a": ')
    result = artifact.safetensors_valid(_header_or_error(cut))
    assert result.status is Status.FAIL
    assert result.value == "expected >= 508 bytes, found 14"


def _header_or_error(path):
    try:
        return read_header(path)
    except HeaderError as exc:
        return exc


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_header_or_a_header_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("hyp") / "x.safetensors"
    path.write_bytes(data)
    result = artifact.safetensors_valid(_header_or_error(path))
    assert result.status in (Status.PASS, Status.FAIL)


def test_relative_update_norm_matches_the_dense_product(world):
    header = read_header(world.adapter / "adapter_model.safetensors")
    cfg = json.loads((world.adapter / "adapter_config.json").read_text())
    reader = session.base_tensor_reader(session.read_base_info(cfgmod.load(world.config)))
    update = next(u for u in scan_updates(header, cfg, reader, 100)
                  if u.module.endswith("layers.1.self_attn.q_proj"))
    from safetensors.torch import load_file

    t = load_file(str(world.adapter / "adapter_model.safetensors"))
    prefix = "base_model.model.model.layers.1.self_attn.q_proj"
    dense = scale_of("q_proj", cfg) * (t[f"{prefix}.lora_B.weight"].double()
                                       @ t[f"{prefix}.lora_A.weight"].double())
    w = reader("model.layers.1.self_attn.q_proj").double()
    assert math.isclose(update.relative, float(dense.norm() / w.norm()), rel_tol=1e-9)


def test_rank_pattern_is_honoured_in_shape_checks(world):
    header = read_header(world.adapter / "adapter_model.safetensors")
    cfg = json.loads((world.adapter / "adapter_config.json").read_text())
    base = session.read_base_info(cfgmod.load(world.config))
    cfg_pattern = {**cfg, "rank_pattern": {"q_proj": 4}}
    result = artifact.base_match(cfg_pattern, header, base)
    assert result.status is Status.FAIL and result.metrics["mismatches"] == 8  # 4 layers x A, B
    assert "r = 4" in str(result.evidence[0].rows[0])


def test_key_parsing_covers_peft_layouts():
    k = parse_key("base_model.model.model.layers.7.mlp.down_proj.lora_B.weight")
    assert (k.module, k.part, k.kind, k.layer) == ("model.layers.7.mlp.down_proj", "lora_B", "down_proj", 7)
    assert parse_key("base_model.model.model.embed_tokens.lora_embedding_A").part == "lora_embedding_A"
    assert parse_key("base_model.model.lm_head.weight") is None


def test_missing_inputs_skip_instead_of_crashing():
    assert artifact.adapter_files(None).status is Status.SKIP
    assert artifact.base_match({"r": 8}, Unreadable("gone"), BaseInfo("b")).status is Status.SKIP
    assert artifact.config_valid(Unreadable("x: not valid JSON")).status is Status.FAIL
    assert training.log_sane(None).status is Status.SKIP


def test_hub_id_base_gets_shapes_from_a_meta_device_model(world, tmp_path):
    """A base without local safetensors: shapes from its config on the meta device."""
    import shutil

    base = tmp_path / "base_no_weights"
    base.mkdir()
    shutil.copy(world.base / "config.json", base / "config.json")
    cfg = cfgmod.load(world.config).with_overrides("model", base=str(base))
    info = session.read_base_info(cfg)
    assert info.shapes_source.startswith("meta-device")
    header = read_header(world.adapter / "adapter_model.safetensors")
    ac = json.loads((world.adapter / "adapter_config.json").read_text())
    assert artifact.base_match(ac, header, info).status is Status.PASS
    base_cfg = json.loads((world.base / "config.json").read_text())
    assert info.shapes["model.embed_tokens.weight"] == (base_cfg["vocab_size"], base_cfg["hidden_size"])


def test_unloadable_bin_fails_instead_of_erroring(tmp_path):
    (tmp_path / "adapter_model.bin").write_bytes(b"not a pickle at all")
    weights = session.read_adapter_weights(tmp_path, allow_pickle=True)
    result = artifact.safetensors_valid(weights)
    assert result.status is Status.FAIL and "weights_only=True" in result.explanation


def test_base_identity_rules(world):
    header = read_header(world.adapter / "adapter_model.safetensors")
    ac = json.loads((world.adapter / "adapter_config.json").read_text())
    shapes = session.read_base_info(cfgmod.load(world.config)).shapes
    local = str(world.base)
    rec = {**ac, "base_model_name_or_path": "org/model-7b"}
    # a bare local folder cannot confirm a hub id: warn and say how to declare it
    r = artifact.base_match(rec, header, BaseInfo(local, resolved_path=local, shapes=shapes))
    assert r.status is Status.WARN and "base_id = 'org/model-7b'" in r.fix
    # declared and matching, or a hub-cache snapshot of that id: pass
    assert artifact.base_match(rec, header, BaseInfo(local, resolved_path=local, declared_id="org/model-7b",
                                                     shapes=shapes)).status is Status.PASS
    snap = "/cache/hub/models--org--model-7b/snapshots/abc"
    assert artifact.base_match(rec, header, BaseInfo(snap, resolved_path=snap,
                                                     shapes=shapes)).status is Status.PASS
    # declared as something else: fail
    assert artifact.base_match(rec, header, BaseInfo(local, resolved_path=local, declared_id="org/other",
                                                     shapes=shapes)).status is Status.FAIL


def test_a_lora_factor_saved_without_its_partner_fails_base_match(world, tmp_path):
    from safetensors.torch import load_file, save_file

    t = load_file(str(world.adapter / "adapter_model.safetensors"))
    gone = "base_model.model.model.layers.2.mlp.up_proj.lora_B.weight"
    save_file({k: v for k, v in t.items() if k != gone}, str(tmp_path / "a.safetensors"))
    ac = json.loads((world.adapter / "adapter_config.json").read_text())
    base = session.read_base_info(cfgmod.load(world.config))
    r = artifact.base_match(ac, read_header(tmp_path / "a.safetensors"), base)
    assert r.status is Status.FAIL and "model.layers.2.mlp.up_proj.lora_B" in str(r.evidence[0].rows)
