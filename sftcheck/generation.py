"""One generation pass per model variant, shared by every check, through a backend.

The backend (``sftcheck.backends``: ``transformers`` by default, ``openai`` for any
OpenAI-compatible server, ``vllm`` in-process) turns prompts into ``Generation`` records
(raw text, token counts, finish reason, time share) with the run's stop set; this module
owns what is common: the settings and the cache (the stop set is ``sftcheck.stopset``'s).

Results are cached in memory for the session and (``[generation] disk_cache``) as JSON
under the user's cache dir (``default_cache_dir()``, never a checkpoint folder), keyed by
the model's content identity, the backend and its versions, the stop set, the settings and
the prompts.  A pass cut by the wall-time cap is not written to disk; a cache file that is
unreadable, of another format or not complete is discarded with a warning.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet


@dataclass(frozen=True)
class Prompt:
    """One inference prompt, rendered by the configured builder."""
    id: str
    text: str
    input_ids: tuple[int, ...] | None = None  # the builder's token ids; else ``tokenizer(text)``
    question: str | None = None  # the row's bare question (``openai_api = "chat"`` sends it as a message)
    messages: tuple[tuple[str, str], ...] | None = None  # a conversation so far ((role, content), ...):
    # ``openai_api = "chat"`` sends these instead of the question (multi-turn suites)


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 32
    batch_size: int = 32
    do_sample: bool = False
    temperature: float | None = None         # None: the model's generation_config value
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    max_time: float = 600.0
    seed: int = 0
    stop_strings: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, cfg) -> GenerationSettings:
        g = cfg.generation
        return cls(max_new_tokens=g.max_new_tokens, batch_size=g.batch_size, do_sample=g.do_sample,
                   temperature=g.temperature, top_p=g.top_p, top_k=g.top_k,
                   repetition_penalty=g.repetition_penalty, max_time=g.max_time, seed=g.seed,
                   stop_strings=tuple(cfg.format.stop_strings))


def cache_key(model_id: str, prompts: Sequence[Prompt], settings: GenerationSettings, variant: str,
              backend: dict | None = None, stop_ids: Sequence[int] = ()) -> str:
    """sha256 over everything that can change a pass: the model's content identity
    (``model_id``), the variant, the backend and its library versions, the stop set, the
    settings and every prompt (id, text, token ids)."""
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_FORMAT, model_id, variant, backend or {}, sorted(stop_ids), asdict(settings)],
                        sort_keys=True).encode())
    for p in prompts:
        h.update(json.dumps([p.id, p.text, p.input_ids]).encode())
    return h.hexdigest()


_CACHE: dict[str, GenerationSet] = {}
CACHE_FORMAT = "2"


class CacheWarning(UserWarning):
    """A disk cache entry was unusable and is ignored (generated again)."""


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


def _parse_entry(raw, key: str, prompts: Sequence[Prompt]) -> GenerationSet:
    """The cached pass, or ValueError saying why the entry cannot be trusted."""
    if not isinstance(raw, dict):
        raise TypeError(f"expected a JSON object, found {type(raw).__name__}")
    if raw.get("format") != CACHE_FORMAT or raw.get("key") != key:
        raise ValueError(f"format {raw.get('format')!r} / key do not match this version of sftcheck")
    items = tuple(Generation(**{**g, "finish_reason": FinishReason(g["finish_reason"])}) for g in raw["items"])
    ids = [g.id for g in items]
    if ids != [p.id for p in prompts]:
        raise ValueError(f"it holds {len(ids)} generations for {len(prompts)} prompts (partial or reordered)")
    if any(g.finish_reason is FinishReason.TIME for g in items):
        raise ValueError("it holds a pass cut by the time cap")
    return GenerationSet(model=str(raw["model"]), items=items, wall_seconds=float(raw["wall_seconds"]),
                         batch_size=int(raw["batch_size"]), settings=dict(raw["settings"]))


def _load_disk(folder: Path, key: str, prompts: Sequence[Prompt]) -> GenerationSet | None:
    path = _disk_path(folder, key)
    if not path.exists():
        return None
    try:
        gs = _parse_entry(json.loads(path.read_text(encoding="utf-8")), key, prompts)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(CacheWarning(f"sftcheck: ignoring the generation cache entry {path}: {exc}. "
                                   "It is generated again (delete the file to silence this)."),
                      stacklevel=3)
        return None
    return GenerationSet(model=gs.model, items=gs.items, wall_seconds=gs.wall_seconds,
                         batch_size=gs.batch_size, settings={**gs.settings, "from_disk_cache": str(path)})


def _save_disk(folder: Path, key: str, gs: GenerationSet) -> None:
    path = _disk_path(folder, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": CACHE_FORMAT, "key": key, "model": gs.model, "wall_seconds": gs.wall_seconds,
                "batch_size": gs.batch_size, "settings": gs.settings,
                "items": [{**asdict(g), "finish_reason": g.finish_reason.value} for g in gs.items]}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache dir only costs a re-generation next time


def run_pass(backend, prompts: Sequence[Prompt], settings: GenerationSettings, *, variant: str,
             stop_ids: Sequence[int], model_id: str = "", progress: bool = True, use_cache: bool = True,
             disk_cache: Path | None = None) -> GenerationSet:
    """One pass of ``backend`` over ``prompts`` (cached when ``model_id`` is given: in memory
    for the session, and as JSON under ``disk_cache``)."""
    cached_ok = use_cache and bool(model_id)
    key = cache_key(model_id, prompts, settings, variant, backend.identity(), stop_ids)
    if cached_ok and key in _CACHE:
        return _CACHE[key]
    if cached_ok and disk_cache is not None:
        hit = _load_disk(disk_cache, key, prompts)
        if hit is not None:
            _CACHE[key] = hit
            return hit
    out = backend.generate(prompts, settings, variant=variant, stop_ids=stop_ids, progress=progress)
    out = GenerationSet(model=out.model, items=out.items, wall_seconds=out.wall_seconds,
                        batch_size=out.batch_size,
                        settings={**asdict(settings), **out.settings, "model_id": model_id, "cache_key": key})
    if cached_ok:
        _CACHE[key] = out
        if disk_cache is not None and not any(g.finish_reason is FinishReason.TIME for g in out.items):
            _save_disk(disk_cache, key, out)
    return out


def generate(model, tokenizer, prompts: Sequence[Prompt], settings: GenerationSettings, *,
             variant: str, model_id: str = "", progress: bool = True, use_cache: bool = True,
             disk_cache: Path | None = None, stop_ids: Sequence[int] | None = None) -> GenerationSet:
    """A ``transformers`` pass with ``model`` as it is (the caller picks the variant, e.g.
    inside ``disable_adapter()``); ``stop_ids`` defaults to the stop set ``sftcheck.stopset``
    builds without a run config (the model's generation_config EOS, else the tokenizer's); a
    session always passes the run's stop set."""
    from sftcheck.backends.hf import TransformersBackend

    if stop_ids is None:
        from sftcheck.stopset import build_stop_set

        stop_ids = build_stop_set(None, tokenizer, model=model).ids
    stops = list(stop_ids)
    return run_pass(TransformersBackend(model, tokenizer), prompts, settings, variant=variant,
                    stop_ids=stops, model_id=model_id, progress=progress, use_cache=use_cache,
                    disk_cache=disk_cache)


@dataclass
class ProbeLogits:
    """Logits of the same teacher-forced probe sequences under several model variants."""
    tuned: object                      # torch.Tensor [n_tokens, vocab] (valid positions only)
    base: object | None = None
    merged: object | None = None
    merged_source: str = ""            # where the merged logits came from
    n_sequences: int = 0
    notes: list[str] = field(default_factory=list)
    subject: str = "adapter"           # what ``base`` is compared with: "adapter" or "fine-tuned model"


def forward_logits(model, tokenizer, sequences: Sequence[list[int]], batch_size: int = 16):
    """Logits at every real (non-pad) position of ``sequences`` (right-padded batches),
    concatenated to ``[n_tokens, vocab]`` float32 on the CPU."""
    import torch

    from sftcheck.backends.hf import model_device
    from sftcheck.backends.hf import pad_id as pad_of

    device = model_device(model)
    pad_id = pad_of(tokenizer)
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
