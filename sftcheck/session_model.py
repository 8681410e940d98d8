"""Session fixtures for the model under test: loaded once, one generation pass per variant.

Contract (other areas build on these names):

``sft_model``            ``sftcheck.loading.LoadedModel`` (``.model``, ``.tokenizer``,
                         ``.variant("base"|"tuned")`` context, ``.model_id``, ``.has_adapter``)
``sft_eval_rows``        eval examples (``.id``, ``.question``, ``.answer``), ``[generation] n_examples``
``sft_prompts``          ``list[sftcheck.generation.Prompt]``, same order as the rows
``sft_generation_settings``  ``sftcheck.generation.GenerationSettings``
``sft_generations``      ``{"base": GenerationSet, "tuned": GenerationSet}`` (sftcheck.checks.support.samples)
``sft_scored``           ``{"base": list[Scored], "tuned": list[Scored]}`` strict parsing + scorer
``sft_scored_lenient``   the same with lenient extraction (reported side by side)
``sft_output_markers``   ``OutputMarkers`` (role-leak markers, stop-token strings)
``sft_probe_logits``     ``ProbeLogits`` (tuned / base / merged logits on probe sequences)
``sft_sentinel_scored``  ``{"base", "tuned"}`` scored outputs for the raw question (no format)
``sft_rewards``          ``{"base": ScoringRun, "tuned": ...}`` of the configured scorer backend, or None
``sft_scorer_name``      the configured scorer in words (import path / URL / MCP tool), or None
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from sftcheck.config import Config
from sftcheck.verdict import setup_failure


def _fail(msg: str):
    setup_failure(f"sftcheck: {msg}")


@dataclass(frozen=True)
class OutputMarkers:
    markers: tuple[str, ...]
    stop_tokens: tuple[str, ...]


def read_eval_rows(cfg: Config) -> list:
    """The eval examples (``sftcheck.dataio``: JSONL / JSON / parquet, any supported schema);
    rows that do not fit (a missing field, a gold text ``gold_pattern`` does not match) are
    left out here and reported by ``data.schema``."""
    path = cfg.data.eval
    if not path:
        raise ValueError(f"{cfg.source}: no [data] eval file. Fix: set [data] eval to a JSONL / JSON / "
                         "parquet file of eval examples (id, question, answer).")
    d = cfg.data
    limit = cfg.generation.n_examples
    from sftcheck import dataio
    from sftcheck.session_data import fields

    audit, rows = dataio.audit(path, d.schema, fields=fields(cfg), keep=limit or 10**9)
    if audit.error:
        raise ValueError(f"{path}: {audit.error}. Fix: point [data] eval at a readable data file.")
    if not rows:
        first = audit.problems[0] if audit.problems else None
        why = f" (row {first.row}: {first.field}: {first.problem})" if first else ""
        raise ValueError(f"{path}: no usable eval example{why}. Fix: give each row "
                         f"{d.id_field!r}, {d.question_field!r} and {d.answer_field!r}.")
    return rows


def build_prompts(cfg: Config, tokenizer, rows, *, raw: bool = False, hooks=None) -> list:
    """The served prompt of each row via the configured prompt builder (``sftcheck.hooks``,
    the same hook the pre-training gate checks); ``raw=True`` gives the bare question."""
    from sftcheck.generation import Prompt
    from sftcheck.hooks import resolve

    if raw:
        return [Prompt(r.id, r.question, question=r.question) for r in rows]
    hooks = hooks or resolve(cfg)
    out = []
    for r in rows:
        try:
            text, ids = hooks.prompt(r, tokenizer)
        except Exception as exc:
            form = "the whole row (a dict)" if hooks.prompt_builder.row_form else "the question string"
            raise ValueError(f"{cfg.source}: {hooks.prompt_builder.label} raised {type(exc).__name__}: "
                             f"{exc} on example {r.id!r} (row {r.row} of {r.file}). Fix: the builder "
                             f"takes {form} and returns the prompt text (or its token ids).") from exc
        out.append(Prompt(r.id, text, tuple(ids), question=r.question))
    return out


@pytest.fixture(scope="session")
def sft_model(sft_sources):
    """The model under test, loaded once per session (with the session's one tokenizer)."""
    from sftcheck.session_inputs import got

    return got(sft_sources, "model")


@pytest.fixture(scope="session")
def sft_eval_rows(sft_behaviour_inputs):
    """The eval examples (``[generation] n_examples``); a view of the session's BehaviourInputs."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "eval_rows")


@pytest.fixture(scope="session")
def sft_prompts(sft_behaviour_inputs):
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "prompts")


@pytest.fixture(scope="session")
def sft_generation_settings(sft_behaviour_inputs):
    return sft_behaviour_inputs.settings


def generate_both(loaded, prompts, settings, stops=None) -> dict:
    """``{"base": GenerationSet, "tuned": GenerationSet}`` with the transformers backend on
    ``loaded`` (cached; see sftcheck.generation), stopping on the run's stop set (``stops``,
    default ``sftcheck.stopset.build_stop_set``) and read up to the first stop."""
    from sftcheck.passes import transformers_passes

    return transformers_passes(loaded, stops).both(prompts, settings)


@pytest.fixture(scope="session")
def sft_passes(sft_behaviour_inputs):
    """``sftcheck.passes.Passes`` of the configured backend (``[generation] backend``)."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "passes")


@pytest.fixture(scope="session")
def sft_generations(sft_behaviour_inputs) -> dict:
    """One batched generation pass per variant: ``{"base": ..., "tuned": ...}``."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "generations")


class ScoringError(ValueError):
    """A user's parser / scorer hook failed; the message names it and the fix."""


def score_rewards(cfg: Config, rows, generations: dict, hooks=None, extra: dict | None = None) -> dict | None:
    """``{"base": ScoringRun, "tuned": ...}`` from the configured scorer backend (your function,
    an HTTP server or an MCP tool; ``sftcheck.scorers``), or None when none is configured.  A
    server that fails mid-run gives partial runs (the scores received, the errors).
    ``extra``: more requests for the same pass (``{"labels": [...]}``), returned by name."""
    from sftcheck import scorers

    backend = scorers.build(cfg, hooks)
    if backend is None:
        return None
    try:
        return scorers.score_generations(backend, generations, {r.id: r for r in rows}, extra)
    except scorers.ScorerError as exc:
        raise ScoringError(str(exc)) from exc


def label_requests(cfg: Config, rows, generations: dict) -> list | None:
    """The human-labelled outputs (``[scoring] human_labels``) as requests, scored in the
    rewards' pass when the scorer is a server (one server session instead of two); None when
    there are none or the file is unreadable (``sft_human_labels`` then reports it)."""
    from sftcheck.session_gates import judge_requests, read_human_labels

    if not cfg.scoring.human_labels or not (cfg.scoring.server or cfg.scoring.mcp):
        return None
    try:
        labels = read_human_labels(cfg.scoring.human_labels)
    except (OSError, ValueError):
        return None
    outputs = {g.id: g.text for g in generations["tuned"].items}
    return judge_requests(labels, {r.id: r for r in rows}, outputs)


def score(cfg: Config, rows, generations: dict, mode: str, hooks=None,
          rewards: dict | None | bool = True) -> dict:
    """``{"base": [Scored], "tuned": [...]}`` (``mode`` strict or lenient) against each row's
    gold answer (``[data] gold_field`` / ``gold_pattern``).  ``Scored.score`` is the scorer's
    total reward (``rewards``: the runs of ``score_rewards``; ``True`` = score now; ``False`` =
    do not call the scorer) or, without a scorer, exact match 1 / 0; None for an output the
    scorer did not score."""
    from dataclasses import replace

    from sftcheck.checks.support.answers import score_all
    from sftcheck.hooks import resolve

    hooks = hooks or resolve(cfg)
    parser = hooks.answer_parser.fn  # the one AnswerParser data.answer_roundtrip vouches for
    if rewards is True:
        rewards = score_rewards(cfg, rows, generations, hooks)
    gold = {r.id: r.gold_answer for r in rows}
    out = {}
    for variant, gen in generations.items():
        try:
            scored = score_all(gen.items, gold, mode=mode, pattern=cfg.format.answer_pattern,
                               parser=parser, rel_tol=cfg.scoring.rel_tol, abs_tol=cfg.scoring.abs_tol)
        except Exception as exc:
            raise ScoringError(
                f"{cfg.source}: scoring the {variant} outputs failed: {type(exc).__name__}: {exc}. "
                "Fix: check [format] answer_pattern / answer_parser.") from exc
        if isinstance(rewards, dict) and variant in rewards:
            got = rewards[variant].rewards
            scored = [replace(x, score=got[x.id].total if x.id in got else None) for x in scored]
        elif rewards is False and _configured(cfg):
            scored = [replace(x, score=None) for x in scored]
        out[variant] = scored
    return out


def _configured(cfg: Config) -> bool:
    s = cfg.scoring
    return bool(s.scorer or s.server or s.mcp)


@pytest.fixture(scope="session")
def sft_rewards(sft_behaviour_inputs) -> dict | None:
    """The configured scorer's rewards per model (``{"base": ScoringRun, ...}``), or None."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "rewards")


@pytest.fixture(scope="session")
def sft_scored(sft_behaviour_inputs) -> dict:
    """Strict parsing (the verdict) + the configured scorer's total reward per example."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "scored")


@pytest.fixture(scope="session")
def sft_scored_lenient(sft_behaviour_inputs) -> dict:
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "lenient")


@pytest.fixture(scope="session")
def sft_scorer_name(sft_behaviour_inputs) -> str | None:
    return sft_behaviour_inputs.scorer_name


def output_markers(tok, stops, prompts, rows) -> OutputMarkers:
    """Role-leak markers and stop-token strings for this tokenizer, stop set (a ``StopSet`` or
    its ids) and prompt format."""
    from sftcheck.checks.support.outputs import role_markers

    ids, strings = (stops.ids, stops.strings) if hasattr(stops, "ids") else (stops, ())
    names = {tok.convert_ids_to_tokens(int(i)) for i in ids} | set(strings)
    if tok.pad_token:
        names.add(tok.pad_token)
    specials = list(getattr(tok, "all_special_tokens", []))
    prompt = prompts[0].text if prompts else ""
    question = rows[0].question if rows else ""
    return OutputMarkers(role_markers(specials, names, prompt, question), tuple(sorted(names)))


def probe_logits(cfg: Config, loaded, prompts, generations):
    """Logits of probe sequences (prompt + tuned output, teacher-forced) under the adapter,
    with it disabled, and with it merged into the weights (in place, then restored)."""
    from sftcheck.generation import ProbeLogits, forward_logits
    from sftcheck.merging import merged_in_place

    tok = loaded.tokenizer
    tuned = generations["tuned"].by_id()
    seqs = []
    for p in prompts[: max(1, cfg.generation.probe_examples)]:
        ids = list(p.input_ids) if p.input_ids is not None else tok(p.text).input_ids
        if p.id in tuned:
            ids = ids + tok(tuned[p.id].raw_text, add_special_tokens=False).input_ids
        seqs.append(ids)
    with loaded.variant("tuned") as model:
        tuned_logits = forward_logits(model, tok, seqs)
    if not loaded.has_adapter and cfg.model.finetuned and cfg.model.base:
        with loaded.variant("base") as model:  # the fully fine-tuned model vs the base it came from
            base_logits = forward_logits(model, tok, seqs)
        return ProbeLogits(tuned=tuned_logits, base=base_logits, n_sequences=len(seqs),
                           notes=[(f"fully fine-tuned model {cfg.model.finetuned} compared with its "
                                   f"[model] base {cfg.model.base}")], subject="fine-tuned model")
    if not loaded.has_adapter:
        return ProbeLogits(tuned=tuned_logits, n_sequences=len(seqs),
                           notes=["no adapter configured (fully fine-tuned or base only)"])
    with loaded.variant("base") as model:
        base_logits = forward_logits(model, tok, seqs)
    if cfg.model.merged:
        from sftcheck.loading import load_merged

        merged_model = load_merged(cfg, loaded.placement)
        merged_logits = forward_logits(merged_model, tok, seqs)
        del merged_model
        source = f"your merged checkpoint {cfg.model.merged}"
    else:
        with merged_in_place(loaded.model) as model:
            merged_logits = forward_logits(model, tok, seqs)
        source = "the adapter merged in memory (peft merge_adapter)"
    return ProbeLogits(tuned=tuned_logits, base=base_logits, merged=merged_logits, merged_source=source,
                       n_sequences=len(seqs), notes=list(loaded.notes))


def sentinel_scored(cfg: Config, passes, tokenizer, rows, settings, hooks=None) -> dict:
    """Outputs for the bare question (no format cue), base and tuned, on a small subset."""
    rows = rows[: max(1, cfg.generation.sentinel_examples)]
    prompts = build_prompts(cfg, tokenizer, rows, raw=True)
    return score(cfg, rows, passes.both(prompts, settings), "strict", hooks, rewards=False)


@pytest.fixture(scope="session")
def sft_output_markers(sft_behaviour_inputs) -> OutputMarkers:
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "output_markers")


@pytest.fixture(scope="session")
def sft_probe_logits(sft_behaviour_inputs):
    """Probe logits: tuned / base (adapter disabled) / merged (``ProbeLogits``)."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "probe_logits")


@pytest.fixture(scope="session")
def sft_sentinel_scored(sft_behaviour_inputs) -> dict:
    """Outputs for the bare question (no format cue), base and tuned, on a small subset."""
    from sftcheck.session_inputs import got

    return got(sft_behaviour_inputs, "raw_scored")


def emission_probs(loaded, train, ids, n_rows: int = 16) -> dict[int, float]:
    """Mean teacher-forced probability the tuned model gives each token of ``ids`` at the
    positions where training rows train it (the first ``n_rows`` rows that contain one)."""
    import torch

    want = {int(i) for i in ids}
    rows = [r for r in train.rows if any(r.labels[i] in want for i in r.trained)][:n_rows]
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    with loaded.variant("tuned") as model, torch.no_grad():
        device = next(model.parameters()).device
        for r in rows:
            logp = torch.log_softmax(model(input_ids=torch.tensor([list(r.input_ids)], device=device))
                                     .logits[0].float(), -1)
            for i in r.trained:
                t = r.labels[i]
                if t in want and i > 0:
                    sums[t] = sums.get(t, 0.0) + float(logp[i - 1, t].exp())
                    counts[t] = counts.get(t, 0) + 1
    return {t: sums[t] / counts[t] for t in sums}


NEEDS_TUNED_MODEL = ("behaviour", "gate", "perf")


def missing_tuned_model(cfg: Config) -> str | None:
    """Why the stages that judge a tuned model cannot run on this config (None: they can)."""
    m = cfg.model
    if m.adapter or m.finetuned or cfg.generation.backend == "openai":  # a server serves the tuned model
        return None
    if any(e.role == "tuned" for e in cfg.models):  # [models.<name>] role = "tuned"
        return None
    have = "a tokenizer and data" if not m.base else f"a base ({m.base}) but nothing tuned from it"
    return (f"no tuned model configured ({cfg.source} has {have}: [model] adapter and finetuned are "
            "unset): behaviour, gate and perf checks judge a tuned model against its base, so they do not "
            "run; this run is the pre-training gate. Set [model] adapter (or finetuned) to run them.")


@pytest.hookimpl(trylast=True)  # after the plugin has marked each model test with its stage
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stages follow from what is configured: no adapter and no fine-tuned model -> the checks
    that need one are skipped with the reason (no ``-m`` flag needed)."""
    from sftcheck.session_state import sft_session

    cfg = sft_session(config).config
    why = missing_tuned_model(cfg) if cfg is not None else None
    if why is None:
        return
    for item in items:
        if any(item.get_closest_marker(stage) for stage in NEEDS_TUNED_MODEL):
            item.add_marker(pytest.mark.skip(reason=why))
