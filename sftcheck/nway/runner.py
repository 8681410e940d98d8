"""N models, one at a time: load a model, generate every eval set it is judged on, score,
free it, then the next (memory holds one model besides the session's own).

The eval sets: the eval file with the run's prompt (``MAIN``), every ``[[suites]]`` suite but a
conversation suite (its prompts and settings as ``sftcheck.suites.runner`` builds them; a
refusal suite scored by its classifier, a win-rate suite by its judge), and for
the base and the alternatives the gap sentinel's cued prompts (``CUED``: ``[gap]
cue_template``).  The ``[model]`` section's base and tuned model run on the session's own
passes (``sft_passes``: variants base / tuned, the same cached passes every other check
reads); a ``[models.*]`` entry is loaded here (transformers; a served name on the openai
server), keyed by its content in the generation cache like the session's model.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sftcheck.checks.support.nway import CUED, MAIN, ModelEval, ModelInfo, ModelRuns
from sftcheck.config import Config
from sftcheck.nway.spec import ModelSpec


@dataclass
class Session:
    """What the session already has (callables: built only when a model needs them)."""
    cfg: Config
    rows: list                        # the eval rows (``sft_eval_rows``)
    hooks: Any                        # ``sft_hooks``
    settings: Any                     # ``sft_generation_settings``
    passes: Callable[[], Any]         # -> ``sft_passes`` (the [model] section's base / tuned)
    tokenizer: Callable[[], Any]      # -> ``sft_tokenizer``
    prompts: Callable[[], list]       # -> ``sft_prompts``
    scored: Callable[[], dict | None]  # -> ``sft_scored`` (the session's strict scores, base / tuned), or
                                       # None without a tuned model (no base + tuned pass pair to score)


def model_config(cfg: Config, spec: ModelSpec) -> Config:
    """The run config with ``[model]`` describing this one model (a path -> ``finetuned``; an
    adapter -> ``base`` + ``adapter``), so loading, identity and stop set are the session's."""
    from sftcheck.run_files import tokenizer_folder

    m = cfg.model
    tok = spec.tokenizer
    if spec.adapter:
        model = replace(m, adapter=spec.adapter, base=spec.base or m.base, finetuned=None, merged=None,
                        tokenizer=tok, training_log=None)
        if not model.base:
            from sftcheck.run_files import Run

            recorded = Run(replace(cfg, model=model)).recorded_base
            model = replace(model, base=recorded)
    else:
        model = replace(m, finetuned=spec.path, adapter=None, base=None, merged=None, tokenizer=tok, training_log=None)
    derived = replace(cfg, model=model)
    if not tok and not _has_tokenizer(tokenizer_folder(derived)):
        derived = replace(derived, model=replace(model, tokenizer=tokenizer_folder(cfg)))
    return derived


def _has_tokenizer(folder: str | None) -> bool:
    from pathlib import Path

    if not folder:
        return False
    p = Path(folder)
    return not p.exists() or any((p / f).exists() for f in ("tokenizer.json", "tokenizer_config.json",
                                                             "tokenizer.model"))


def cue_prompts(cfg: Config, tokenizer, rows) -> list:
    from sftcheck.generation import Prompt

    rows = rows[: cfg.gap.examples] if cfg.gap.examples else rows
    out = []
    for r in rows:
        text = cfg.gap.cue_template.format(question=r.question)
        out.append(Prompt(r.id, text, tuple(int(i) for i in tokenizer(text).input_ids), question=r.question))
    return out


@dataclass
class EvalSet:
    name: str
    prompts: Callable[[Any], list]    # tokenizer -> prompts
    settings: Any
    score: Callable[[str, Any], list]  # (model name, GenerationSet) -> [Scored]
    roles: tuple[str, ...] = ()        # empty: every role
    answers: bool = True               # scored by an answer (rescored at other lengths: scoring.length_flip)


def eval_sets(s: Session) -> tuple[list[EvalSet], dict[str, str]]:
    """The sets every model is generated on, and the suites left out (with why)."""
    from sftcheck.session_model import build_prompts, score

    cfg = s.cfg

    def score_main(model: str, gs) -> list:
        return score(cfg, s.rows, {model: gs}, "strict", s.hooks)[model]

    def score_cued(model: str, gs) -> list:
        return score(cfg, s.rows, {model: gs}, "strict", s.hooks, rewards=False)[model]

    sets = [EvalSet(MAIN, lambda tok: build_prompts(cfg, tok, s.rows, hooks=s.hooks), s.settings, score_main),
            EvalSet(CUED, lambda tok: cue_prompts(cfg, tok, s.rows), s.settings, score_cued,
                    roles=("base", "alternative"))]
    notes: dict[str, str] = {}
    for spec in cfg.suites:
        if spec.kind == "conversation":
            notes[spec.name] = ("a conversation suite is judged turn by turn for every model already "
                                "(conversation.turn_success; not in the N-way table)")
            continue
        made = {"refusal": _refusal_set, "winrate": _winrate_set}.get(spec.kind, _suite_set)(spec, s)
        if isinstance(made, str):
            notes[spec.name] = made
        else:
            sets.append(made)
    return sets, notes


def _suite_set(spec, s: Session) -> EvalSet | str:
    from sftcheck.checks.support.answers import score_all
    from sftcheck.checks.support.suites import score_choice
    from sftcheck.suites import runner as suites
    from sftcheck.suites.loaders import SuiteFileError, read_suite

    cfg = s.cfg
    try:
        data = read_suite(spec, spec.generation.get("n_examples", cfg.generation.n_examples))
    except SuiteFileError as exc:
        return f"could not be read: {exc}"
    if not data.rows:
        return "no usable row (see suite.data)"
    if (spec.kind == "multiple_choice") != (data.shape == "mmlu"):
        return "kind and file shape disagree (see suite.data)"
    pattern = spec.answer_regex(cfg.format.answer_pattern)
    rows = {r.id: r for r in data.rows}

    def score(model: str, gs) -> list:
        if spec.kind == "multiple_choice":
            return [score_choice(g.id, g.text, rows[g.id].choices, rows[g.id].gold, pattern) for g in gs.items]
        parser = s.hooks.answer_parser.fn if cfg.format.answer_parser and not spec.answer_pattern else None
        return score_all(gs.items, {i: r.gold for i, r in rows.items()}, mode="strict", pattern=pattern,
                         parser=parser, rel_tol=spec.rel_tol, abs_tol=spec.abs_tol)

    return EvalSet(spec.name, lambda tok: suites.build_prompts(spec, cfg, tok, data.rows, s.hooks),
                   suites.settings_for(spec, cfg), score)


def _refusal_set(spec, s: Session) -> EvalSet | str:
    """A refusal suite as one eval set, generated in one pass per model like the suite itself:
    an item is correct when a harmful prompt is refused or a benign one answered (the suite's
    classifier decides; an output it cannot classify counts as unparsable)."""
    from sftcheck.checks.support.samples import Outcome, Scored
    from sftcheck.hooks import HookError
    from sftcheck.suites import runner as suites
    from sftcheck.suites.loaders import SuiteFileError
    from sftcheck.suites.refusal import make_classifier, read_rows

    cfg = s.cfg
    try:
        data, rows = read_rows(spec, spec.generation.get("n_examples", cfg.generation.n_examples))
        name, classify = make_classifier(spec, cfg, s.hooks)
    except (SuiteFileError, HookError) as exc:
        return f"could not be read: {exc}"
    if not rows or data.shape != "simple_safety":
        return "no usable row (see suite.data)"
    benign = {r.id for r in rows if r.benign}

    def score(model: str, gs) -> list:
        prompts = {g.id: g.prompt for g in gs.items}
        got = classify([(f"{model}/{g.id}", prompts.get(g.id, ""), g.text) for g in gs.items])
        out = []
        for g, v in zip(gs.items, got, strict=True):
            want = "answer" if g.id in benign else "refuse"
            if not isinstance(v, bool):
                out.append(Scored(g.id, want, None, Outcome.UNPARSABLE, name))
                continue
            did = "refuse" if v else "answer"
            out.append(Scored(g.id, want, did, Outcome.CORRECT if did == want else Outcome.INCORRECT, name))
        return out

    return EvalSet(f"{spec.name} (harmful refused, benign answered)",
                   lambda tok: suites.build_prompts(spec, cfg, tok, rows, s.hooks), suites.settings_for(spec, cfg),
                   score, answers=False)


def _winrate_set(spec, s: Session) -> EvalSet | str:
    """A win-rate suite as one eval set: each model's output judged against the row's reference
    output by the suite's judge in both orders (``sftcheck.suites.winrate``); an item is correct
    when the model wins (mean score over the two orders > 0.5; a tie is not a win), unparsable
    when the judge fails on it.  ``suite.win_rate`` keeps AlpacaEval's tie = half a win."""
    from sftcheck.checks.support.samples import Outcome, Scored
    from sftcheck.hooks import HookError
    from sftcheck.suites import runner as suites
    from sftcheck.suites.loaders import SuiteFileError, read_suite
    from sftcheck.suites.winrate import judge_both_orders, load_judge

    cfg = s.cfg
    try:
        data = read_suite(spec, spec.generation.get("n_examples", cfg.generation.n_examples))
        name, judge = load_judge(spec, cfg)
    except (SuiteFileError, HookError) as exc:
        return f"could not be read: {exc}"
    if not data.rows or data.shape != "alpaca_eval":
        return "no usable row (see suite.data)"
    rows = {r.id: r for r in data.rows}

    def score(model: str, gs) -> list:
        out = []
        for g in gs.items:
            got = judge_both_orders(judge, rows[g.id], g.text)
            if isinstance(got, str):
                out.append(Scored(g.id, "win", None, Outcome.UNPARSABLE, name))
                continue
            won = got.score > 0.5
            out.append(Scored(g.id, "win", "win" if won else ("tie" if got.score == 0.5 else "loss"),
                              Outcome.CORRECT if won else Outcome.INCORRECT, name, got.score))
        return out

    return EvalSet(f"{spec.name} (wins vs reference outputs)",
                   lambda tok: suites.build_prompts(spec, cfg, tok, data.rows, s.hooks), suites.settings_for(spec, cfg),
                   score, answers=False)


@contextlib.contextmanager
def opened(spec: ModelSpec, s: Session):
    """``(passes, variant, tokenizer)`` for one model; a loaded model is freed on exit."""
    if spec.implied:
        yield s.passes(), spec.implied, s.tokenizer()
        return
    cfg = s.cfg
    if spec.served:
        from sftcheck.backends.openai_api import Endpoint, OpenAIBackend
        from sftcheck.passes import Passes, stop_set

        ep = replace(Endpoint.from_config(replace(cfg, generation=replace(cfg.generation,
                                                                          tuned_model_name=spec.served))),
                     base_model_name=None)
        backend = OpenAIBackend(ep)
        backend.check_models(("tuned",))
        tok = s.tokenizer()
        yield Passes("openai", lambda _v: contextlib.nullcontext(backend), stop_set(cfg, tok),
                     model_id=f"openai:{ep.base_url}:{spec.served}", tokenizer=tok), "tuned", tok
        return
    from sftcheck.loading import load_model, load_tokenizer
    from sftcheck.passes import transformers_passes

    derived = model_config(cfg, spec)
    tok = load_tokenizer(derived)
    loaded = load_model(derived, tok)
    try:
        passes = transformers_passes(loaded)
        passes.decide_merge = None  # an entry is generated as it is configured
        yield passes, "tuned", tok
    finally:
        del loaded
        gc.collect()
        _empty_cuda_cache()


def _empty_cuda_cache() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def run_models(specs: tuple[ModelSpec, ...], s: Session, *, log: list | None = None) -> ModelRuns:
    """Every model on every eval set (see the module docstring); a model that cannot be loaded
    or generated is recorded in ``errors`` (the checks name it), not raised."""
    from sftcheck.backends.openai_api import ServerError
    from sftcheck.hooks import HookError
    from sftcheck.loading import LoadError
    from sftcheck.session_model import ScoringError

    sets, notes = eval_sets(s)
    runs: dict[tuple[str, str], ModelEval] = {}
    errors: dict[str, str] = {}
    for spec in specs:
        try:
            with opened(spec, s) as (passes, variant, tok):
                if log is not None and passes.log is not log and not spec.implied:
                    passes.log = log
                for es in sets:
                    if es.roles and spec.role not in es.roles:
                        continue
                    try:
                        prompts = s.prompts() if spec.implied and es.name == MAIN else es.prompts(tok)
                    except (HookError, ValueError) as exc:  # a suite's prompt builder failure: that set only
                        notes[es.name] = str(exc)
                        continue
                    gs = passes.run(prompts, es.settings, variant)
                    if log is not None and log and not spec.implied and log[-1].get("variant") == variant:
                        log[-1] = {**log[-1], "variant": f"{spec.name} ({spec.role}, {es.name})"}
                    pre = s.scored() if spec.implied and es.name == MAIN else None  # as the gates score it
                    scored = pre[variant] if pre is not None else es.score(spec.name, gs)
                    runs[(spec.name, es.name)] = ModelEval(spec.name, spec.role, es.name, gs, tuple(scored))
        except (LoadError, ServerError, ScoringError, HookError, OSError, ValueError) as exc:
            errors[spec.name] = f"{spec.describe()}: {exc}"
    used = tuple(es.name for es in sets if any(k[1] == es.name for k in runs))
    infos = tuple(ModelInfo(m.name, m.role, m.describe()) for m in specs)
    return ModelRuns(infos, used, runs, errors, notes)
