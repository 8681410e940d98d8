"""Check inputs, wired once: a check's input parameters are filled BY NAME from its area's
input bundle.

Each area has one frozen bundle (``ArtifactInputs`` in ``inputs_artifact``,
``PretrainInputs`` in ``inputs_pretrain``, ``BehaviourInputs`` in ``inputs_behaviour``) whose attributes are named exactly like the
checks' input parameters (everything but the keyword-only thresholds).  Each attribute is
built on first use and kept, from the session's shared ``Sources`` (config, ``Run``,
tokenizer, hooks, model).  The pytest session builds one bundle per area
(``sftcheck.session_inputs``) and a model test runs ``sft_check(area.name, **sft_inputs)``;
self-tests build the same bundle from a config (``bundle_for(cfg, area)``) and call
``kwargs_for`` — so there is one wiring, and ``tests/test_check_inputs.py`` proves that
every parameter of every check in these areas is an attribute of its bundle.

An input that cannot be built raises ``InputUnavailable`` (its message names the file,
the problem and the fix); the session turns it into that test's setup failure, or a skip.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from functools import cached_property
from typing import Any

from sftcheck.config import Config


class InputUnavailable(Exception):
    """An input could not be built; ``str(exc)`` is the diagnosis (cause and fix).
    ``skip``: the check cannot run here, and that is not a problem of the run."""

    def __init__(self, message: str, *, skip: bool = False) -> None:
        super().__init__(message)
        self.skip = skip


def input_names(check_fn: Callable) -> tuple[str, ...]:
    """A check's input parameters: all but the keyword-only thresholds."""
    sig = inspect.signature(check_fn)
    return tuple(n for n, p in sig.parameters.items()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def kwargs_for(check_fn: Callable, bundle: Any) -> dict[str, Any]:
    """The check's inputs from ``bundle``, by parameter name (built on first use)."""
    return {name: getattr(bundle, name) for name in input_names(check_fn)}


class Sources:
    """What every area's inputs are built from, each built once on first use: the run
    config, its ``Run`` (the run's files, read once), the tokenizer, the hooks, the model."""

    def __init__(self, cfg: Config, run=None, *, generation_log: list | None = None, stream: bool = False) -> None:
        from sftcheck.run_files import Run

        self.cfg = cfg
        self.run = run if run is not None else Run(cfg)
        self.generation_log = generation_log  # the report's list of generation passes (a session's)
        self.stream = stream                  # a server streams its answers (a perf check runs)
        self._bundles: dict[type, Any] = {}

    def bundle(self, area: str) -> Any:
        """The input bundle of ``area`` on these sources (one per bundle class; areas share)."""
        cls = bundle_class(area)
        if cls not in self._bundles:
            self._bundles[cls] = cls(self)
        return self._bundles[cls]

    @classmethod
    def load(cls, cfg: Config) -> Sources:
        """As the plugin builds a session from a loaded config: one ``Run``, and the base
        defaulting to the one the adapter records."""
        cfg, run = session_config(cfg)
        return cls(cfg, run)

    @cached_property
    def tokenizer_or_error(self):
        """The tokenizer training and inference share — or the ``LoadError`` saying why not."""
        from sftcheck.gc_freeze import loading_quietly
        from sftcheck.loading import LoadError, load_tokenizer

        try:
            with loading_quietly():  # the first import of transformers (and torch)
                return load_tokenizer(self.cfg)
        except LoadError as exc:
            return exc

    @property
    def tokenizer(self):
        from sftcheck.loading import LoadError

        if isinstance(self.tokenizer_or_error, LoadError):
            raise InputUnavailable(f"sftcheck: {self.tokenizer_or_error}")
        return self.tokenizer_or_error

    @cached_property
    def hooks(self):
        """The formatter, collator, prompt builder and answer parser (resolved once)."""
        from sftcheck import hooks as hookmod

        try:
            return hookmod.resolve(self.cfg)
        except hookmod.HookError as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    @cached_property
    def stop_set(self):
        """The run's one stop set (``sftcheck.stopset``): every backend stops on it,
        format.stop_tokens judges it, scoring reads generations up to it."""
        from sftcheck.stopset import StopSetError, build_stop_set

        try:
            return build_stop_set(self.cfg, self.tokenizer, read_json=self.run.json_or_raise)
        except StopSetError as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    @cached_property
    def model(self):
        """The model under test, loaded once (with the one tokenizer)."""
        import torch

        from sftcheck.loading import LoadError, load_model

        if self.cfg.model.device == "cpu" or not torch.cuda.is_available():
            torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        from sftcheck.gc_freeze import loading_quietly

        tokenizer = self.tokenizer
        try:
            with loading_quietly():  # torch / transformers / peft and the weights live to the end
                return load_model(self.cfg, tokenizer, self.run)
        except LoadError as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None


def session_config(cfg: Config):
    """``(config, Run)`` of a session: the run's files read once, the base defaulting to
    the one the adapter records (``config.infer_base``)."""
    from sftcheck import config as cfgmod
    from sftcheck.run_files import Run

    run = Run(cfg)
    cfg = cfgmod.infer_base(cfg, run)
    return cfg, run.with_config(cfg)


# area (the module under sftcheck.checks) -> its bundle, as "module:class"
AREA_BUNDLES = {
    "artifact": "sftcheck.inputs_artifact:ArtifactInputs",
    "training": "sftcheck.inputs_artifact:ArtifactInputs",
    "data": "sftcheck.inputs_pretrain:PretrainInputs",
    "labels": "sftcheck.inputs_pretrain:PretrainInputs",
    "format": "sftcheck.inputs_pretrain:PretrainInputs",
    "tokens": "sftcheck.inputs_pretrain:PretrainInputs",
    "behaviour": "sftcheck.inputs_behaviour:BehaviourInputs",
    "gates": "sftcheck.inputs_gates:GateInputs",
}


def bundle_class(area: str) -> type:
    import importlib

    module, _, name = AREA_BUNDLES[area].partition(":")
    return getattr(importlib.import_module(module), name)


def bundle_for(cfg_or_sources: Config | Sources, area: str):
    """The input bundle of ``area`` for a config (or shared ``Sources``), as the session builds it."""
    src = cfg_or_sources if isinstance(cfg_or_sources, Sources) else Sources.load(cfg_or_sources)
    return src.bundle(area)


def check_function(check_id: str) -> Callable:
    """The registered check function of ``check_id``."""
    from sftcheck.checks.support.registry import load_all
    from sftcheck.model_test_map import check_fn_of

    return check_fn_of(load_all()[check_id])


def run_check(check_fn: Callable | str, bundle: Any, **thresholds: Any):
    """Run a check on its inputs from ``bundle`` with the run config's ``[gates."<id>"]``
    thresholds (``thresholds`` win): what ``sft_check(fn, **sft_inputs)`` does, without pytest."""
    from sftcheck.checks.support.registry import thresholds_for

    check_fn = check_function(check_fn) if isinstance(check_fn, str) else check_fn
    spec = check_fn.spec
    configured = thresholds_for(spec.id, bundle.src.cfg.thresholds(spec.id))
    return check_fn(**kwargs_for(check_fn, bundle), **{**configured, **thresholds})
