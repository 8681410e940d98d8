"""Run a conversation suite turn by turn: each model is fed its own previous replies.

For turn 1, 2, … every model gets one batched generation pass over all conversations that
reach that turn (``Passes.run``: the run's backend, stop set, limits and cache), so a 5-turn
suite costs 5 passes per model however many conversations it has.  Each prompt is the
conversation so far — the user's messages and *that model's* replies, read up to their first
stop — rendered by the tokenizer's chat template or the run's prompt builder, and it is
checked to still hold every earlier user message (a builder that truncates history is named
as the cause, not the model).  Replies are scored by the rules of
``sftcheck.checks.support.conversations`` and, for expectations in words, by the suite's judge
hook; the judge is calibrated on the suite's human labels.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import replace

from sftcheck.checks.support.conversations import (
    Conversation,
    ConversationRun,
    JudgeLabel,
    TurnResult,
    score_turn,
)
from sftcheck.checks.support.rows import Example
from sftcheck.checks.support.suites import SuiteRun
from sftcheck.suites.conversations import read_conversations
from sftcheck.suites.loaders import SuiteFileError
from sftcheck.suites.spec import SuiteSpec

MODELS = ("base", "tuned")


class ConversationSetupError(ValueError):
    """The suite cannot be run as configured (no chat template, a builder that cannot see turns,
    a judge that cannot be imported); the message names the key and the fix."""


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class Renderer:
    """Renders ``messages`` into one prompt (text, ids) the way the suite says."""

    def __init__(self, spec: SuiteSpec, cfg, tokenizer, hooks) -> None:
        self.spec, self.cfg, self.tok, self.hooks = spec, cfg, tokenizer, hooks
        where = f"[[suites]] {spec.name!r}"
        if spec.conversation_prompt == "chat_template":
            if not getattr(tokenizer, "chat_template", None):
                raise ConversationSetupError(
                    f"{where}: conversation_prompt = \"chat_template\", but the tokenizer "
                    f"{getattr(tokenizer, 'name_or_path', '') or ''} has no chat template. Fix: use a tokenizer "
                    "with one ([model] tokenizer), or set conversation_prompt = \"prompt_builder\" with a row-form "
                    "[format] prompt_builder that renders row[\"messages\"].")
            self.via = "the tokenizer's chat template"
            return
        hook = hooks.prompt_builder
        if hook.form == "builtin" and not cfg.format.chat:
            raise ConversationSetupError(
                f"{where}: conversation_prompt = \"prompt_builder\", but the run's prompt builder is "
                f"{hook.spec}, which renders one question and cannot show earlier turns. Fix: set [format] "
                "prompt_builder to a row-form hook that renders row[\"messages\"], or [format] chat = true.")
        if hook.form == "text":
            raise ConversationSetupError(
                f"{where}: conversation_prompt = \"prompt_builder\", but {hook.label} takes the question text "
                "only and cannot see earlier turns. Fix: give it the row form f(row, tokenizer) and render "
                "row[\"messages\"], or use conversation_prompt = \"chat_template\".")
        self.via = f"the run's prompt builder ({hook.spec})"

    def __call__(self, conv: Conversation, turn: int, messages: list[dict]) -> tuple[str, list[int]]:
        from sftcheck.checks.support import bounded
        from sftcheck.hook_defaults import _ids

        if self.spec.conversation_prompt == "chat_template":
            ids = _ids(bounded.template(self.tok.apply_chat_template, messages, add_generation_prompt=True,
                                        tokenize=True, culprit=f"the chat template of {self.tok.name_or_path or '?'}"))
            return self.tok.decode(ids), ids
        ex = Example(file=self.spec.data, row=conv.row, id=conv.turn_id(turn), question=messages[-1]["content"],
                     answer="", messages=tuple((m["role"], m["content"]) for m in messages),
                     raw={"id": conv.turn_id(turn), "messages": messages, "question": messages[-1]["content"],
                          "category": conv.category})
        return self.hooks.prompt(ex, self.tok)


def _messages(conv: Conversation, turn: int, replies: dict[tuple[str, int], str], system: str | None) -> list[dict]:
    msgs = [{"role": "system", "content": conv.system or system}] if (conv.system or system) else []
    for j in range(1, turn):
        msgs.append({"role": "user", "content": conv.turns[j - 1].user})
        msgs.append({"role": "assistant", "content": replies[(conv.id, j)]})
    msgs.append({"role": "user", "content": conv.turns[turn - 1].user})
    return msgs


def _lost(conv: Conversation, turn: int, prompt_text: str) -> tuple[int, ...]:
    """Earlier turns whose user message the rendered prompt no longer holds."""
    text = _squash(prompt_text)
    return tuple(j for j in range(1, turn) if _squash(conv.turns[j - 1].user) not in text)


def load_judge(spec: SuiteSpec, cfg):
    from sftcheck.checks.support import bounded
    from sftcheck.hook_import import HookError, import_hook
    from sftcheck.hook_import import base_dir as _base_dir

    if not spec.judge:
        return None
    try:
        fn = import_hook(spec.judge, key="judge", base_dir=_base_dir(cfg), source=cfg.source,
                         section=f"[suites] {spec.name!r}")
    except HookError as exc:
        raise ConversationSetupError(str(exc)) from exc
    return bounded.hook(fn, f"[[suites]] {spec.name!r} judge = {spec.judge!r}")


def _verdict(judge, example: dict, output: str, errors: list[str]) -> bool | None:
    from sftcheck.checks.scoring import binary_label

    try:
        value = judge(example, output)
    except Exception as exc:  # noqa: BLE001 - the user's judge raised: reported, the turn unscored
        errors.append(f"{example['id']} turn {example['turn']}: {type(exc).__name__}: {exc}")
        return None
    label = binary_label(value)
    if label is None:
        errors.append(f"{example['id']} turn {example['turn']}: the judge returned {value!r}, not a verdict "
                      "(bool, a number >= 0.5 = pass, or yes / no)")
        return None
    return bool(label)


def _judge_example(conv: Conversation, turn: int, messages: list[dict]) -> dict:
    t = conv.turns[turn - 1]
    return {"id": conv.id, "category": conv.category, "turn": turn, "messages": messages,
            "expectation": t.judge_text,
            "expect": {e.kind: (e.text or list(e.require or e.any_of)) for e in t.expect}}


def read_labels(path: str, convs: dict[str, Conversation]) -> tuple[list[tuple[str, int, str, int]], list[str]]:
    """``(conversation, turn, output, label)`` rows of a human-labels file, and the rows it left out."""
    from sftcheck.suites.loaders import SuiteFileError, label_records

    rows, bad = [], []
    try:
        records = list(label_records(path))
    except SuiteFileError as exc:
        return [], [str(exc)]
    for n, raw in records:
        try:
            if isinstance(raw, Exception):
                raise raw
            cid, turn, out, label = str(raw["id"]), raw["turn"], raw["output"], raw["label"]
        except (ValueError, KeyError, TypeError) as exc:
            bad.append(f"{path} row {n}: expected {{\"id\", \"turn\", \"output\", \"label\"}} ({exc})")
            continue
        from sftcheck.checks.scoring import binary_label

        conv = convs.get(cid)
        if conv is None or not isinstance(turn, int) or not 1 <= turn <= len(conv.turns) or not isinstance(out, str):
            bad.append(f"{path} row {n}: conversation {cid!r} turn {turn!r} is not in the suite")
            continue
        if binary_label(label) is None:
            bad.append(f"{path} row {n}: label {label!r} is not 1 / 0 (or yes / no)")
            continue
        rows.append((cid, turn, out, int(binary_label(label))))
    return rows, bad


def session_models(passes, tokenizer) -> list[tuple[str, str, Callable]]:
    """The session's base and tuned model as ``(name, role, opener)``: ``opener()`` is a context
    yielding ``(passes, variant, tokenizer)`` (the ``sftcheck.nway.runner.opened`` contract)."""
    return [(v, v, lambda v=v: contextlib.nullcontext((passes, v, tokenizer)))
            for v in tuple(getattr(passes, "models", MODELS))]


def run_conversation_suite(spec: SuiteSpec, cfg, models, tokenizer, hooks, blank: SuiteRun) -> SuiteRun:
    """The suite for every model (``models``: ``(name, role, opener)``, one model open at a time;
    within a model one batched pass per turn index); a suite that cannot be read or set up
    becomes a ``SuiteRun`` with ``error`` (reported by ``suite.data``)."""
    from sftcheck.suites.prompts import settings_for

    limit = spec.generation.get("n_examples", cfg.generation.n_examples)
    try:
        data = read_conversations(spec.data, spec.name, limit)
    except SuiteFileError as exc:
        return replace(blank, error=str(exc))
    blank = replace(blank, shape="conversation", n_rows=data.n_read, problems=data.problems)
    if not data.conversations:
        return blank
    try:
        Renderer(spec, cfg, tokenizer, hooks)  # a setup problem is the suite's, before any model loads
        judge = load_judge(spec, cfg)
    except ConversationSetupError as exc:
        return replace(blank, error=str(exc))
    convs = data.conversations
    settings = settings_for(spec, cfg)
    errors: list[str] = []
    replies: dict[str, dict[tuple[str, int], str]] = {}
    results: dict[str, tuple[TurnResult, ...]] = {}
    gen_sets: dict[str, tuple] = {}
    roles: dict[str, str] = {}
    via, stops = "", None
    notes: list[str] = []
    for name, role, opener in models:
        try:
            with opener() as (passes, variant, tok):
                render = Renderer(spec, cfg, tok, hooks)
                replies[name], results[name], gen_sets[name] = _model_turns(
                    convs, render, passes, variant, settings, judge, cfg.format.system_prompt, errors)
                roles[name], via, stops = role, render.via, (stops or (tok, passes.stops))
        except _RenderFailed as exc:
            return replace(blank, error=str(exc))
        except (OSError, ValueError, RuntimeError) as exc:  # LoadError, ServerError: one extra model
            if role in ("base", "tuned"):
                raise
            notes.append(f"model {name!r} ({role}) could not be run: {exc}")
    tuned = next((n for n, r in roles.items() if r == "tuned"), next(iter(roles), None))
    labels = None
    if spec.human_labels:
        labels, bad = _labels(spec, convs, judge, replies.get(tuned, {}), cfg.format.system_prompt, errors)
        errors.extend(bad)
    markers, stop_tokens = _markers(*stops) if stops else ((), ())
    conv_run = ConversationRun(
        spec.name, spec.data, convs, results, gen_sets, prompt_via=via, judge=spec.judge, labels=labels,
        labels_file=spec.human_labels, judge_errors=tuple(errors), markers=markers, stop_tokens=stop_tokens,
        max_new_tokens=settings.max_new_tokens, roles=roles, notes=tuple(notes))
    scored = {key: conv_run.conversation_scored(name) for name, key in conv_run.role_keys().items()}
    return replace(blank, scored=scored, conversation=conv_run)


class _RenderFailed(ValueError):
    pass


def _model_turns(convs, render: Renderer, passes, variant: str, settings, judge, system, errors: list[str]):
    """One model through every turn: its replies, verdicts and one pass per turn index."""
    from sftcheck.generation import Prompt

    replies: dict[tuple[str, int], str] = {}
    results: list[TurnResult] = []
    sets = []
    for turn in range(1, max(len(c.turns) for c in convs) + 1):
        active = [c for c in convs if len(c.turns) >= turn]
        msgs, prompts, lost = {}, [], {}
        for c in active:
            msgs[c.id] = _messages(c, turn, replies, system)
            try:
                text, ids = render(c, turn, msgs[c.id])
            except Exception as exc:
                raise _RenderFailed(f"rendering turn {turn} of conversation {c.id!r} (row {c.row}) with {render.via} "
                                    f"raised {type(exc).__name__}: {exc}. Fix: the builder must render "
                                    "row[\"messages\"] (role, content) for any turn") from exc
            lost[c.id] = _lost(c, turn, text)
            prompts.append(Prompt(c.turn_id(turn), text, tuple(ids), question=c.turns[turn - 1].user,
                                  messages=tuple((x["role"], x["content"]) for x in msgs[c.id])))
        gs = passes.run(prompts, settings, variant)
        sets.append(gs)
        by_id = gs.by_id()
        for c in active:
            g = by_id[c.turn_id(turn)]
            replies[(c.id, turn)] = g.text
            verdict = None
            if judge is not None and c.turns[turn - 1].judge_text:
                verdict = _verdict(judge, _judge_example(c, turn, msgs[c.id]), g.text, errors)
            results.append(score_turn(c, turn, g, verdict, lost[c.id]))
    return replies, tuple(results), tuple(sets)


def _labels(spec: SuiteSpec, convs, judge, replies, system, errors: list[str]):
    """The human labels with the judge's verdict on each labelled reply (the conversation so far
    taken from the tuned model's run)."""
    rows, bad = read_labels(spec.human_labels, {c.id: c for c in convs})
    out = []
    by_id = {c.id: c for c in convs}
    for cid, turn, output, label in rows:
        conv = by_id[cid]
        history = {k: v for k, v in replies.items() if k[0] == cid}
        ex = _judge_example(conv, turn, _messages(conv, turn, history, system)) if len(history) >= turn - 1 else \
            _judge_example(conv, turn, [{"role": "user", "content": conv.turns[turn - 1].user}])
        j = _verdict(judge, ex, output, errors) if judge is not None else None
        out.append(JudgeLabel(cid, turn, output, label, None if j is None else int(j)))
    return tuple(out), bad


def _markers(tokenizer, stops) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Role-leak markers and stop-token strings, as the behaviour checks compute them."""
    from sftcheck.session_model import output_markers

    om = output_markers(tokenizer, stops, [], [])
    return om.markers, om.stop_tokens
