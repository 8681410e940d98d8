"""The ``vllm`` backend: in-process vLLM (GPU; ``pip install "sftcheck[vllm]"``).

One ``vllm.LLM(model=<base>, enable_lora=True, max_lora_rank=<the adapter's r>)`` serves
both variants: the base pass without a LoRA request, the tuned pass with
``LoRARequest("tuned", 1, <adapter folder>)``.  Prompts go in as token ids (the prompt
builder's, exactly what the transformers backend feeds), greedy is ``temperature = 0``;
unset sampling settings keep vLLM's defaults, which read the model's
``generation_config`` (``generation_config="auto"``).  ``max_time`` bounds the pass:
prompts are submitted in chunks of ``batch_size * 8`` and no chunk starts after the
deadline (those rows end with finish reason ``time``).
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from sftcheck.backends.stops import cut_at_stop
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet


class VLLMUnavailable(ImportError):
    """vLLM is not installed or has no GPU here; the message says how to get it."""


def _import_vllm():
    try:
        import vllm
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest
    except ImportError as exc:
        raise VLLMUnavailable(f"[generation] backend = \"vllm\" needs vLLM ({exc}). Fix: pip install "
                              "\"sftcheck[vllm]\" on a machine with a CUDA GPU, or use backend = \"openai\" "
                              "against a vLLM server, or backend = \"transformers\".") from exc
    return vllm, LLM, SamplingParams, LoRARequest


def engine_kwargs(cfg, run) -> dict:
    """``vllm.LLM(**kwargs)`` for a run config; the adapter's rank is read from
    ``run.adapter_config`` (the session's ``Run``), never from the file itself."""
    from sftcheck.checks.support.lora_layout import Unreadable
    from sftcheck.loading import tokenizer_source

    m = cfg.model
    model = m.finetuned or m.base
    if not model:
        raise ValueError(f"{cfg.source}: backend = \"vllm\" needs [model] base (+ adapter) or finetuned.")
    kwargs = {"model": model, "tokenizer": tokenizer_source(cfg), "trust_remote_code": False,
              "seed": cfg.generation.seed, "dtype": "auto" if m.dtype == "auto" else m.dtype}
    adapter = m.adapter if not m.finetuned else None
    if adapter:
        ac = run.adapter_config
        if not isinstance(ac, dict):
            why = ac.reason if isinstance(ac, Unreadable) else f"{adapter}: no adapter_config.json"
            raise ValueError(f"backend = \"vllm\" needs the adapter's rank: {why} (see artifact.config_valid).")
        rank = ac.get("r", 16)
        if not isinstance(rank, int) or isinstance(rank, bool) or rank <= 0:
            raise ValueError(f"{adapter}/adapter_config.json: r = {rank!r} is not a positive integer "
                             "(see artifact.config_valid).")
        kwargs.update(enable_lora=True, max_loras=1, max_lora_rank=max(8, rank))
    return kwargs


class VLLMBackend:
    name = "vllm"

    def __init__(self, llm, tokenizer_source: str, adapter: str | None, model_id: str, lora_request_cls,
                 sampling_cls, version: str) -> None:
        self.llm, self.adapter, self.model_id = llm, adapter, model_id
        self._lora, self._sampling, self.version = lora_request_cls, sampling_cls, version
        self.tokenizer_source = tokenizer_source
        self.specials: tuple[str, ...] = ()  # special tokens as text (``passes.special_token_texts``)

    @classmethod
    def from_config(cls, cfg, run=None) -> VLLMBackend:
        """The engine for ``cfg``; the adapter's rank comes from the session's one ``Run``
        (``sftcheck.run_files``: adapter_config.json read once, one error policy)."""
        import torch

        from sftcheck.loading import model_identity, resolve_placement
        from sftcheck.run_files import Run

        vllm, LLM, SamplingParams, LoRARequest = _import_vllm()
        if not torch.cuda.is_available():
            raise VLLMUnavailable("[generation] backend = \"vllm\" needs a CUDA GPU and none is visible. Fix: "
                                  "run on a GPU machine, or use backend = \"openai\" / \"transformers\".")
        run = run or Run(cfg)
        kwargs = engine_kwargs(cfg, run)
        llm = LLM(**kwargs)
        model_id, keyed = model_identity(cfg, resolve_placement(cfg), run)
        adapter = cfg.model.adapter if not cfg.model.finetuned else None
        return cls(llm, kwargs["tokenizer"], adapter, model_id if keyed else "", LoRARequest,
                   SamplingParams, vllm.__version__)

    def identity(self) -> dict:
        return {"backend": self.name, "vllm": self.version}

    def sampling_params(self, settings, stop_ids: Sequence[int]):
        # the text with its special tokens and the stop token / string that ended it, as the
        # transformers backend's raw_text (``text`` leaves them out: ``_item``)
        kw = {"max_tokens": settings.max_new_tokens, "seed": settings.seed, "stop_token_ids": list(stop_ids),
              "skip_special_tokens": False, "include_stop_str_in_output": True,
              "spaces_between_special_tokens": False}
        if settings.stop_strings:
            kw["stop"] = list(settings.stop_strings)
        if settings.do_sample:
            for key in ("temperature", "top_p", "top_k"):
                if getattr(settings, key) is not None:
                    kw[key] = getattr(settings, key)
        else:
            kw["temperature"] = 0.0
        if settings.repetition_penalty is not None:
            kw["repetition_penalty"] = settings.repetition_penalty
        return self._sampling(**kw)

    def generate(self, prompts, settings, *, variant: str, stop_ids: Sequence[int],
                 progress: bool = True) -> GenerationSet:
        params = self.sampling_params(settings, stop_ids)
        lora = self._lora("tuned", 1, self.adapter) if variant == "tuned" and self.adapter else None
        t_start = time.monotonic()
        deadline = t_start + settings.max_time
        chunk = max(1, settings.batch_size) * 8
        items: list[Generation] = []
        ttfts: list[float] = []
        for start in range(0, len(prompts), chunk):
            part = prompts[start:start + chunk]
            if time.monotonic() >= deadline:
                items += [Generation(p.id, p.text, "", "", 0, 0, FinishReason.TIME, 0.0) for p in part]
                continue
            inputs = [{"prompt_token_ids": list(p.input_ids)} if p.input_ids is not None else p.text for p in part]
            t0 = time.monotonic()
            outs = self.llm.generate(inputs, params, use_tqdm=progress, lora_request=lora)
            share = (time.monotonic() - t0) / max(1, len(part))
            for p, out in zip(part, outs, strict=True):
                items.append(self._item(p, out, settings, share))
                first = getattr(getattr(out, "metrics", None), "first_token_time", None)
                arrival = getattr(getattr(out, "metrics", None), "arrival_time", None)
                if first and arrival:
                    ttfts.append(first - arrival)
        return GenerationSet(model=variant, items=tuple(items), wall_seconds=time.monotonic() - t_start,
                             batch_size=settings.batch_size,
                             settings={"backend": self.name, "stop_ids": list(stop_ids), "ttft_seconds": ttfts,
                                       "lora_request": bool(lora), "raw_text_special_tokens": True})

    def _item(self, prompt, out, settings, seconds: float) -> Generation:
        c = out.outputs[0]
        if c.finish_reason == "length":
            reason = FinishReason.LENGTH
        elif isinstance(c.stop_reason, str):
            reason = FinishReason.STOP
        else:
            reason = FinishReason.EOS
        text = c.text
        for special in self.specials:  # as the transformers backend decodes `text`: no special tokens
            text = text.replace(special, "")
        text, found = cut_at_stop(text, settings.stop_strings)
        return Generation(id=prompt.id, prompt=prompt.text, text=text, raw_text=c.text,
                          prompt_tokens=len(out.prompt_token_ids or []), new_tokens=len(c.token_ids),
                          finish_reason=FinishReason.STOP if found else reason, seconds=seconds)
