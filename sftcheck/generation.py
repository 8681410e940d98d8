"""The generation engine: one batched pass per model variant, shared by every check.

Prompts are tokenized once, sorted by length (longest first, so a batch that does not fit
fails at once rather than at the end) and left-padded per batch; decoding is a plain
KV-cached loop (greedy by default, temperature sampling when asked) that stops a row on
EOS / a configured stop token or stop string and the whole pass at ``max_new_tokens`` or
the wall-time cap.  Per example it records the raw text, token counts, finish reason and
its share of the batch's wall time (``sftcheck.checks.support.samples.Generation``).

Results are cached in memory for the session, keyed by the model's identity (paths, weight
file fingerprints, adapter sha256, device, dtype), the prompts and the settings, so every
behaviour, gate and perf check reads the same pass; with ``[generation] disk_cache`` also
as JSON under the user's cache dir (``default_cache_dir()``), never in a checkpoint folder.
A pass cut by the wall-time cap is not written to disk.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet


@dataclass(frozen=True)
class Prompt:
    """One inference prompt, rendered by the configured builder."""
    id: str
    text: str
    input_ids: tuple[int, ...] | None = None  # the builder's token ids; else ``tokenizer(text)``


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 32
    batch_size: int = 32
    do_sample: bool = False
    temperature: float = 1.0
    max_time: float = 600.0
    seed: int = 0
    stop_strings: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, cfg) -> GenerationSettings:
        g = cfg.generation
        return cls(max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, do_sample=g.do_sample,
                   temperature=g.temperature, max_time=g.max_time, seed=g.seed,
                   stop_strings=tuple(cfg.format.stop_strings))


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """EOS ids that end a row: the tokenizer's EOS plus the model's generation_config EOS."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen_cfg = getattr(model, "generation_config", None)
    eos = getattr(gen_cfg, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(e) for e in eos)
    return sorted(ids)


def cache_key(model_id: str, prompts: Sequence[Prompt], settings: GenerationSettings,
              variant: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([model_id, variant, asdict(settings)], sort_keys=True).encode())
    for p in prompts:
        h.update(json.dumps([p.id, p.text, p.input_ids]).encode())
    return h.hexdigest()


_CACHE: dict[str, GenerationSet] = {}
CACHE_FORMAT = "1"


def default_cache_dir() -> Path:
    """``$SFTCHECK_CACHE_DIR``, else ``$XDG_CACHE_HOME/sftcheck``, else ``~/.cache/sftcheck``
    (never a folder of the user's checkpoint or data)."""
    env = os.environ.get("SFTCHECK_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "sftcheck"


def _disk_path(folder: Path, key: str) -> Path:
    return folder / "generations" / f"{key}.json"


def _load_disk(folder: Path, key: str) -> GenerationSet | None:
    path = _disk_path(folder, key)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("format") != CACHE_FORMAT:
            return None
        items = tuple(Generation(**{**g, "finish_reason": FinishReason(g["finish_reason"])})
                      for g in raw["items"])
        return GenerationSet(model=raw["model"], items=items, wall_seconds=raw["wall_seconds"],
                             batch_size=raw["batch_size"],
                             settings={**raw["settings"], "from_disk_cache": str(path)})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: generate again


def _save_disk(folder: Path, key: str, gs: GenerationSet) -> None:
    path = _disk_path(folder, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": CACHE_FORMAT, "model": gs.model, "wall_seconds": gs.wall_seconds,
                "batch_size": gs.batch_size, "settings": gs.settings,
                "items": [{**asdict(g), "finish_reason": g.finish_reason.value} for g in gs.items]}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache dir only costs a re-generation next time


def _progress(total: int, desc: str, enabled: bool = True):
    if not enabled:
        return contextlib.nullcontext(None)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return contextlib.nullcontext(None)
    return tqdm(total=total, desc=desc, unit="ex", leave=False)


def _batches(order: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(order), size):
        yield order[start:start + size]


def _pad_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    if tokenizer.eos_token_id is not None:
        return int(tokenizer.eos_token_id)
    return 0


def _model_device(model):
    import torch

    try:
        return next(p.device for p in model.parameters())
    except StopIteration:  # pragma: no cover
        return torch.device("cpu")


def _forward_kwargs(model) -> tuple[str, bool]:
    """(name of the KV-cache argument, whether ``logits_to_keep`` is accepted) for this model:
    transformers 5 calls the cache ``cache``, 4.x ``past_key_values``."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return "past_key_values", False
    name = "cache" if "cache" in params else "past_key_values"
    return name, "logits_to_keep" in params


def decode_batch(model, batch_ids: list[list[int]], *, pad_id: int, stop_ids: Sequence[int],
                 settings: GenerationSettings, deadline: float, generator=None,
                 stop_check=None):
    """Decode one left-padded batch.  Returns ``(new_token_lists, finish_reasons)``.

    ``stop_check(row, new_ids) -> bool`` is called for unfinished rows when stop strings are
    configured.  Finished rows keep being fed PAD (their outputs are discarded) until every
    row is finished, ``max_new_tokens`` is reached or ``deadline`` (``time.monotonic``) passes.
    """
    import torch

    device = _model_device(model)
    n = len(batch_ids)
    width = max(len(x) for x in batch_ids)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for i, row in enumerate(batch_ids):
        ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row):] = 1
    ids, mask = ids.to(device), mask.to(device)
    position = (mask.cumsum(-1) - 1).clamp(min=0)
    stops = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    new: list[list[int]] = [[] for _ in range(n)]
    reasons: list[FinishReason | None] = [None] * n
    done = torch.zeros(n, dtype=torch.bool, device=device)
    cache = None
    cache_arg, keep_arg = _forward_kwargs(model)
    extra = {"logits_to_keep": 1} if keep_arg else {}
    step_ids, step_pos = ids, position
    for step in range(settings.max_new_tokens):
        out = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos, use_cache=True,
                    **{cache_arg: cache}, **extra)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        logits = out.logits[:, -1, :].float()
        if settings.do_sample:
            probs = torch.softmax(logits / max(settings.temperature, 1e-6), dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        else:
            nxt = logits.argmax(-1)
        is_stop = torch.isin(nxt, stops) if len(stops) else torch.zeros_like(done)
        nxt_list = nxt.tolist()
        stop_list = is_stop.tolist()
        done_list = done.tolist()
        for i in range(n):
            if done_list[i]:
                continue
            new[i].append(nxt_list[i])
            if stop_list[i]:
                reasons[i] = FinishReason.EOS
            elif stop_check is not None and stop_check(i, new[i]):
                reasons[i] = FinishReason.STOP
        done = torch.tensor([r is not None for r in reasons], device=device)
        if bool(done.all()):
            break
        if time.monotonic() > deadline:
            for i in range(n):
                reasons[i] = reasons[i] or FinishReason.TIME
            break
        step_ids = torch.where(done, torch.full_like(nxt, pad_id), nxt)[:, None]
        mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=device)], dim=1)
        step_pos = step_pos[:, -1:] + 1
    final = [r or FinishReason.LENGTH for r in reasons]
    return new, final


def _cut_at_stop(text: str, stop_strings: Sequence[str]) -> str:
    cut = len(text)
    for s in stop_strings:
        k = text.find(s)
        if k >= 0:
            cut = min(cut, k)
    return text[:cut]


def generate(model, tokenizer, prompts: Sequence[Prompt], settings: GenerationSettings, *,
             variant: str, model_id: str = "", progress: bool = True,
             use_cache: bool = True, disk_cache: Path | None = None) -> GenerationSet:
    """Generate for every prompt with ``model`` as it is (the caller picks the variant, e.g.
    inside ``disable_adapter()``).  ``model_id`` identifies the weights for the cache (in
    memory for the session; also as JSON under ``disk_cache`` when given)."""
    import torch

    key = cache_key(model_id, prompts, settings, variant)
    if use_cache and model_id and key in _CACHE:
        return _CACHE[key]
    if use_cache and model_id and disk_cache is not None:
        cached = _load_disk(disk_cache, key)
        if cached is not None:
            _CACHE[key] = cached
            return cached
    pad_id = _pad_id(tokenizer)
    stop_ids = stop_token_ids(tokenizer, model)
    encoded = [list(p.input_ids) if p.input_ids is not None else tokenizer(p.text).input_ids
               for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    generator = None
    if settings.do_sample:
        generator = torch.Generator(device=_model_device(model)).manual_seed(settings.seed)
    stop_check = None
    if settings.stop_strings:
        def stop_check(_row: int, new_ids: list[int]) -> bool:
            tail = tokenizer.decode(new_ids[-16:], skip_special_tokens=True)
            return any(s in tail for s in settings.stop_strings)

    results: dict[int, Generation] = {}
    t_start = time.monotonic()
    deadline = t_start + settings.max_time
    was_training = model.training
    model.eval()
    with torch.inference_mode(), _progress(len(prompts), f"sftcheck generate ({variant})", progress) as bar:
        for batch in _batches(order, max(1, settings.batch_size)):
            if time.monotonic() > deadline:
                new, reasons = [[] for _ in batch], [FinishReason.TIME] * len(batch)
                seconds = 0.0
            else:
                t0 = time.monotonic()
                new, reasons = decode_batch(model, [encoded[i] for i in batch], pad_id=pad_id,
                                            stop_ids=stop_ids, settings=settings, deadline=deadline,
                                            generator=generator, stop_check=stop_check)
                seconds = (time.monotonic() - t0) / len(batch)
            for j, i in enumerate(batch):
                ids = new[j]
                raw = tokenizer.decode(ids, skip_special_tokens=False)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                if settings.stop_strings:
                    text = _cut_at_stop(text, settings.stop_strings)
                results[i] = Generation(id=prompts[i].id, prompt=prompts[i].text, text=text, raw_text=raw,
                                        prompt_tokens=len(encoded[i]), new_tokens=len(ids),
                                        finish_reason=reasons[j], seconds=seconds)
            if bar is not None:
                bar.update(len(batch))
    if was_training:
        model.train()
    out = GenerationSet(model=variant, items=tuple(results[i] for i in range(len(prompts))),
                        wall_seconds=time.monotonic() - t_start, batch_size=settings.batch_size,
                        settings={**asdict(settings), "stop_ids": stop_ids, "model_id": model_id})
    if use_cache and model_id:
        _CACHE[key] = out
        if disk_cache is not None and not any(g.finish_reason is FinishReason.TIME for g in out.items):
            _save_disk(disk_cache, key, out)
    return out


@dataclass
class ProbeLogits:
    """Logits of the same teacher-forced probe sequences under several model variants."""
    tuned: object                      # torch.Tensor [n_tokens, vocab] (valid positions only)
    base: object | None = None
    merged: object | None = None
    merged_source: str = ""            # where the merged logits came from
    n_sequences: int = 0
    notes: list[str] = field(default_factory=list)


def forward_logits(model, tokenizer, sequences: Sequence[list[int]], batch_size: int = 16):
    """Logits at every real (non-pad) position of ``sequences`` (right-padded batches),
    concatenated to ``[n_tokens, vocab]`` float32 on the CPU."""
    import torch

    device = _model_device(model)
    pad_id = _pad_id(tokenizer)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(sequences), batch_size):
            rows = sequences[start:start + batch_size]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, :len(r)] = torch.tensor(r)
                mask[i, :len(r)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            chunks.append(logits[mask.to(device).bool()].float().cpu())
    return torch.cat(chunks) if chunks else torch.zeros((0, 0))
