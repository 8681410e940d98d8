"""Build the pre-training checks' inputs from a run config without pytest (as the session
fixtures do), so self-tests can call check functions directly."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from sftcheck import config as cfgmod
from sftcheck import hooks as hookmod
from sftcheck.loading import load_tokenizer
from sftcheck.session_data import (
    build_prompts,
    embedding_rows,
    format_rows,
    iter_file,
    load_data,
    output_embeddings,
)


class Inputs:
    def __init__(self, config_path: str | Path):
        self.cfg = cfgmod.load(config_path)

    @cached_property
    def tokenizer(self):
        return load_tokenizer(self.cfg)

    @cached_property
    def hooks(self) -> hookmod.Hooks:
        return hookmod.resolve(self.cfg)

    @cached_property
    def train_data(self):
        return load_data(self.cfg, self.cfg.data.train)

    @cached_property
    def eval_data(self):
        return load_data(self.cfg, self.cfg.data.eval) if self.cfg.data.eval else None

    @cached_property
    def train(self):
        return format_rows(self.train_data.examples, self.tokenizer, self.hooks)

    @cached_property
    def prompts(self):
        return build_prompts(self.train_data.examples, self.tokenizer, self.hooks)

    def run(self, check_id: str):
        """Run one pretrain check with exactly the arguments model_tests pass."""
        from sftcheck.checks import data, labels, tokens
        from sftcheck.checks import format as fmt

        c, t = self.cfg, self.tokenizer
        if check_id == "data.schema":
            return data.schema(self.train_data.audit, self.eval_data.audit if self.eval_data else None)
        if check_id == "data.truncation":
            return data.truncation(self.train, t, c.format.max_length)
        if check_id == "data.answer_roundtrip":
            p = self.hooks.answer_parser
            return data.answer_roundtrip(self.train, p.fn, t, p.label)
        if check_id == "data.leakage":
            return data.leakage(iter_file(c, c.data.train), iter_file(c, c.data.eval) if c.data.eval else None)
        if check_id.startswith("labels."):
            name = check_id.split(".")[1]
            extra = (c.format.completion_template, self.prompts) if name == "response_span" else ()
            return getattr(labels, name)(self.train, t, *extra)
        if check_id in ("format.train_infer_aligned", "format.bos_single"):
            return getattr(fmt, check_id.split(".")[1])(self.train, self.prompts, t)
        if check_id == "format.stop_tokens":
            from sftcheck.stopset import build_stop_set
            return fmt.stop_tokens(self.train, build_stop_set(c, t), t)
        if check_id == "tokens.vocab_bounds":
            rows, src = embedding_rows(c)
            return tokens.vocab_bounds(self.train, self.prompts, t, rows, src, getattr(t, "chat_template", None))
        if check_id == "tokens.format_embeddings_trained":
            emb, src = output_embeddings(c)
            return tokens.format_embeddings_trained(self.train, t, emb, src, self.adapter_trains, self.emission)
        raise KeyError(check_id)

    def emission(self, ids):
        """What the ``sft_format_emission`` fixture measures (the tuned model, loaded on demand)."""
        if not (self.cfg.model.adapter or self.cfg.model.finetuned):
            return None
        from sftcheck.loading import load_model
        from sftcheck.session_model import emission_probs

        return emission_probs(load_model(self.cfg, self.tokenizer), self.train, ids)

    @cached_property
    def adapter_trains(self):
        import json

        from sftcheck.checks.tokens import ids_trained_by_adapter

        path = Path(self.cfg.model.adapter or "") / "adapter_config.json"
        return ids_trained_by_adapter(json.loads(path.read_text())) if self.cfg.model.adapter and path.is_file() \
            else frozenset()


PRETRAIN_IDS = ("data.schema", "labels.not_all_masked", "labels.prompt_masked", "labels.response_span",
                "labels.eos_trained", "data.truncation", "format.train_infer_aligned", "format.bos_single",
                "format.stop_tokens", "data.answer_roundtrip", "data.leakage", "tokens.vocab_bounds",
                "tokens.format_embeddings_trained", "labels.padding_side")
