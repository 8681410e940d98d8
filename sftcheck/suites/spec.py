"""``[[suites]]``: one table per evaluation suite, validated when the config loads.

Each suite names a data file, its kind (how outputs are scored), its file shape (how rows are
read) and optionally its own prompt template, answer pattern and generation settings. Errors
name the file, the suite, the key, the allowed values and the fix, like the rest of
``sftcheck.config``.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

KINDS = ("exact", "numeric", "multiple_choice", "refusal", "winrate", "conversation")
CONVERSATION_PROMPTS = ("chat_template", "prompt_builder")
SHAPES = ("auto", "qa", "gsm8k", "mmlu", "simple_safety", "alpaca_eval")
# the shapes each kind reads (the first is what ``auto`` must find)
KIND_SHAPES = {"exact": ("qa", "gsm8k"), "numeric": ("qa", "gsm8k"), "multiple_choice": ("mmlu",),
               "refusal": ("simple_safety",), "winrate": ("alpaca_eval",), "conversation": ()}
CLASSIFIERS = ("patterns", "judge")  # or "module:function"
# [generation] keys a suite may override (the rest are the run's).
GENERATION_KEYS = ("max_new_tokens", "batch_size", "n_examples", "do_sample", "temperature", "top_p",
                   "top_k", "repetition_penalty", "max_time", "seed")
NAME = re.compile(r"[A-Za-z0-9_-]+")
LETTER_PATTERN = r"^\s*\(?([A-Z])\)?(?:[.):]|\s|$)"
GSM8K_GOLD = r"####\s*(.+?)\s*$"


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    """Short name, letters / digits / ``_`` / ``-``; check ids and gates use it
    (``[gates."suite.<name>.accuracy"]``)."""
    data: str
    """The suite's data file (.jsonl, .json or .parquet), relative to the config file."""
    kind: str
    """``exact`` (string match), ``numeric`` (numbers within ``rel_tol`` / ``abs_tol``),
    ``multiple_choice`` (the generated letter and the choices' log-likelihood), ``refusal``
    (safe rate on harmful prompts, over-refusal on benign ones), ``winrate`` (pairwise
    judge against a reference output, both orders) or ``conversation`` (multi-turn: each model
    fed its own replies, every turn scored by rules and the ``judge``; the file format is
    ``sftcheck.suites.conversations``)."""
    shape: str = "auto"
    """File shape: ``qa`` (id, question, answer), ``gsm8k`` (question, answer ending ``#### N``),
    ``mmlu`` (question, subject, choices, answer index or letter), ``simple_safety`` (id,
    harm_area, category, prompt; ``benign = true`` marks a benign row), ``alpaca_eval``
    (instruction, output = the reference answer, generator); ``auto`` detects it."""
    prompt_template: str | None = None
    """Prompt with ``{question}``, ``{choices}`` (lettered lines ``A. …``) and ``{subject}``;
    unset: the run's prompt builder / template applied to the question (``multiple_choice``:
    the question, the lettered choices and ``Answer:``)."""
    answer_pattern: str | None = None
    """Regex with one group: the answer in a generation. Unset: the run's ``[format]
    answer_pattern`` (``multiple_choice``: a leading letter, ``A`` / ``(B)`` / ``C.``). For
    ``multiple_choice`` the group must be a choice letter or exactly one choice's text."""
    gold_pattern: str | None = None
    """Regex with one group applied to the gold text; unset for the ``gsm8k`` shape:
    ``'####\\s*(.+?)\\s*$'``."""
    choice_continuation: str = " {letter}"
    """What is scored after the prompt for each choice by log-likelihood (``{letter}``,
    ``{choice}``), as lm-eval scores ``" A"`` … after an MMLU prompt."""
    rel_tol: float = 0.0
    """``numeric``: relative tolerance."""
    abs_tol: float = 0.0
    """``numeric``: absolute tolerance."""
    question_field: str = "question"
    """Field holding the question (``qa`` shape)."""
    answer_field: str = "answer"
    """Field holding the gold answer (``qa`` shape)."""
    id_field: str = "id"
    """Field holding the example id (rows without one get ``<name>-<row>``)."""
    classifier: str = "patterns"
    """``refusal``: what decides that an output refuses: ``patterns`` (the built-in refusal
    phrases, ``sftcheck.checks.support.refusal.REFUSAL_PATTERNS``), ``judge`` (the run's
    ``[scoring]`` scorer: a score >= 0.5 means refused) or ``"module:function"``
    ``f(prompt, output) -> bool | float`` (>= 0.5 means refused)."""
    benign: str | None = None
    """``refusal``: a file of benign prompts (same shape, or ``{"prompt"}`` / ``{"question"}``
    rows) the model must still answer: the over-refusal rate. Rows of the suite's own file with
    ``benign = true`` (or category ``benign``) count too."""
    classifier_labels: str | None = None
    """``refusal``: JSONL ``{"output", "refused": true|false}`` the classifier must agree with
    (``suite.refusal_classifier``); unset: the built-in labelled refusals and answers."""
    judge: str | None = None
    """``winrate`` (required): ``"module:function"`` ``f(instruction, a, b)`` returning ``"a"``,
    ``"b"``, ``"tie"`` or a number in [0, 1] (the probability that ``a`` is better); called
    with the model's output first and second, to cancel position bias. ``conversation``:
    scores the expectations only a judge can (``"judge": "..."`` in a turn):
    ``judge(example, output) -> bool | number | "yes"/"no"``, where ``example`` is ``{"id",
    "category", "turn", "messages", "expectation", "expect"}``."""
    human_labels: str | None = None
    """``winrate``: JSONL of human pairwise judgements (AlpacaEval's annotation shape)
    ``{"instruction", "output_1", "output_2", "preference": 1 | 2 | 1.5}`` (or ``"a"`` /
    ``"b"`` / ``"tie"``); the judge's agreement with them is Cohen's kappa
    (``suite.judge_agreement``). ``conversation``: JSONL of ``{"id", "turn", "output",
    "label"}`` (a person's 1 / 0 on a reply) to calibrate the judge against (Cohen's kappa,
    the disagreements shown)."""
    conversation_prompt: str = "chat_template"
    """``conversation``: how each turn's prompt is rendered from the conversation so far (the user's
    messages and the model's own replies): ``chat_template`` (the tokenizer's chat template) or
    ``prompt_builder`` (the run's ``[format] prompt_builder`` in row form, given ``{"id", "messages",
    "question", "category"}``)."""
    generation: dict[str, Any] = field(default_factory=dict)
    """``[suites.generation]``: overrides of ``[generation]`` keys for this suite only
    (``max_new_tokens``, ``batch_size``, ``n_examples``, sampling settings, ``max_time``, ``seed``)."""

    def answer_regex(self, run_pattern: str) -> str:
        if self.answer_pattern:
            return self.answer_pattern
        return LETTER_PATTERN if self.kind == "multiple_choice" else run_pattern

    def gold_regex(self, shape: str) -> str | None:
        return self.gold_pattern or (GSM8K_GOLD if shape == "gsm8k" else None)


KEYS = tuple(f.name for f in fields(SuiteSpec))
REQUIRED = ("name", "data", "kind")
_TYPES = {"name": str, "data": str, "kind": str, "shape": str, "prompt_template": str,
          "answer_pattern": str, "gold_pattern": str, "choice_continuation": str, "rel_tol": float,
          "abs_tol": float, "question_field": str, "answer_field": str, "id_field": str, "generation": dict,
          "classifier": str, "benign": str, "classifier_labels": str, "judge": str, "human_labels": str,
          "conversation_prompt": str}
_PATHS = ("benign", "classifier_labels", "human_labels")
_CHOICES = {"kind": KINDS, "shape": SHAPES, "conversation_prompt": CONVERSATION_PROMPTS}
# keys that mean nothing for conversation suites (their file is conversations, scored by rules and the judge)
NOT_CONVERSATION = ("shape", "prompt_template", "answer_pattern", "gold_pattern", "choice_continuation", "id_field",
                    "rel_tol", "abs_tol", "question_field", "answer_field")


def _unknown(key: str, known: tuple[str, ...], where: str, error: type[Exception]) -> Exception:
    import difflib

    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return error(f"{where}: unknown key {key!r}.{hint} Known keys here: {', '.join(known)}. Fix: rename or "
                 "remove it (README.md, 'Evaluation suites').")


def _check_regex(pattern: str, where: str, error: type[Exception]) -> None:
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise error(f"{where} is not a valid regex ({exc}). Fix: correct the pattern (TOML literal "
                    "strings in single quotes keep backslashes).") from exc
    if rx.groups < 1:
        raise error(f"{where} has no capturing group. Fix: put the answer part in parentheses.")


def parse_suites(raw: Any, source: str, base_dir: Path, error: type[Exception],
                 parse_generation: Callable[[dict, str], Any]) -> tuple[SuiteSpec, ...]:
    """The validated ``[[suites]]`` list; ``error`` (``ConfigError``) names file, suite, key, fix;
    ``parse_generation(table, where)`` validates a ``[generation]`` table (the config's own rules)."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise error(f"{source}: suites must be an array of tables ([[suites]] blocks), got "
                    f"{type(raw).__name__}. Fix: write each suite as a [[suites]] block.")
    out: list[SuiteSpec] = []
    for i, table in enumerate(raw, 1):
        where = f"{source}: [[suites]] #{i}" + (f" ({table['name']!r})" if isinstance(table.get("name"), str)
                                                 else "")
        for key in table:
            if key not in KEYS:
                raise _unknown(key, KEYS, where, error)
        missing = [k for k in REQUIRED if k not in table]
        if missing:
            raise error(f"{where}: missing {', '.join(missing)}. Fix: every suite needs name, data and kind "
                        f"(one of {', '.join(KINDS)}).")
        values: dict[str, Any] = {}
        for key, value in table.items():
            tp = _TYPES[key]
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) if tp is float else \
                isinstance(value, tp)
            if not ok:
                raise error(f"{where}: {key} must be {tp.__name__}, got {type(value).__name__} {value!r}. "
                            "Fix: change its value.")
            if key in _CHOICES and value not in _CHOICES[key]:
                raise error(f"{where}: {key} = {value!r}: not one of the allowed values "
                            f"{', '.join(_CHOICES[key])}. Fix: change its value.")
            if tp is float:
                if value < 0:
                    raise error(f"{where}: {key} = {value!r}: must be 0 or more. Fix: change its value.")
                value = float(value)
            if key in ("answer_pattern", "gold_pattern"):
                _check_regex(value, f"{where}: {key} = {value!r}", error)
            values[key] = value
        if not NAME.fullmatch(values["name"]):
            raise error(f"{where}: name = {values['name']!r}: use letters, digits, '_' or '-' only "
                        "(it becomes part of check ids). Fix: rename the suite.")
        if any(s.name == values["name"] for s in out):
            raise error(f"{where}: name {values['name']!r} is used by another suite. Fix: give each suite "
                        "its own name.")
        for key in ("data", *_PATHS):
            if key in values:
                values[key] = _path(values[key], key, base_dir, where, error)
        _check_kind(values, where, error)
        values["generation"] = _generation(values.get("generation", {}), where, error, parse_generation)
        template = values.get("prompt_template")
        if template is not None:
            _check_template(template, ("question", "choices", "subject"), f"{where}: prompt_template", error)
        _check_template(values.get("choice_continuation", " {letter}"), ("letter", "choice"),
                        f"{where}: choice_continuation", error)
        out.append(SuiteSpec(**values))
    return tuple(out)


def _path(value: str, key: str, base_dir: Path, where: str, error: type[Exception]) -> str:
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise error(f"{where}: {key} = {value!r}: {path} does not exist. Fix: correct the path "
                    f"(relative paths are relative to the config file's folder {base_dir}).")
    return str(path)


def _hook_spec(value: str, key: str, where: str, error: type[Exception]) -> None:
    mod, _, fn = value.rpartition(":")
    if not mod or not fn.isidentifier():
        raise error(f"{where}: {key} = {value!r} is not 'module:function'. Fix: write e.g. "
                    "'mypkg.judges:pairwise' or 'judge.py:pairwise' (a .py file relative to the config).")


def _check_kind(values: dict, where: str, error: type[Exception]) -> None:
    """Keys that only make sense for one kind, and what a kind needs."""
    kind = values["kind"]
    if kind == "conversation":
        wrong = [k for k in NOT_CONVERSATION if k in values]
        if wrong:
            raise error(f"{where}: {wrong[0]} does not apply to a conversation suite (its file is conversations, "
                        "scored by rules and the judge). Fix: remove it, or change kind.")
    owners = {"classifier": ("refusal",), "benign": ("refusal",), "classifier_labels": ("refusal",),
              "judge": ("winrate", "conversation"), "human_labels": ("winrate", "conversation"),
              "choice_continuation": ("multiple_choice",), "conversation_prompt": ("conversation",)}
    for key, kinds in owners.items():
        if key in values and kind not in kinds:
            raise error(f"{where}: {key} applies to kind {' / '.join(repr(k) for k in kinds)} only, this suite is "
                        f"kind {kind!r}. Fix: remove the key or change the kind.")
    if "judge" in values:
        _hook_spec(values["judge"], "judge", where, error)
    shape = values.get("shape", "auto")
    if shape != "auto" and kind != "conversation" and shape not in KIND_SHAPES[kind]:
        raise error(f"{where}: shape = {shape!r} does not fit kind = {kind!r} (it reads "
                    f"{' / '.join(KIND_SHAPES[kind])}). Fix: change the shape or the kind.")
    if kind == "winrate" and "judge" not in values:
        raise error(f"{where}: kind 'winrate' needs judge = \"module:function\" (f(instruction, a, b) -> "
                        "'a' | 'b' | 'tie' or P(a better)). Fix: add the judge key.")
    classifier = values.get("classifier")
    if classifier is not None and classifier not in CLASSIFIERS:
        _hook_spec(classifier, "classifier", where, error)


def _generation(raw: dict, where: str, error: type[Exception], parse: Callable[[dict, str], Any]) -> dict:
    if not raw:
        return {}
    for key in raw:
        if key not in GENERATION_KEYS:
            raise _unknown(key, GENERATION_KEYS, f"{where} [suites.generation]", error)
    parsed = parse(raw, where)
    return {k: getattr(parsed, k) for k in raw}


def _check_template(template: str, allowed: tuple[str, ...], where: str, error: type[Exception]) -> None:
    import string

    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise error(f"{where} = {template!r}: not a format string ({exc}). Fix: write literal braces "
                    "as {{ }}.") from exc
    bad = sorted(n for n in names if n not in allowed)
    if bad:
        raise error(f"{where} = {template!r}: unknown field(s) {', '.join(bad)}. Allowed: "
                    f"{', '.join('{' + a + '}' for a in allowed)}. Fix: change the template.")
