"""Session fixtures for the artifact and training stages: read the checkpoint's small
files once per session and hand them to the checks as data.

Nothing here loads full weights or writes into the user's folders: the adapter header is
parsed by ``sftcheck.checks.support.safetensors_header``, base weight shapes come from the base's
safetensors headers (or a meta-device model built from its config when it has none),
and base weight tensors are read one at a time, only for the relative-update norm.
A missing or broken file becomes an ``Unreadable`` / ``HeaderError`` value that the
checks turn into a failed or skipped result — never a traceback.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sftcheck.checks.support.base_identity import BaseInfo
from sftcheck.checks.support.lora_layout import Unreadable, base_weight_name
from sftcheck.checks.support.safetensors_header import (
    Header,
    HeaderError,
    folder_shapes,
    folder_tensor_files,
    header_from_state,
    read_header,
)
from sftcheck.config import Config
from sftcheck.run_files import Run, RunFiles


def read_json(path: Path, what: str) -> dict | Unreadable:
    """One JSON file outside a session, with the run's error policy (``RunFiles.json``)."""
    return RunFiles().json(path, what)


def read_adapter_weights(adapter: Path, allow_pickle: bool) -> Header | HeaderError | Unreadable:
    st, pkl = adapter / "adapter_model.safetensors", adapter / "adapter_model.bin"
    if st.exists():
        try:
            return read_header(st)
        except HeaderError as exc:
            return exc
    if pkl.exists():
        if not allow_pickle:
            return Unreadable(f"{pkl}: only a pickle (.bin) adapter, not read without [model] "
                              "allow_pickle = true.")
        import torch

        try:
            state = torch.load(pkl, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unpickling problem is the file's
            return Unreadable(f"{pkl}: torch.load(weights_only=True) failed: {type(exc).__name__}: "
                              f"{exc}", broken=True)
        if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
            return Unreadable(f"{pkl}: not a state dict of tensors.", broken=True)
        return header_from_state(pkl, state)
    return Unreadable(f"{adapter}: no adapter_model.safetensors.")


def _meta_shapes(source: str) -> dict[str, tuple[int, ...]]:
    """Weight shapes of a model built on the meta device from its config (no weights)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(source, trust_remote_code=False, local_files_only=True)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=False)
    return {n: tuple(p.shape) for n, p in model.state_dict().items()}


def read_base_info(cfg: Config, run: Run | None = None) -> BaseInfo:
    """The base's identity and weight shapes (headers only), its chat template and the base
    the adapter records, through the run's one reader: the one ``BaseInfo`` the artifact
    checks and the gates judge.  ``configured`` is None when no base is configured."""
    run = run or Run(cfg)
    base = cfg.model.base
    if not base:
        return BaseInfo(configured=None, declared_id=cfg.model.base_id, recorded=run.recorded_base)
    local = Path(base) if Path(base).is_dir() else None
    base_cfg: dict[str, Any] = {}
    shapes, source = None, ""
    if local is not None:
        got = run.base_config
        base_cfg = got if isinstance(got, dict) else {}
        try:
            shapes = folder_shapes(local)
            source = "safetensors headers"
        except (HeaderError, OSError, ValueError) as exc:
            shapes, source = None, f"unreadable base safetensors ({exc})"
    if shapes is None:
        try:
            shapes, source = _meta_shapes(base), "meta-device model from the base config"
        except Exception as exc:  # noqa: BLE001 - offline hub id, unknown architecture …
            if local is None and isinstance(exc, OSError):
                near = Path(cfg.source).parent / base if Path(cfg.source).is_file() else Path(base).resolve()
                source = (f"not found: {near} is not a folder, and {base!r} is not a hub id in the local "
                          "cache (sftcheck never downloads)")
            source = source or f"unavailable ({type(exc).__name__}: {str(exc)[:200]})"
    saved = run.base_chat_template
    template_where = str(saved.folder / saved.template_source) if saved and saved.template else None
    return BaseInfo(configured=base, resolved_path=str(local.resolve()) if local else None,
                    declared_id=cfg.model.base_id, config_name=run.base_config_name,
                    shapes=shapes, shapes_source=source, config=base_cfg,
                    recorded_only=cfg.base_recorded, recorded=run.recorded_base, chat_template=template_where)


def base_tensor_reader(base: BaseInfo | None) -> Callable[[str], Any] | None:
    """``read(module) -> tensor`` of the base weight of an adapted module (one at a time)."""
    if base is None or base.resolved_path is None or base.shapes is None:
        return None
    try:
        files = folder_tensor_files(base.resolved_path)
    except (HeaderError, OSError, ValueError):
        return None
    if not files:
        return None

    def read(module: str):
        from safetensors import safe_open

        name = base_weight_name(module, files)
        if name is None:
            return None
        with safe_open(str(files[name]), framework="pt") as f:
            return f.get_tensor(name)

    return read


def training_log_path(cfg: Config) -> Path | None:
    return Run(cfg).training_log_path


@pytest.fixture(scope="session")
def sft_run(pytestconfig: pytest.Config, sft_config: Config) -> Run:
    """The run's files, read and hashed once per session (``sftcheck.run_files.Run``, built
    with the session)."""
    from sftcheck.session_state import sft_session

    run = sft_session(pytestconfig).run
    return run if run is not None and run.cfg is sft_config else Run(sft_config)


# The per-input fixtures below are views of the session's one ArtifactInputs bundle
# (``sftcheck.inputs_artifact``); model tests take ``sft_inputs``.

@pytest.fixture(scope="session")
def sft_adapter_dir(sft_artifact_inputs) -> Path | None:
    """The configured adapter folder (``None`` for a full fine-tune)."""
    return sft_artifact_inputs.adapter_dir


@pytest.fixture(scope="session")
def sft_adapter_config(sft_artifact_inputs) -> dict | Unreadable | None:
    """The parsed ``adapter_config.json``."""
    return sft_artifact_inputs.adapter_config


@pytest.fixture(scope="session")
def sft_adapter_weights(sft_artifact_inputs) -> Header | HeaderError | Unreadable | None:
    """The adapter's safetensors header (tensor payloads are read lazily by checks)."""
    return sft_artifact_inputs.weights


@pytest.fixture(scope="session")
def sft_base_info(sft_artifact_inputs) -> BaseInfo:
    """The base's identity, weight shapes (headers only), chat template and the adapter's
    recorded base: what ``artifact.base_match`` and ``gate.contamination`` both judge."""
    return sft_artifact_inputs.base


@pytest.fixture(scope="session")
def sft_trainer_state(sft_artifact_inputs) -> dict | Unreadable | None:
    """The run's ``trainer_state.json`` ([model] training_log or the adapter folder's)."""
    return sft_artifact_inputs.trainer_state
