"""The session's generation passes: the configured backend, its stop set and cache identity.

``Passes.run(prompts, settings, variant)`` is the one way a session generates: every
behaviour, gate and perf check reads the passes made here (cached per session and, for
local weights, on disk).  ``open(variant)`` yields the backend for a variant: for
``transformers`` the loaded model inside ``disable_adapter()`` (base) or as it is / merged
in place (tuned); for ``openai`` and ``vllm`` the same backend, which maps the variant to a
served model name or a ``LoRARequest``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sftcheck.checks.support.samples import GenerationSet
from sftcheck.checks.support.stops import StopSet
from sftcheck.config import Config


def stop_set(cfg: Config, tokenizer) -> StopSet:
    """The run's one stop set (``sftcheck.stopset.build_stop_set``): what every backend stops
    on and ``format.stop_tokens`` judges."""
    from sftcheck.stopset import build_stop_set

    return build_stop_set(cfg, tokenizer)


@dataclass
class Passes:
    backend: str
    open: Callable[[str], contextlib.AbstractContextManager]
    stops: StopSet
    model_id: str = ""                 # content identity ("" = memory cache off)
    disk_cache: Path | None = None
    tuned_weights: str = ""            # how the tuned pass ran (e.g. "merged", "unmerged LoRA")
    log: list[dict] = field(default_factory=list)  # one record per pass: backend, weights, cache hit or not
    decide_merge: Callable[[list], tuple[bool, str]] | None = None  # run once, before the first tuned pass
    tokenizer: Any = None              # reads each output up to its first stop (``read_to_first_stop``)

    @property
    def stop_ids(self) -> list[int]:
        return list(self.stops.ids)

    def read(self, out: GenerationSet) -> GenerationSet:
        """Every output up to its first stop token or string, as a server returns it (text after
        an end token the stop set misses is ``run_on``, not scored)."""
        from sftcheck.checks.support.stops import read_set
        from sftcheck.stopset import end_markers

        if self.tokenizer is None:
            return out
        return read_set(out, end_markers(self.stops, self.tokenizer),
                        tuple(getattr(self.tokenizer, "all_special_tokens", ())))

    def run(self, prompts, settings, variant: str, *, progress: bool = True,
            use_cache: bool = True) -> GenerationSet:
        from sftcheck.generation import run_pass

        if variant == "tuned" and self.decide_merge is not None:
            decide, self.decide_merge = self.decide_merge, None
            ok, why = decide(prompts)
            self.tuned_weights = (f"merged into the weights ({why})" if ok
                                  else f"unmerged LoRA: merged weights disagree ({why})")
        settings = replace(settings, stop_strings=tuple(dict.fromkeys((*self.stops.strings, *settings.stop_strings))))
        with self.open(variant) as backend:
            out = self.read(run_pass(backend, prompts, settings, variant=variant, stop_ids=self.stop_ids,
                                     model_id=self.model_id, progress=progress, use_cache=use_cache,
                                     disk_cache=self.disk_cache))
        if variant == "tuned" and self.tuned_weights:
            out.settings.setdefault("tuned_weights", self.tuned_weights)
        hit = out.settings.get("from_disk_cache")
        record = {"variant": variant, "examples": len(out.items), "backend": self.backend,
                  "weights": out.settings.get("tuned_weights", "base") if variant == "tuned" else "base",
                  "cache": f"hit: {hit}" if hit else ("off" if not use_cache else "generated"),
                  "wall_seconds": round(out.wall_seconds, 3), "cache_key": out.settings.get("cache_key", "")}
        if record not in self.log:
            self.log.append(record)
        return out

    def both(self, prompts, settings, **kw) -> dict[str, GenerationSet]:
        return {v: self.run(prompts, settings, v, **kw) for v in ("base", "tuned")}


def _disk(cfg: Config) -> Path | None:
    from sftcheck.generation import default_cache_dir

    return default_cache_dir() if cfg.generation.disk_cache else None


def merge_holds(cfg: Config | None, loaded, prompts) -> tuple[bool, str]:
    """Whether the adapter merged in place gives the unmerged adapter's next tokens on the
    first ``probe_examples`` prompts (``behaviour.merge_parity`` with the run's threshold)."""
    from sftcheck.checks import behaviour
    from sftcheck.checks.support.result import Status
    from sftcheck.generation import forward_logits
    from sftcheck.merging import merged_in_place

    n = max(1, cfg.generation.probe_examples) if cfg is not None else 16
    tok = loaded.tokenizer
    seqs = [list(p.input_ids) if p.input_ids is not None else tok(p.text).input_ids for p in prompts[:n]]
    unmerged = forward_logits(loaded.model, tok, seqs)
    with merged_in_place(loaded.model) as model:
        merged = forward_logits(model, tok, seqs)
    limit = (cfg.thresholds("behaviour.merge_parity") if cfg is not None else {}).get("min_agreement", 0.99)
    result = behaviour.merge_parity(unmerged, merged, min_agreement=limit)
    return result.status is Status.PASS, f"top-1 agreement {result.value:.3f} on {len(seqs)} prompts"


def transformers_passes(loaded, stops: StopSet | None = None) -> Passes:
    """Passes with the loaded model.  The tuned pass runs with the adapter merged into the
    weights (in place, restored afterwards: faster, no extra memory) once merged and unmerged
    agree on the prompts' next tokens (``[generation] merged_tuned_pass``); unmerged otherwise."""
    from sftcheck.backends.hf import TransformersBackend
    from sftcheck.merging import merged_in_place
    from sftcheck.stopset import build_stop_set

    stops = stops if stops is not None else build_stop_set(loaded.cfg, loaded.tokenizer, model=loaded.model)
    cfg = loaded.cfg
    want_merge = loaded.has_adapter and (cfg is None or cfg.generation.merged_tuned_pass)

    @contextlib.contextmanager
    def open_variant(variant: str):
        if variant == "tuned" and passes.tuned_weights.startswith("merged"):
            with merged_in_place(loaded.model) as model:
                yield TransformersBackend(model, loaded.tokenizer, "merged")
            return
        with loaded.variant(variant) as model:
            yield TransformersBackend(model, loaded.tokenizer, "")

    # a model identified by paths only (e.g. an uncached hub id) stays out of the disk cache
    disk = _disk(cfg) if cfg is not None and loaded.content_keyed else None
    passes = Passes("transformers", open_variant, stops, loaded.model_id, disk,
                    tuned_weights="unmerged LoRA (PeftModel)" if loaded.has_adapter else "",
                    tokenizer=loaded.tokenizer)
    if want_merge:
        passes.decide_merge = lambda prompts: merge_holds(cfg, loaded, prompts)
    return passes


def openai_passes(cfg: Config, tokenizer, stops: StopSet | None = None, *, stream: bool = False) -> Passes:
    """Passes on the configured server; the served model list is checked first.  Memory
    cache only: what a server serves can change between runs without a file changing here.
    ``stream``: each answer streamed, its time to first token recorded (for ``perf``)."""
    from sftcheck.backends.openai_api import Endpoint, OpenAIBackend

    stops = stops or stop_set(cfg, tokenizer)
    backend = OpenAIBackend(Endpoint.from_config(cfg), stream=stream, stop_texts=token_texts(tokenizer, stops.ids),
                            specials=special_token_texts(tokenizer))
    backend.check_models()
    return Passes("openai", lambda _variant: contextlib.nullcontext(backend), stops,
                  model_id=f"openai:{backend.ep.base_url}", tuned_weights=f"served as {backend.ep.tuned_model_name!r}",
                  tokenizer=tokenizer)


def token_texts(tokenizer, ids) -> list[str]:
    """Each token id as the text a server returns for it (special tokens kept)."""
    out = []
    for i in ids:
        try:
            out.append(tokenizer.decode([int(i)], skip_special_tokens=False))
        except (IndexError, KeyError, TypeError, ValueError, OverflowError):
            continue
    return out


def special_token_texts(tokenizer) -> list[str]:
    """The tokens ``decode(..., skip_special_tokens=True)`` leaves out: the named special tokens
    and every added token marked special."""
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return sorted({*getattr(tokenizer, "all_special_tokens", ()),
                   *(str(t.content) for t in added.values() if getattr(t, "special", False))})


def vllm_passes(cfg: Config, tokenizer, stops: StopSet | None = None, run=None) -> Passes:
    """Passes on an in-process vLLM engine; ``run``: the session's ``Run`` (the adapter's rank
    comes from its adapter_config.json)."""
    from sftcheck.backends.vllm_engine import VLLMBackend

    backend = VLLMBackend.from_config(cfg, run)
    backend.specials = tuple(sorted(special_token_texts(tokenizer), key=len, reverse=True))
    return Passes("vllm", lambda _variant: contextlib.nullcontext(backend), stops or stop_set(cfg, tokenizer),
                  model_id=backend.model_id, disk_cache=_disk(cfg), tuned_weights="vLLM LoRARequest",
                  tokenizer=tokenizer)


def local_weights(cfg: Config) -> bool:
    """Whether the run config names weights sftcheck can load here (for logits / weights checks)."""
    m = cfg.model
    return bool(m.finetuned or m.base)
