"""The ``transformers`` backend (default): batched, left-padded ``model.generate``.

Prompts are sorted by token length (longest first, so a batch that does not fit fails at
once) and decoded in batches of ``batch_size`` with transformers' own ``generate``: the
model's ``generation_config`` is the starting point and the run's settings override it
(``max_new_tokens``, ``do_sample``; ``temperature`` / ``top_p`` / ``top_k`` /
``repetition_penalty`` only when the run sets them), the stop set (token ids + strings)
is the run's, ``max_time`` bounds the whole pass.  Time to first token is taken from a
no-op logits processor (the first token of each batch).
"""
from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Sequence

from sftcheck.backends.stops import cut_at_stop, finish_ids
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet

SAMPLING_KEYS = ("temperature", "top_p", "top_k", "repetition_penalty")


def model_device(model):
    import torch

    try:
        return next(p.device for p in model.parameters())
    except StopIteration:  # pragma: no cover
        return torch.device("cpu")


def pad_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    return 0


def progress_bar(total: int, desc: str, enabled: bool = True):
    if not enabled:
        return contextlib.nullcontext(None)
    from sftcheck.progress import LiveProgress  # the terminal, even under pytest's capture

    return LiveProgress(total, desc, unit="ex")


class _FirstToken:
    """A logits processor that notes when the first new token's logits arrive (after the
    prefill) and changes nothing.  (A ``generate`` streamer gives the same time but cost 25 %
    of the pass on CPU; this costs one Python call per step.)"""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids, scores):
        if self.first is None:
            self.first = time.monotonic()
        return scores


def generation_config(model, settings, stop_ids: Sequence[int], pad: int):
    """The model's ``generation_config`` with the run's settings on top; returns
    ``(GenerationConfig, effective sampling settings)``."""
    from transformers import GenerationConfig

    base = getattr(model, "generation_config", None)
    gc = copy.deepcopy(base) if base is not None else GenerationConfig()
    gc.max_new_tokens = settings.max_new_tokens
    gc.max_length = None
    gc.do_sample = bool(settings.do_sample)
    gc.num_beams = 1
    gc.eos_token_id = list(stop_ids) or None
    gc.pad_token_id = pad
    if settings.stop_strings:
        gc.stop_strings = list(settings.stop_strings)
    effective = {}
    for key in SAMPLING_KEYS:
        value = getattr(settings, key)
        if value is not None:
            setattr(gc, key, value)
        effective[key] = getattr(gc, key, None)
    if not gc.do_sample:  # greedy: sampling knobs are inert; silence transformers' warnings
        gc.temperature, gc.top_p, gc.top_k = None, None, None
    return gc, effective


class TransformersBackend:
    """Generation with an in-process model (``PeftModel`` under a variant context, or a
    plain model) via ``model.generate``."""
    name = "transformers"

    def __init__(self, model, tokenizer, weights: str = "") -> None:
        self.model, self.tokenizer, self.weights = model, tokenizer, weights

    def identity(self) -> dict:
        from sftcheck.provenance import library_versions

        versions = library_versions()
        return {"backend": self.name, **{lib: versions[lib] for lib in ("torch", "transformers", "peft", "tokenizers")},
                "weights": self.weights}

    def generate(self, prompts, settings, *, variant: str, stop_ids: Sequence[int],
                 progress: bool = True) -> GenerationSet:
        import torch

        model, tok = self.model, self.tokenizer
        pad = pad_id(tok)
        device = model_device(model)
        gc, effective = generation_config(model, settings, stop_ids, pad)
        encoded = [list(p.input_ids) if p.input_ids is not None else tok(p.text).input_ids for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        results: dict[int, Generation] = {}
        ttfts: list[float] = []
        t_start = time.monotonic()
        deadline = t_start + settings.max_time
        was_training = model.training
        model.eval()
        rng = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
        with rng, torch.inference_mode(), progress_bar(len(prompts), f"sftcheck generate ({variant})",
                                                         progress) as bar:
            torch.manual_seed(settings.seed)
            size = max(1, settings.batch_size)
            for start in range(0, len(order), size):
                batch = order[start:start + size]
                left = deadline - time.monotonic()
                new, timed_out, seconds = [[] for _ in batch], True, 0.0
                if left > 0:
                    t0 = time.monotonic()
                    new, first = self._batch([encoded[i] for i in batch], gc, pad, device, left)
                    seconds = (time.monotonic() - t0) / len(batch)
                    timed_out = time.monotonic() >= deadline
                    if first is not None:
                        ttfts.append(first - t0)
                for j, i in enumerate(batch):
                    results[i] = self._item(prompts[i], encoded[i], new[j], settings, stop_ids, timed_out,
                                            seconds)
                if bar is not None:
                    bar.update(len(batch))
        if was_training:
            model.train()
        return GenerationSet(model=variant, items=tuple(results[i] for i in range(len(prompts))),
                             wall_seconds=time.monotonic() - t_start, batch_size=settings.batch_size,
                             settings={"backend": self.name, "stop_ids": list(stop_ids), **effective,
                                       "ttft_seconds": ttfts})

    def _batch(self, rows: list[list[int]], gc, pad: int, device, max_time: float):
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        gc = copy.copy(gc)
        gc.max_time = max_time
        from transformers import LogitsProcessorList

        first = _FirstToken()
        extra = {"tokenizer": self.tokenizer} if gc.stop_strings else {}
        out = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                  generation_config=gc, logits_processor=LogitsProcessorList([first]), **extra)
        return out[:, width:].tolist(), first.first

    def _item(self, prompt, encoded, new_ids, settings, stop_ids, timed_out, seconds) -> Generation:
        tok = self.tokenizer
        ids, reason = finish_ids(new_ids, stop_ids, settings.stop_strings,
                                 lambda x: tok.decode(x, skip_special_tokens=True),
                                 settings.max_new_tokens, timed_out)
        text = tok.decode(ids, skip_special_tokens=True)
        if settings.stop_strings:
            text = cut_at_stop(text, settings.stop_strings)[0]
        return Generation(id=prompt.id, prompt=prompt.text, text=text,
                          raw_text=tok.decode(ids, skip_special_tokens=False), prompt_tokens=len(encoded),
                          new_tokens=len(ids), finish_reason=reason, seconds=seconds)


__all__ = ["FinishReason", "TransformersBackend", "generation_config", "model_device", "pad_id"]
