"""Check inputs are wired once: every input parameter of every check in a bundled area is an
attribute of that area's bundle (by name), every model test of those areas passes exactly
the bundle's keywords, and the self-test harnesses build the very same bundles."""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from sftcheck.checks.support.registry import load_all

from sftcheck import config as cfgmod
from sftcheck.check_inputs import AREA_BUNDLES, bundle_class, bundle_for, input_names, kwargs_for

ROOT = Path(__file__).resolve().parent.parent

# Areas whose checks still take their inputs from per-input session fixtures named in their
# model tests (scoring, perf, models, suite, gap, conversation, ...): not
# yet bundled.  Every bundled area must exist and be complete (below).


def check_functions():
    for cid, spec in sorted(load_all().items()):
        yield cid, spec, getattr(importlib.import_module(f"sftcheck.checks.{spec.area}"), spec.function)


def unsatisfied(fn, bundle_cls) -> list[str]:
    """Input parameters of ``fn`` that its bundle does not provide by name."""
    return [n for n in input_names(fn) if not hasattr(bundle_cls, n)]


def test_every_bundled_area_is_a_registered_area():
    areas = {spec.area for spec in load_all().values()}
    assert set(AREA_BUNDLES) <= areas
    assert {"artifact", "training", "data", "labels", "format", "tokens", "behaviour", "gates"} <= set(AREA_BUNDLES)


def test_every_check_parameter_comes_from_its_bundle_by_name():
    missing = {cid: unsatisfied(fn, bundle_class(spec.area)) for cid, spec, fn in check_functions()
               if spec.area in AREA_BUNDLES}
    assert len(missing) >= 39  # the artifact, training, pre-training, behaviour and gate checks
    assert {cid: m for cid, m in missing.items() if m} == {}


def test_a_renamed_parameter_is_caught():
    from sftcheck.checks import data

    def truncation(rows, tokenizer, max_length, *, max_bad_share=0.05):  # `train` renamed to `rows`
        return data.truncation(rows, tokenizer, max_length, max_bad_share=max_bad_share)

    assert unsatisfied(truncation, bundle_class("data")) == ["rows"]
    assert unsatisfied(data.truncation, bundle_class("data")) == []


def _model_test_calls(area: str):
    tree = ast.parse((ROOT / "model_tests" / f"test_{area}.py").read_text())
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
            yield fn


@pytest.mark.parametrize("area", sorted(AREA_BUNDLES))
def test_model_tests_pass_the_bundle_and_nothing_else(area):
    """``def test_<name>(sft_check, sft_inputs): sft_check(<area>.<name>, **sft_inputs)``: no
    model test of a bundled area wires an argument itself."""
    names = {spec.function for spec in load_all().values() if spec.area == area}
    seen = set()
    for fn in _model_test_calls(area):
        assert [a.arg for a in fn.args.args] == ["sft_check", "sft_inputs"], fn.name
        (stmt,) = fn.body
        call = stmt.value
        assert isinstance(call, ast.Call) and ast.unparse(call) == f"sft_check({area}.{fn.name[5:]}, **sft_inputs)"
        seen.add(fn.name[5:])
    assert seen == names


def test_the_self_test_harnesses_build_the_session_bundles(world):
    """tests/pretrain_inputs.Inputs and test_artifact_checks.run_all use bundle_for, the
    builder the session's sft_inputs uses; their inputs are the bundle's."""
    from sftcheck.inputs_artifact import ArtifactInputs
    from sftcheck.inputs_pretrain import PretrainInputs
    from tests.pretrain_inputs import Inputs

    pre = Inputs(world.config)
    assert type(pre.bundle) is PretrainInputs
    from sftcheck.checks import data, labels

    kw = kwargs_for(labels.response_span, pre.bundle)
    assert kw["train"] is pre.train and kw["prompts"] is pre.prompts and kw["tokenizer"] is pre.tokenizer
    assert kw["expected_completion"] == cfgmod.load(world.config).format.completion_template
    assert kwargs_for(data.answer_roundtrip, pre.bundle)["parse"] is pre.hooks.answer_parser.fn
    art = bundle_for(cfgmod.load(world.config), "artifact")
    assert type(art) is ArtifactInputs
    assert art.weights is art.weights and art.base.recorded == "sftcheck-fixtures/unitconv-base-1m"
    for harness in ("test_artifact_checks.py", "test_behaviour_world.py"):
        text = (ROOT / "tests" / harness).read_text()
        assert "bundle_for(" in text and "run_check(" in text, harness


def test_leakage_streams_each_file_afresh(world):
    """The training file is streamed on every iteration (data.leakage reads it through)."""
    pre = bundle_for(cfgmod.load(world.config), "data")
    stream = pre.train_examples
    assert [e.id for e in stream][:3] == [e.id for e in stream][:3] and len(list(stream)) > 0
