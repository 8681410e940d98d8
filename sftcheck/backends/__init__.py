"""Generation backends: turn prompts into ``Generation`` records for one model variant.

``transformers`` (default, ``sftcheck.backends.hf``): the loaded model's ``generate``.
``openai`` (``sftcheck.backends.openai_api``): any OpenAI-compatible server (vLLM, SGLang,
TGI) serving the base and the tuned model under two names.
``vllm`` (``sftcheck.backends.vllm_engine``, optional extra, GPU): in-process vLLM with a
``LoRARequest`` for the tuned variant.

A backend has ``name``, ``identity() -> dict`` (backend + library versions, part of the
cache key) and ``generate(prompts, settings, *, variant, stop_ids, progress) ->
GenerationSet``; the stop set is always an input.
"""
from __future__ import annotations

BACKENDS = ("transformers", "openai", "vllm")
