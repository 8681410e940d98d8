"""The artifact and training stages' inputs (areas ``artifact``, ``training``): one frozen
bundle whose attributes are named like the checks' input parameters, each built once on
first use from the session's ``Run`` (see ``sftcheck.check_inputs``).  Headers and small
JSON files only: no weights are loaded, nothing is written into the user's folders."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sftcheck.check_inputs import Sources
from sftcheck.checks.support.base_identity import BaseInfo
from sftcheck.checks.support.lora_layout import Unreadable
from sftcheck.checks.support.safetensors_header import Header, HeaderError
from sftcheck.checks.support.tokenizer_files import SavedTokenizer
from sftcheck.session_artifact import base_tensor_reader, read_adapter_weights, read_base_info


@dataclass(frozen=True)
class ArtifactInputs:
    src: Sources

    @property
    def adapter_dir(self) -> Path | None:
        """The configured adapter folder (None for a full fine-tune)."""
        a = self.src.cfg.model.adapter
        return Path(a) if a else None

    @property
    def allow_pickle(self) -> bool:
        return self.src.cfg.model.allow_pickle

    @property
    def adapter_config(self) -> dict | Unreadable | None:
        """The parsed ``adapter_config.json`` (the Run's one read)."""
        return self.src.run.adapter_config

    @cached_property
    def weights(self) -> Header | HeaderError | Unreadable | None:
        """The adapter's safetensors header (tensor payloads are read lazily by checks)."""
        d = self.adapter_dir
        return read_adapter_weights(d, self.allow_pickle) if d else None

    @cached_property
    def base(self) -> BaseInfo:
        """The base's identity, weight shapes (headers only), chat template and recorded base."""
        return read_base_info(self.src.cfg, self.src.run)

    @cached_property
    def base_tensor(self) -> Callable[[str], Any] | None:
        return base_tensor_reader(self.base)

    @property
    def tokenizer_path(self) -> str | None:
        return self.src.cfg.model.tokenizer

    @property
    def chat(self) -> bool:
        return self.src.cfg.format.chat

    @property
    def saved_in(self) -> Callable[[str | Path], SavedTokenizer]:
        return self.src.run.saved_tokenizer

    @property
    def tokenizer_len(self) -> int | Unreadable:
        """``len(tokenizer)`` of the tokenizer training and inference share (the one load)."""
        from sftcheck.loading import LoadError

        tok = self.src.tokenizer_or_error
        return Unreadable(str(tok)) if isinstance(tok, LoadError) else len(tok)

    @property
    def trainer_state(self) -> dict | Unreadable | None:
        """The run's ``trainer_state.json`` ([model] training_log or the adapter folder's)."""
        return self.src.run.training_log
