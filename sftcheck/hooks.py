"""The user's own formatting code, imported from the run config — or the built-in defaults.

Hooks are ``[format]`` keys holding ``"module:function"``.  ``module`` is either an
importable dotted name (``mypkg.train:format_example``) or a ``.py`` file path, relative to
the config file's folder (``"hooks.py:format_example"``, ``"src/fmt.py:build"``).

Signatures (what sftcheck calls) — see ``HOOK_CONTRACTS``.  Each hook comes in a row form
(it receives the whole data-file row as a dict: every field, e.g. ``final`` or
``category``) and the older text form; the form is detected from the signature: a first
parameter named one of ``ROW_NAMES`` (``row``, ``example``, ``sample`` …) is the row form.

Defaults when a hook is not set: with ``[format] chat = true``, the tokenizer's chat
template (``apply_chat_template``; system turn from ``system_prompt``), the prompt masked
and the assistant turn trained up to its end-of-turn token, as TRL's completion-only loss
does; otherwise ``prompt_template`` / ``completion_template`` (EOS appended to the
completion).  The answer parser defaults to the ``answer_pattern`` regex.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftcheck.checks.support import bounded
from sftcheck.checks.support.answers import AnswerParser
from sftcheck.checks.support.rows import UNCONFIGURED_FORMAT, Example
from sftcheck.checks.support.spans import end_token_ids
from sftcheck.user_traceback import user_traceback

DEFAULT_PROMPT = "Question: {question}\nAnswer:"
DEFAULT_COMPLETION = " <answer>{answer}</answer>"


class HookError(ValueError):
    """A hook named in the config cannot be imported; the message has file, key, fix."""


# First-parameter names that mark the row form of a hook.
ROW_NAMES = frozenset({"row", "example", "sample", "record", "item", "ex", "doc",
                       "rows", "examples", "batch", "features"})

HOOK_CONTRACTS = (
    ("train_formatter",
     ("`f(row, tokenizer) -> {\"input_ids\", \"labels\"}` (row form: `row` is the whole data-file "
     "row as a dict), or `f(question, answer, tokenizer)` (text form); either may return the "
     "whole training text (`str`) instead: it is tokenized and trained everywhere unless your "
     "collator masks it. Labels are -100 where not trained. Detected as the row form when the "
     "first parameter is named row / example / sample / record / item / ex / doc, or when it "
     "takes exactly two parameters.")),
    ("prompt_builder",
     ("`f(row, tokenizer)` or `f(row)` (row form), or `f(question)` / `f(question, tokenizer=...)` "
     "(text form) `-> str | list[int]`: the served prompt text (tokenized as `tokenizer(text)`) "
     "or its ids.")),
    ("collator",
     ("`f(rows, tokenizer)` or `f(rows)` `-> {\"input_ids\", \"labels\", ...}` (padded lists or "
     "tensors); `rows` are the formatter's outputs of one batch, as a trainer passes them. Rows "
     "are read back without padding through `attention_mask` when present.")),
    ("answer_parser", "`f(text) -> str | None`: the answer in a generation (default: `answer_pattern`)."),
    ("scorer",
     ("`f(row, output) -> float` (row form: the whole eval row dict and the generated text) or "
     "`f(output_text, example)` (text form: `{\"id\", \"question\", \"answer\", \"gold\"}`).")),
)


@dataclass(frozen=True)
class Hook:
    key: str          # the config key, e.g. "train_formatter"
    spec: str         # "module:function" or "builtin:..."
    fn: Callable[..., Any]
    form: str = "text"  # "row" (the whole data row), "text" (strings) or "builtin"

    @property
    def label(self) -> str:
        return f"{self.key} = {self.spec}"

    @property
    def row_form(self) -> bool:
        return self.form == "row"

    def accepts(self, name: str) -> bool:
        try:
            params = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):
            return False
        return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def positional(self) -> int:
        """Required positional parameters of the hook (a ``*args`` hook takes any number)."""
        return _required_positional(self.fn)


def _required_positional(fn: Callable[..., Any]) -> int:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 99
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
               for p in params)


def hook_form(key: str, fn: Callable[..., Any]) -> str:
    """``"row"`` or ``"text"``: the row form takes the whole data row first (detected by the
    first parameter's name; a ``train_formatter`` with exactly two parameters is the row form)."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return "text"
    if params and params[0].name in ROW_NAMES:
        return "row"
    if key == "train_formatter" and _required_positional(fn) == 2:
        return "row"
    return "text"


def import_hook(spec: str, *, key: str, base_dir: Path, source: str,
                section: str = "format") -> Callable[..., Any]:
    """Import ``module:function`` for config key ``[section] key``; ``module`` may be a
    ``.py`` path relative to ``base_dir``."""
    if ":" not in spec:
        raise HookError(f"{source}: [{section}] {key} = {spec!r} is not 'module:function'. "
                        "Fix: write e.g. 'mypkg.train:format_example' or 'hooks.py:format_example'.")
    module_name, _, attr = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise HookError(f"{source}: [{section}] {key} = {spec!r}: {path} does not exist. "
                                f"Fix: correct the path (relative to {base_dir}).")
            unique = f"sftcheck_hook_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(unique)
            if module is None:
                mspec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(mspec)  # type: ignore[arg-type]
                sys.modules[unique] = module
                mspec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if str(base_dir) not in sys.path:
                sys.path.append(str(base_dir))
            module = importlib.import_module(module_name)
    except HookError:
        raise
    except Exception as exc:
        raise HookError(f"{source}: [{section}] {key} = {spec!r}: importing {module_name!r} failed: "
                        f"{type(exc).__name__}: {exc}. Fix: make the module importable from "
                        f"{base_dir} (or give a .py file path).") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise HookError(f"{source}: [{section}] {key} = {spec!r}: {module_name!r} has no callable "
                        f"{attr!r}. Fix: name an existing function.")
    return fn


def _base_dir(cfg) -> Path:
    src = Path(cfg.source)
    return src.resolve().parent if src.exists() else Path.cwd()


# ---------------------------------------------------------------- built-in defaults

def _chat_messages(ex: Example, system: str | None) -> list[dict[str, str]]:
    msgs: list[dict[str, str]] = []
    if ex.messages:
        msgs = [{"role": r, "content": c} for r, c in ex.messages]
        if system and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": system})
        # the last user turn is the question
        return msgs
    if system:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": ex.question})
    return msgs


def _ids(result: Any) -> list[int]:
    """``apply_chat_template(tokenize=True)`` returns ids or a BatchEncoding by version."""
    if hasattr(result, "keys") and "input_ids" in result:
        result = result["input_ids"]
    return [int(i) for i in result]


def chat_train(ex: Example, tokenizer, system: str | None,
               completion_t: str | None = None) -> dict[str, list[int]]:
    """TRL-style completion-only row: prompt (with generation header) masked, the assistant
    turn trained through its end-of-turn token (whitespace after it is not part of the row).
    The assistant content is ``completion_t.format(answer=...)`` (stripped) when given."""
    prompt_msgs = _chat_messages(ex, system)
    content = completion_t.format(answer=ex.answer).strip() if completion_t else ex.answer
    prompt = _ids(bounded.template(tokenizer.apply_chat_template, prompt_msgs, add_generation_prompt=True,
                                   tokenize=True, culprit=_template_culprit(tokenizer)))
    full = _ids(bounded.template(tokenizer.apply_chat_template,
                                 prompt_msgs + [{"role": "assistant", "content": content}], tokenize=True,
                                 culprit=_template_culprit(tokenizer)))
    ends = end_token_ids(tokenizer)
    last_end = max((i for i, t in enumerate(full) if t in ends and i >= len(prompt)), default=None)
    if last_end is not None:
        full = full[:last_end + 1]
    n = len(prompt) if full[:len(prompt)] == prompt else 0
    return {"input_ids": full, "labels": [-100] * n + full[n:]}


def chat_prompt(ex: Example, tokenizer, system: str | None) -> list[int]:
    return _ids(bounded.template(tokenizer.apply_chat_template, _chat_messages(ex, system),
                                 add_generation_prompt=True, tokenize=True, culprit=_template_culprit(tokenizer)))


def _template_culprit(tokenizer) -> str:
    return f"the chat template of the tokenizer {getattr(tokenizer, 'name_or_path', '') or '?'}"


def template_train(ex: Example, tokenizer, prompt_t: str, completion_t: str) -> dict[str, list[int]]:
    prompt = tokenizer(prompt_t.format(question=ex.question)).input_ids
    completion = tokenizer(completion_t.format(answer=ex.answer), add_special_tokens=False).input_ids
    completion = list(completion) + [tokenizer.eos_token_id]
    return {"input_ids": list(prompt) + completion, "labels": [-100] * len(prompt) + completion}


def encode_batch(tokenizer, texts: list[str], add_special_tokens: bool = True) -> list[list[int]]:
    """Ids of many texts in one call to the Rust tokenizer behind a fast tokenizer (no offsets,
    no per-row Python wrapping: ~2x ``tokenizer(texts)``); same ids as ``tokenizer(text)``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    encode = getattr(backend, "encode_batch_fast", None) or getattr(backend, "encode_batch", None)
    if encode is None:
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=add_special_tokens).input_ids]
    ids = [e.ids for e in encode(texts, add_special_tokens=add_special_tokens)]
    if texts and ids[0] != list(tokenizer(texts[0], add_special_tokens=add_special_tokens).input_ids):
        # the Python wrapper adds something the backend does not: use the wrapper
        return [list(x) for x in tokenizer(texts, add_special_tokens=add_special_tokens).input_ids]
    return ids


def template_train_batch(examples: list[Example], tokenizer, prompt_t: str,
                         completion_t: str) -> list[dict[str, list[int]]]:
    """``template_train`` for many rows in two fast-tokenizer batch calls (same ids)."""
    prompts = encode_batch(tokenizer, [prompt_t.format(question=ex.question) for ex in examples])
    completions = encode_batch(tokenizer, [completion_t.format(answer=ex.answer) for ex in examples],
                               add_special_tokens=False)
    eos = [tokenizer.eos_token_id]
    out = []
    for p, c in zip(prompts, completions):
        c = list(c) + eos
        out.append({"input_ids": list(p) + c, "labels": [-100] * len(p) + c})
    return out


def answer_parser(pattern: str, hook: Hook | None) -> Hook:
    """The run's one answer parser (``checks.support.answers.AnswerParser``) as a hook: the
    user's ``answer_parser`` when set, else the ``answer_pattern`` regex."""
    try:
        one = AnswerParser(pattern, hook.fn if hook else None, hook.spec if hook else "")
    except (re.error, ValueError) as exc:
        raise HookError(f"[format] answer_pattern = {pattern!r} is not a valid regex with one capturing group "
                        f"({exc}). Fix: write a regex with one group, e.g. '<answer>(.*?)</answer>'.") from exc
    if hook is not None:
        return Hook("answer_parser", hook.spec, one, hook.form)
    return Hook("answer_parser", f"builtin:regex {pattern!r}", one, "builtin")


# ---------------------------------------------------------------- resolved hooks

@dataclass(frozen=True)
class Hooks:
    """The hooks of a run, resolved once: the user's or the built-in defaults."""
    train_formatter: Hook
    collator: Hook | None
    prompt_builder: Hook
    answer_parser: Hook
    scorer: Scorer | None = None

    def train_row(self, ex: Example, tokenizer) -> dict[str, list[int]]:
        """Call the formatter on one example; a text result is tokenized (labels = ids)."""
        hook = self.train_formatter
        if hook.form == "builtin":
            out = hook.fn(ex, tokenizer)
        elif hook.row_form:
            out = hook.fn(ex.row_dict(), tokenizer)
        else:
            out = hook.fn(ex.question, ex.answer, tokenizer)
        if isinstance(out, str):
            ids = list(tokenizer(out).input_ids)
            return {"input_ids": ids, "labels": list(ids)}
        if not hasattr(out, "keys") or "input_ids" not in out:
            raise TypeError(f"{self.train_formatter.label} returned {type(out).__name__}; expected "
                            "a dict with input_ids and labels, or the training text (str)")
        ids = [int(i) for i in _flat(out["input_ids"])]
        labels = [int(i) for i in _flat(out["labels"])] if "labels" in out else list(ids)
        return {**{k: v for k, v in out.items()}, "input_ids": ids, "labels": labels}

    def train_rows(self, examples: list[Example], tokenizer) -> list[dict[str, list[int]] | str]:
        """Format many rows; a row whose formatter raised gets its traceback (a ``str``)."""
        batch = getattr(self.train_formatter.fn, "batch", None)
        if batch is not None:
            # a batch that raises is retried row by row below, to locate the failing row
            with contextlib.suppress(Exception):
                return batch(examples, tokenizer)
        out: list[dict[str, list[int]] | str] = []
        for ex in examples:
            try:
                out.append(self.train_row(ex, tokenizer))
            except Exception:  # noqa: BLE001 - the user's code raised: a finding
                out.append(user_traceback())
        return out

    def prompt(self, ex: Example, tokenizer) -> tuple[str, list[int]]:
        """The served prompt of one example: (text, ids)."""
        hook = self.prompt_builder
        if hook.form == "builtin":
            ids = hook.fn(ex, tokenizer)
            return tokenizer.decode(ids), ids
        arg = ex.row_dict() if hook.row_form else ex.question
        if hook.accepts("tokenizer"):
            out = hook.fn(arg, tokenizer=tokenizer)
        elif hook.row_form and hook.positional() >= 2:
            out = hook.fn(arg, tokenizer)
        else:
            out = hook.fn(arg)
        if isinstance(out, str):
            return out, [int(i) for i in tokenizer(out).input_ids]
        ids = [int(i) for i in _flat(out["input_ids"] if hasattr(out, "keys") else out)]
        return tokenizer.decode(ids), ids

    def collate(self, rows: list[dict], tokenizer) -> list[tuple[list[int], list[int], int]]:
        """Run the collator on a batch; return each row's (input_ids, labels) unpadded and
        how many padding positions the collator put before it (left padding)."""
        if self.collator is None:
            return [(r["input_ids"], r["labels"], 0) for r in rows]
        hook = self.collator
        if hook.accepts("tokenizer"):
            batch = hook.fn(rows, tokenizer=tokenizer)
        elif hook.positional() >= 2:
            batch = hook.fn(rows, tokenizer)
        else:
            batch = hook.fn(rows)
        ids, labels = _rows(batch["input_ids"]), _rows(batch["labels"])
        mask = _rows(batch["attention_mask"]) if "attention_mask" in batch else None
        pad_id = getattr(tokenizer, "pad_token_id", None)
        out = []
        for i, row in enumerate(rows):
            if mask is not None:
                keep = [j for j, m in enumerate(mask[i]) if m]
            else:
                extra = len(ids[i]) - len(row["input_ids"])
                left = extra > 0 and pad_id is not None and all(t == pad_id for t in ids[i][:extra]) and \
                    list(ids[i][extra:]) == list(row["input_ids"])
                keep = list(range(extra, len(ids[i]))) if left else list(range(len(row["input_ids"])))
            out.append(([ids[i][j] for j in keep], [labels[i][j] for j in keep], keep[0] if keep else 0))
        return out


def _flat(x: Any) -> list:
    if hasattr(x, "tolist"):
        x = x.tolist()
    if x and isinstance(x[0], list):  # a batch of one
        x = x[0]
    return list(x)


def _rows(x: Any) -> list[list[int]]:
    if hasattr(x, "tolist"):
        x = x.tolist()
    return [[int(v) for v in r] for r in x]


def resolve(cfg) -> Hooks:
    """Resolve the four hooks of ``cfg`` (raises ``HookError`` for an unusable import path)."""
    f = cfg.format
    base_dir, source = _base_dir(cfg), cfg.source

    def user(key: str) -> Hook | None:
        spec = getattr(f, key)
        if not spec:
            return None
        fn = import_hook(spec, key=key, base_dir=base_dir, source=source)
        return Hook(key, spec, bounded.hook(fn, f"[format] {key} = {spec!r}"), hook_form(key, fn))

    prompt_t = f.prompt_template or DEFAULT_PROMPT
    completion_t = f.completion_template or DEFAULT_COMPLETION
    if f.chat:
        fmt_default = Hook("train_formatter", "builtin:chat_template",
                           lambda ex, tok: chat_train(ex, tok, f.system_prompt, f.completion_template),
                           "builtin")
        prompt_default = Hook("prompt_builder", "builtin:chat_template",
                              lambda ex, tok: chat_prompt(ex, tok, f.system_prompt), "builtin")
    else:
        def fmt(ex: Example, tok) -> dict[str, list[int]]:
            return template_train(ex, tok, prompt_t, completion_t)

        fmt.batch = lambda exs, tok: template_train_batch(exs, tok, prompt_t, completion_t)  # type: ignore[attr-defined]
        unset = "" if (f.prompt_template or f.completion_template) else f" {UNCONFIGURED_FORMAT}"
        fmt_default = Hook("train_formatter", f"builtin:template {prompt_t!r} + {completion_t!r}{unset}", fmt,
                           "builtin")
        prompt_default = Hook("prompt_builder", f"builtin:template {prompt_t!r}{unset}",
                              lambda ex, tok: list(tok(prompt_t.format(question=ex.question)).input_ids),
                              "builtin")
    parser = answer_parser(f.answer_pattern, user("answer_parser"))
    return Hooks(train_formatter=user("train_formatter") or fmt_default, collator=user("collator"),
                 prompt_builder=user("prompt_builder") or prompt_default, answer_parser=parser,
                 scorer=load_scorer(cfg))


class ScorerFailed(ValueError):
    """The user's scorer raised on one example; the message names the example and the fix."""


@dataclass(frozen=True)
class Scorer:
    """``[scoring] scorer``, called the way its signature asks: ``f(row, output)`` with the
    whole eval row (row form) or ``f(output_text, example_dict)`` (text form)."""
    hook: Hook

    @property
    def __name__(self) -> str:  # read by reports as a callable's name
        return self.hook.spec

    def __call__(self, output: str, example: Example | dict) -> float:
        return float(self.value(output, example))

    def value(self, output: str, example: Example | dict) -> Any:
        """What the scorer returned: a number or a table of named reward components
        (read by ``sftcheck.scorers.records.parse_reward``)."""
        if isinstance(example, Example):
            ex = example
            data = ex.row_dict() if self.hook.row_form else {
                "id": ex.id, "question": ex.question, "answer": ex.answer, "gold": ex.gold_answer}
            where = f"example {ex.id!r} (row {ex.row} of {ex.file})"
        else:
            data, where = dict(example), f"example {example.get('id')!r}"
        try:
            return self.hook.fn(data, output) if self.hook.row_form else self.hook.fn(output, data)
        except Exception as exc:  # the user's scorer raised: name the row
            form = "scorer(row, output)" if self.hook.row_form else "scorer(output_text, example_dict)"
            raise ScorerFailed(f"[scoring] scorer = {self.hook.spec} raised {type(exc).__name__}: {exc} "
                               f"on {where}. Fix: it is called as {form} -> float or a table of components "
                               "(a first parameter named row / example / … selects the row form).") from exc


def load_scorer(cfg) -> Scorer | None:
    """``[scoring] scorer`` as a ``Scorer``, or None."""
    if not cfg.scoring.scorer:
        return None
    fn = import_hook(cfg.scoring.scorer, key="scorer", base_dir=_base_dir(cfg), source=cfg.source,
                     section="scoring")
    return Scorer(Hook("scorer", cfg.scoring.scorer, bounded.hook(fn, f"[scoring] scorer = {cfg.scoring.scorer!r}"),
                         hook_form("scorer", fn)))
