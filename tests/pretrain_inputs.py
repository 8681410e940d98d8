"""The pre-training checks' inputs for a run config, without pytest: the session's own
``PretrainInputs`` bundle (``sftcheck.inputs_pretrain``, built as the session builds it), so
self-tests call check functions with exactly the inputs model_tests pass."""
from __future__ import annotations

from pathlib import Path

from sftcheck import config as cfgmod
from sftcheck.check_inputs import bundle_for, run_check


class Inputs:
    """``PretrainInputs`` of a config file; its attributes (``train``, ``prompts``,
    ``tokenizer``, ``train_data``, …) are the bundle's, plus ``cfg`` and ``hooks``."""

    def __init__(self, config_path: str | Path):
        self.bundle = bundle_for(cfgmod.load(config_path), "data")
        self.cfg = self.bundle.src.cfg

    @property
    def hooks(self):
        return self.bundle.src.hooks

    def __getattr__(self, name: str):
        return getattr(self.bundle, name)

    def run(self, check_id: str):
        """Run one pretrain check with exactly the arguments model_tests pass (``sft_inputs``)."""
        return run_check(check_id, self.bundle)


PRETRAIN_IDS = ("data.schema", "labels.not_all_masked", "labels.prompt_masked", "labels.response_span",
                "labels.eos_trained", "data.truncation", "format.train_infer_aligned", "format.bos_single",
                "format.stop_tokens", "data.answer_roundtrip", "data.leakage", "tokens.vocab_bounds",
                "tokens.format_embeddings_trained", "labels.padding_side")
