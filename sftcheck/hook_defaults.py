"""The built-in hooks used when the config sets none: the tokenizer's chat template
(``[format] chat = true``) or ``prompt_template`` / ``completion_template``."""
from __future__ import annotations

from typing import Any

from sftcheck.checks.support import bounded
from sftcheck.checks.support.rows import Example
from sftcheck.checks.support.spans import end_token_ids

DEFAULT_PROMPT = "Question: {question}\nAnswer:"
DEFAULT_COMPLETION = " <answer>{answer}</answer>"


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
