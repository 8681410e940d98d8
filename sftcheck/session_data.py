"""Session fixtures of the pre-training gate: data read once, rows formatted once.

Everything here runs the user's own code (``sftcheck.hooks``) on the user's data
(``sftcheck.dataio``) with only the tokenizer: no model weights are loaded.  The embedding
row count comes from safetensors headers / ``config.json``; the stop set from
``sftcheck.stopset``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from sftcheck import dataio
from sftcheck import hooks as hookmod
from sftcheck.checks.support.lora_layout import Unreadable
from sftcheck.checks.support.rows import (
    DataAudit,
    Example,
    HookFailure,
    Prompt,
    PromptSet,
    TrainRow,
    TrainSet,
)
from sftcheck.checks.support.spans import end_token_ids
from sftcheck.config import Config
from sftcheck.run_files import Run
from sftcheck.user_traceback import user_traceback
from sftcheck.verdict import setup_failure

COLLATE_BATCH = 16


@dataclass(frozen=True)
class LoadedData:
    audit: DataAudit
    examples: list[Example]   # the first [data] check_rows valid rows


def fields(cfg: Config) -> dataio.Fields:
    d = cfg.data
    return dataio.Fields(question=d.question_field, answer=d.answer_field, id=d.id_field,
                         gold=d.gold_field, gold_pattern=d.gold_pattern)


def _check_schema(cfg: Config) -> str:
    if cfg.data.schema != "auto" and cfg.data.schema not in dataio.SCHEMAS:
        setup_failure(f"{cfg.source}: [data] schema = {cfg.data.schema!r} is not one of auto, "
                      f"{', '.join(dataio.SCHEMAS)}. Fix: pick one of these.")
    return cfg.data.schema


def load_data(cfg: Config, path: str) -> LoadedData:
    audit, kept = dataio.audit(path, _check_schema(cfg), fields=fields(cfg), keep=cfg.data.check_rows or 10**12,
                               max_rows=cfg.data.max_rows)
    return LoadedData(audit, kept)


# The fixtures below are views of the session's one PretrainInputs bundle
# (``sftcheck.inputs_pretrain``) and its Sources; model tests take ``sft_inputs``.

@pytest.fixture(scope="session")
def sft_hooks(sft_sources) -> hookmod.Hooks:
    """The formatter, collator, prompt builder and answer parser of this run (imported once)."""
    from sftcheck.session_inputs import got

    return got(sft_sources, "hooks")


@pytest.fixture(scope="session")
def sft_train_data(sft_pretrain_inputs) -> LoadedData:
    """The training file, audited in one streaming pass (first ``check_rows`` rows kept)."""
    from sftcheck.session_inputs import got

    return got(sft_pretrain_inputs, "train_data")


@pytest.fixture(scope="session")
def sft_eval_data(sft_pretrain_inputs) -> LoadedData | None:
    """The eval file (None when ``[data] eval`` is not set)."""
    return sft_pretrain_inputs.eval_data


def format_rows(examples: list[Example], tokenizer, hooks: hookmod.Hooks) -> TrainSet:
    """Rows exactly as the trainer sees them: the user's formatter, then the collator."""
    formatted = hooks.train_rows(examples, tokenizer)
    ok: list[tuple[Example, dict]] = []
    failures: list[HookFailure] = []
    for ex, out in zip(examples, formatted):
        if isinstance(out, str):
            failures.append(HookFailure(hooks.train_formatter.label, ex.row, out, ex.id))
        else:
            ok.append((ex, out))
    rows: list[TrainRow] = []
    for start in range(0, len(ok), COLLATE_BATCH):
        chunk = ok[start:start + COLLATE_BATCH]
        try:
            collated = hooks.collate([o for _, o in chunk], tokenizer)
        except Exception:  # noqa: BLE001 - the user's collator raised: a finding
            tb = user_traceback()
            failures.extend(HookFailure(hooks.collator.label if hooks.collator else "collator", ex.row, tb, ex.id)
                            for ex, _ in chunk)
            continue
        for (ex, _), (ids, labels, left_pad) in zip(chunk, collated):
            rows.append(TrainRow(ex.row, ex.id, ex.question, ex.answer, tuple(ids), tuple(labels), left_pad,
                                 ex.gold))
    source = hooks.train_formatter.label + (f"; {hooks.collator.label}" if hooks.collator else "")
    return TrainSet(tuple(rows), tuple(failures), source, end_token_ids(tokenizer),
                    collated=hooks.collator is not None)


def build_prompts(examples: list[Example], tokenizer, hooks: hookmod.Hooks) -> PromptSet:
    prompts, failures = [], []
    for ex in examples:
        try:
            text, ids = hooks.prompt(ex, tokenizer)
        except Exception:  # noqa: BLE001 - the user's builder raised: a finding
            failures.append(HookFailure(hooks.prompt_builder.label, ex.row, user_traceback(), ex.id))
            continue
        prompts.append(Prompt(ex.row, ex.id, ex.question, text, tuple(ids)))
    return PromptSet(tuple(prompts), tuple(failures), hooks.prompt_builder.label)


@pytest.fixture(scope="session")
def sft_train_rows(sft_pretrain_inputs) -> TrainSet:
    """Training rows through the user's formatter and collator (computed once)."""
    from sftcheck.session_inputs import got

    return got(sft_pretrain_inputs, "train")


@pytest.fixture(scope="session")
def sft_infer_prompts(sft_pretrain_inputs) -> PromptSet:
    """Inference prompts (ids) for the same rows, through the user's prompt builder."""
    from sftcheck.session_inputs import got

    return got(sft_pretrain_inputs, "prompts")


# ---------------------------------------------------------------- header-only model facts

def safetensors_shapes(path: Path) -> dict[str, list[int]]:
    """Tensor shapes from a safetensors header; no tensor data read."""
    from sftcheck.checks.support.safetensors_header import read_header

    return {k: list(v) for k, v in read_header(path).shapes().items()}


EMBED_SUFFIXES = ("embed_tokens.weight", "wte.weight", "word_embeddings.weight", "embed_in.weight")


def _noted(source: str, unreadable: list[str]) -> str:
    return source + (f" (passed over: {'; '.join(unreadable)}; see artifact.safetensors_valid)"
                     if unreadable else "")


def embedding_rows(cfg: Config, run=None) -> tuple[int | None, str]:
    """Rows of the input embedding the adapter will run on: a resized embedding saved in the
    adapter wins; else the base/finetuned safetensors header; else ``config.json`` vocab_size."""
    folders = [Path(p) for p in (cfg.model.adapter, cfg.model.finetuned, cfg.model.base) if p and Path(p).is_dir()]
    unreadable: list[str] = []  # a broken file (artifact.safetensors_valid says why) is passed over
    for folder in folders:
        for st in sorted(folder.glob("*.safetensors")):
            try:
                shapes = safetensors_shapes(st)
            except (OSError, ValueError) as exc:
                unreadable.append(f"{st.name} unreadable: {str(exc)[:120]}")
                continue
            for key, shape in shapes.items():
                if key.endswith(EMBED_SUFFIXES) and "lora_" not in key:
                    return int(shape[0]), _noted(f"{st} [{key}]", unreadable)
    for folder in folders:
        cj = folder / "config.json"
        if cj.is_file():
            got = (run or Run(cfg)).model_config(folder)
            if isinstance(got, Unreadable):
                raise ValueError(got.reason)
            vs = got.get("vocab_size")
            if vs:
                return int(vs), _noted(f"{cj} vocab_size", unreadable)
    hub_ids = [p for p in (cfg.model.finetuned, cfg.model.base) if p and not Path(p).is_dir()]
    for src in hub_ids:  # a hub id: its config.json from the local cache (never downloaded)
        from transformers import AutoConfig

        try:
            vs = getattr(AutoConfig.from_pretrained(src, trust_remote_code=False, local_files_only=True), "vocab_size", None)
        except (OSError, ValueError):
            continue
        if vs:
            return int(vs), f"{src} config vocab_size (local cache)"
    if not (cfg.model.adapter or cfg.model.finetuned or cfg.model.base):
        return None, "no [model] base / finetuned / adapter configured"
    raise LookupError("no embedding size found")


HEAD_SUFFIXES = ("lm_head.weight", "embed_out.weight")


def output_embeddings(cfg: Config):
    """The matrix the model emits tokens through: the base's (or finetuned model's) output
    head, else its input embedding (tied).  One tensor read from safetensors, nothing else;
    ``(None, why)`` when there is no local safetensors folder."""
    from safetensors import safe_open

    from sftcheck.checks.support.safetensors_header import folder_tensor_files

    for src in (cfg.model.finetuned, cfg.model.base):
        if not src or not Path(src).is_dir():
            continue
        files = folder_tensor_files(src)
        for suffixes in (HEAD_SUFFIXES, EMBED_SUFFIXES):
            key = next((k for k in files if k.endswith(suffixes) and "lora_" not in k), None)
            if key:
                with safe_open(str(files[key]), framework="pt") as f:
                    return f.get_tensor(key), f"{files[key]} [{key}]"
    return None, "no local safetensors folder for [model] base / finetuned"


@pytest.fixture(scope="session")
def sft_stop_set(sft_pretrain_inputs):
    """The run's one stop set (``sftcheck.stopset``): the engine stops on it, format.stop_tokens
    judges it, scoring reads generations up to it."""
    from sftcheck.session_inputs import got

    return got(sft_pretrain_inputs, "stops")


def iter_file(cfg: Config, path: str):
    return dataio.iter_examples(path, _check_schema(cfg), fields=fields(cfg), max_rows=cfg.data.max_rows)
