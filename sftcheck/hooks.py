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
import re
from dataclasses import dataclass
from typing import Any

from sftcheck.checks.support import bounded
from sftcheck.checks.support.answers import AnswerParser
from sftcheck.checks.support.rows import UNCONFIGURED_FORMAT, Example
from sftcheck.hook_defaults import (  # noqa: F401 - re-exported: sftcheck.hooks is the hooks' public name
    DEFAULT_COMPLETION,
    DEFAULT_PROMPT,
    chat_prompt,
    chat_train,
    encode_batch,
    template_train,
    template_train_batch,
)
from sftcheck.hook_import import (  # noqa: F401 - re-exported
    HOOK_CONTRACTS,
    ROW_NAMES,
    Hook,
    HookError,
    hook_form,
    import_hook,
)
from sftcheck.hook_import import base_dir as _base_dir
from sftcheck.hook_scorer import Scorer, ScorerFailed, load_scorer  # noqa: F401 - re-exported
from sftcheck.user_traceback import user_traceback


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
