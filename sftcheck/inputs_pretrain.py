"""The pre-training gate's inputs (areas ``data``, ``labels``, ``format``, ``tokens``): one
frozen bundle whose attributes are named like the checks' input parameters, each built
once on first use (see ``sftcheck.check_inputs``).  Only the tokenizer and the user's
hooks run here; the model is loaded only if ``tokens.format_embeddings_trained`` asks
(``emission``)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sftcheck.check_inputs import InputUnavailable, Sources
from sftcheck.checks.support.rows import DataAudit, Example, PromptSet, TrainSet
from sftcheck.session_data import (
    LoadedData,
    build_prompts,
    embedding_rows,
    format_rows,
    iter_file,
    load_data,
    output_embeddings,
)


@dataclass(frozen=True)
class ExampleStream:
    """The rows of a data file, streamed afresh on every iteration (``data.leakage`` reads
    the whole training file without holding it)."""
    src: Sources
    path: str

    def __iter__(self) -> Iterator[Example]:
        return iter(iter_file(self.src.cfg, self.path))


@dataclass(frozen=True)
class PretrainInputs:
    src: Sources

    # ------------------------------------------------------------------ data files
    @cached_property
    def train_data(self) -> LoadedData:
        cfg = self.src.cfg
        if not cfg.data.train:
            raise InputUnavailable(f"sftcheck: {cfg.source}: [data] train is not set. Fix: add "
                                   "[data] train = \"path/to/train.jsonl\" (or pass --sft-train).")
        return load_data(cfg, cfg.data.train)

    @cached_property
    def eval_data(self) -> LoadedData | None:
        cfg = self.src.cfg
        return load_data(cfg, cfg.data.eval) if cfg.data.eval else None

    @property
    def train_audit(self) -> DataAudit:
        return self.train_data.audit

    @property
    def eval_audit(self) -> DataAudit | None:
        return self.eval_data.audit if self.eval_data else None

    @property
    def train_examples(self) -> ExampleStream:
        if not self.src.cfg.data.train:
            self.train_data  # noqa: B018 - raises the "[data] train is not set" diagnosis
        return ExampleStream(self.src, self.src.cfg.data.train)

    @property
    def eval_examples(self) -> ExampleStream | None:
        return ExampleStream(self.src, self.src.cfg.data.eval) if self.src.cfg.data.eval else None

    # ------------------------------------------------------------------ rows through the hooks
    @property
    def tokenizer(self):
        return self.src.tokenizer

    @cached_property
    def train(self) -> TrainSet:
        """Training rows exactly as the trainer sees them (the user's formatter, then collator)."""
        return format_rows(self.train_data.examples, self.tokenizer, self.src.hooks)

    @cached_property
    def prompts(self) -> PromptSet:
        """Inference prompts (ids) for the same rows, through the user's prompt builder."""
        return build_prompts(self.train_data.examples, self.tokenizer, self.src.hooks)

    @property
    def parse(self) -> Callable[[str], Any]:
        return self.src.hooks.answer_parser.fn  # the one AnswerParser scoring uses too

    @property
    def parser_name(self) -> str:
        return self.src.hooks.answer_parser.label

    # ------------------------------------------------------------------ config values
    @property
    def max_length(self) -> int | None:
        return self.src.cfg.format.max_length

    @property
    def expected_completion(self) -> str | None:
        return self.src.cfg.format.completion_template

    @property
    def chat_template(self) -> str | None:
        return getattr(self.tokenizer, "chat_template", None)

    # ------------------------------------------------------------------ stop set, embeddings
    @property
    def stops(self):
        """The run's one stop set (shared with generation: ``Sources.stop_set``)."""
        return self.src.stop_set

    @cached_property
    def _embedding_rows(self) -> tuple[int | None, str]:
        cfg = self.src.cfg
        try:
            return embedding_rows(cfg, self.src.run)
        except (LookupError, OSError, ValueError) as exc:
            raise InputUnavailable(
                f"sftcheck: {cfg.source}: cannot read the embedding size ({exc}) from [model] adapter / "
                "finetuned / base. Fix: point [model] base at a folder with config.json and "
                "*.safetensors.") from None

    @property
    def embedding_rows(self) -> int | None:
        return self._embedding_rows[0]

    @property
    def rows_source(self) -> str:
        return self._embedding_rows[1]

    @cached_property
    def _output_embeddings(self):
        cfg = self.src.cfg
        try:
            return output_embeddings(cfg)
        except (OSError, ValueError) as exc:
            raise InputUnavailable(
                f"sftcheck: {cfg.source}: cannot read the output embedding of [model] base ({exc}). Fix: "
                "point [model] base at a folder with valid *.safetensors.") from None

    @property
    def embeddings(self):
        return self._output_embeddings[0]

    @property
    def embeddings_source(self) -> str:
        return self._output_embeddings[1]

    @cached_property
    def adapter_trains(self) -> frozenset[int]:
        """Token rows the configured adapter trains (``tokens.ids_trained_by_adapter``)."""
        from sftcheck.checks.tokens import ids_trained_by_adapter

        ac = self.src.run.adapter_config
        if not isinstance(ac, dict):
            return frozenset()  # none, or broken: artifact.config_valid reports it
        try:
            return ids_trained_by_adapter(ac)
        except (ValueError, TypeError, AttributeError):
            return frozenset()

    @property
    def emission(self) -> Callable[[Any], dict[int, float] | None] | None:
        """``measure(ids) -> {id: p}``: the tuned model's probability of emitting each token where
        training rows train it (the model is loaded only when called); None without a tuned model."""
        m = self.src.cfg.model
        if not (m.adapter or m.finetuned):
            return None

        def measure(ids):
            from sftcheck.session_model import emission_probs

            try:
                loaded = self.src.model
            except Exception:  # noqa: BLE001 - unloadable: the check warns instead
                return None
            return emission_probs(loaded, self.train, ids)
        return measure
