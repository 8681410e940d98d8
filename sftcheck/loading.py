"""Loading what a run config points at: tokenizer, base model, adapter.

Real ``from_pretrained`` calls on a local folder or a hub id, always with
``trust_remote_code=False`` and ``local_files_only=True``: hub ids resolve from the local
cache only — sftcheck never downloads, and an uncached id fails at once instead of after
the hub client's retries (even with the user's ``HF_HUB_OFFLINE=0``).  Nothing here
writes into the user's folders.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sftcheck.config import Config


class LoadError(RuntimeError):
    """A model/tokenizer could not be loaded; the message names what and the fix."""


def tokenizer_source(cfg: Config) -> str:
    """Where the tokenizer comes from: [model] tokenizer, else the adapter folder if it
    ships one (training's tokenizer + chat template), else the base / finetuned model."""
    from sftcheck.run_files import tokenizer_folder

    src = tokenizer_folder(cfg)
    if not src:
        raise LoadError(f"{cfg.source}: no tokenizer: set [model] tokenizer, base or finetuned.")
    return src


def load_tokenizer(cfg: Config):
    from transformers import AutoTokenizer

    src = tokenizer_source(cfg)
    try:
        tok = AutoTokenizer.from_pretrained(src, trust_remote_code=False, local_files_only=True)
    except Exception as exc:
        raise LoadError(f"could not load the tokenizer from {src!r}: {_one_line(exc)}. "
                        "Fix: point [model] tokenizer at a folder with tokenizer.json / "
                        "tokenizer_config.json (or a hub id in the local cache; sftcheck never "
                        "downloads).") from exc
    empty = _empty_tokenizer(tok)
    if empty:
        raise LoadError(f"{src!r} holds no usable tokenizer: {empty}. Nothing could be tokenized, so "
                        "every token-level check would be bogus. Fix: point [model] tokenizer at the "
                        "folder the training run saved its tokenizer to (tokenizer.json + "
                        "tokenizer_config.json), e.g. the adapter folder or the base model's.")
    return tok


def _one_line(exc: BaseException) -> str:
    """An exception as one line (the hub client's messages span several: a summary line
    would show only their last, "Check your internet connection")."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _empty_tokenizer(tok) -> str | None:
    """Why ``tok`` is an empty shell (transformers 5 builds one from a folder with no
    tokenizer files: one special token, no vocabulary), or None."""
    try:
        n = len(tok)
        probe = list(tok("The quick brown fox 123", add_special_tokens=False).input_ids)
    except Exception as exc:  # noqa: BLE001 - a tokenizer that cannot even encode
        return f"encoding a probe text raised {type(exc).__name__}: {exc}"
    if n < 16 or not probe:
        return (f"transformers built a tokenizer with {n} token(s) that encodes 'The quick brown fox 123' "
                f"as {probe} (no tokenizer.json / tokenizer.model / vocabulary files there)")
    return None


@dataclass(frozen=True)
class Placement:
    device: str
    dtype: str  # torch dtype name


def resolve_placement(cfg: Config) -> Placement:
    """``auto`` → cuda + bfloat16 when a GPU is present, else cpu + float32."""
    import torch

    device = cfg.model.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = cfg.model.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return Placement(device, dtype)


@dataclass
class LoadedModel:
    """The model under test, loaded once: base + adapter (``PeftModel``) or a fully
    fine-tuned model.  ``variant("base")`` runs the base with the *same* weights
    (``disable_adapter()``); for a fine-tuned model the base is loaded on first use."""
    model: object
    tokenizer: object
    placement: Placement
    model_id: str                      # identity for the generation cache (see ``model_identity``)
    has_adapter: bool
    adapter_sha256: str | None = None
    notes: tuple[str, ...] = ()
    cfg: Config | None = None
    content_keyed: bool = False        # model_id is a content hash: generations may go to the disk cache
    _base: object | None = None

    def variant(self, name: str):
        import contextlib

        if name == "tuned":
            return contextlib.nullcontext(self.model)
        if name != "base":
            raise ValueError(f"unknown model variant {name!r} (base, tuned)")
        if self.has_adapter:
            @contextlib.contextmanager
            def disabled():
                with self.model.disable_adapter():
                    yield self.model
            return disabled()
        if self._base is None:
            if not (self.cfg and self.cfg.model.base):
                raise LoadError("a fully fine-tuned model is configured but no [model] base to compare "
                                "it with. Fix: set [model] base to the model it was tuned from.")
            self._base = _from_pretrained(self.cfg.model.base, self.placement, self.cfg)
        return contextlib.nullcontext(self._base)


def model_identity(cfg: Config, placement: Placement, run=None) -> tuple[str, bool]:
    """``(model_id, content_keyed)``: a hash of the content of every file the generations depend
    on (``sftcheck.content_id``: base / adapter / fine-tuned weights and configs, tokenizer files,
    chat template) + device + dtype.  When something cannot be identified by content (a hub id
    that is not in the local cache), the paths identify the model for this session only."""
    from sftcheck import content_id

    where = f"|{placement.device}|{placement.dtype}"
    try:
        parts = content_id.model_content_id(cfg, tokenizer_source(cfg), files=run.files if run else None)
        return f"content:{content_id.content_key(parts)}{where}", True
    except (content_id.NoContentId, OSError) as exc:
        m = cfg.model
        return f"paths:{m.finetuned}|{m.base}|{m.adapter}|{m.tokenizer}|{type(exc).__name__}{where}", False


def _from_pretrained(src: str, placement: Placement, cfg: Config):
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, placement.dtype)
    multi_gpu = placement.device == "cuda" and torch.cuda.device_count() > 1
    # adapter_kwargs: transformers looks for an adapter_config.json in the model's repo with its
    # own hub call, which ignores local_files_only (5 retries, ~25 s, for an uncached id)
    kwargs = {"dtype": dtype, "trust_remote_code": False, "local_files_only": True,
              "adapter_kwargs": {"local_files_only": True}}
    if not cfg.model.allow_pickle:
        kwargs["use_safetensors"] = True
    if multi_gpu:
        kwargs["device_map"] = "auto"
    try:
        model = AutoModelForCausalLM.from_pretrained(src, **kwargs)
    except Exception as exc:
        raise LoadError(f"could not load the model from {src!r}: {_one_line(exc)}. "
                        "Fix: point [model] base / finetuned at a folder with config.json and "
                        "*.safetensors weights (or a hub id in the local cache; sftcheck never "
                        "downloads); .bin weights need "
                        "[model] allow_pickle = true.") from exc
    if not multi_gpu:
        model.to(placement.device)
    model.eval()
    return model


def load_merged(cfg: Config, placement: Placement):
    """``[model] merged``: the user's merged checkpoint, loaded like the base."""
    try:
        return _from_pretrained(cfg.model.merged, placement, cfg)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"{cfg.source}: [model] merged = {cfg.model.merged!r} could not be loaded: "
                        f"{type(exc).__name__}: {exc}. Fix: point it at the folder you saved "
                        "model.merge_and_unload() into (config.json + *.safetensors).") from exc


def load_model(cfg: Config, tokenizer=None, run=None) -> LoadedModel:
    """Load the configured model once (never ``trust_remote_code``; safetensors unless
    ``allow_pickle``).  Adapter loading warnings (missing / unexpected keys) are kept in
    ``notes``: they are the first sign of an adapter that is not applied.  ``tokenizer``:
    the session's already loaded tokenizer (loaded here when not given)."""
    import warnings

    placement = resolve_placement(cfg)
    m = cfg.model
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg)
    from sftcheck.run_files import Run

    run = run or Run(cfg)
    model_id, keyed = model_identity(cfg, placement, run)
    if m.finetuned:
        model = _from_pretrained(m.finetuned, placement, cfg)
        return LoadedModel(model, tokenizer, placement, model_id=model_id, content_keyed=keyed,
                           has_adapter=False, cfg=cfg)
    if not m.base:
        raise LoadError(f"{cfg.source}: no model: set [model] base (+ adapter) or [model] finetuned.")
    base = _from_pretrained(m.base, placement, cfg)
    if not m.adapter:
        return LoadedModel(base, tokenizer, placement, model_id=model_id, content_keyed=keyed, has_adapter=False,
                           cfg=cfg)
    from peft import PeftModel

    adapter = Path(m.adapter)
    if not (adapter / "adapter_model.safetensors").is_file() and not m.allow_pickle:
        raise LoadError(f"{adapter}: no adapter_model.safetensors. Fix: save the adapter with "
                        "save_pretrained(safe_serialization=True), or set [model] allow_pickle = true "
                        "to read adapter_model.bin with weights_only=True.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = PeftModel.from_pretrained(base, str(adapter), is_trainable=False)
        except Exception as exc:
            raise LoadError(f"could not apply the adapter {adapter} to {m.base}: {type(exc).__name__}: "
                            f"{exc}. Fix: check that the adapter was trained on this base "
                            "(artifact.* checks show the shapes).") from exc
    notes = tuple(str(w.message) for w in caught
                  if "adapter" in str(w.message).lower() or "key" in str(w.message).lower())
    model.eval()
    sha = run.adapter_weights.sha256 or ""  # hashed once per session, by the Run
    return LoadedModel(model, tokenizer, placement, model_id=model_id, content_keyed=keyed,
                       has_adapter=True, adapter_sha256=sha, notes=notes, cfg=cfg)
