"""The ``openai`` backend: any OpenAI-compatible completions / chat server.

vLLM, SGLang and TGI serve a base model and LoRA adapters next to it under their own model
names (``vllm serve <base> --enable-lora --lora-modules tuned=<adapter>``); sftcheck sends
the base variant's prompts to ``[generation] base_model_name`` and the tuned ones to
``tuned_model_name``.  One prompt per request, at most ``concurrency`` in flight, each with
``request_timeout``; connection errors, timeouts, 429 and 5xx are retried ``retries``
times with exponential backoff; ``max_time`` bounds the whole pass (requests not started
by then end with finish reason ``time``).  The served model list (``/v1/models``) is
checked against the config before the first pass.  The API key is read from the
environment variable named by ``api_key_env`` and never stored.  Standard library only.

The text is asked for with its special tokens and the stop token that ended it (vLLM /
SGLang's ``skip_special_tokens: false``, ``include_stop_str_in_output: true``), as the
``transformers`` backend's ``raw_text`` has them, so role-leak and missed-stop checks see
them; a server that answers those parameters 400 is asked again without them, and a pass
records whether the text really carried them (``raw_text_special_tokens``: True / False /
None = no output ended on a stop token, so it cannot tell; ``special_tokens_note`` says
why).  ``stream=True`` streams each answer (server-sent events) and records its time to
first token, in the same pass.
"""
from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sftcheck.backends.stops import cut_at_stop
from sftcheck.checks.support.samples import FinishReason, Generation, GenerationSet

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
# vLLM / SGLang extensions: the text with its special tokens and the stop token that ended it
# (``no_stop_trim`` is SGLang's name for vLLM's ``include_stop_str_in_output``)
EXTRAS = {"skip_special_tokens": False, "include_stop_str_in_output": True, "spaces_between_special_tokens": False,
          "no_stop_trim": True}


class ServerError(RuntimeError):
    """The server could not be used; the message names the URL, what happened and the fix."""


class ExtrasRejected(ServerError):
    """The server refused vLLM's extra parameters (OpenAI's own API does): ask without them."""


def _body_of(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def read_stream(resp, t0: float) -> tuple[dict, float | None]:
    """A streamed completion (server-sent events) as the one answer it adds up to, and the
    seconds from ``t0`` to the first chunk that carried text."""
    first: float | None = None
    text: list[str] = []
    choice: dict = {}
    usage: dict = {}
    for line in resp:
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            break
        chunk = json.loads(payload)
        usage = chunk.get("usage") or usage
        for c in chunk.get("choices") or ():
            piece = c.get("text") if "text" in c else (c.get("delta") or {}).get("content")
            if piece:
                first = first if first is not None else time.monotonic() - t0
                text.append(piece)
            for key in ("finish_reason", "stop_reason"):
                if c.get(key) is not None:
                    choice[key] = c[key]
    joined = "".join(text)
    return {"choices": [{**choice, "text": joined, "message": {"content": joined}}], "usage": usage}, first


@dataclass(frozen=True)
class Endpoint:
    base_url: str                      # ending in /v1
    base_model_name: str | None
    tuned_model_name: str
    api: str = "completions"           # or "chat"
    api_key_env: str | None = None
    concurrency: int = 8
    request_timeout: float = 120.0
    retries: int = 3
    backoff: float = 0.5
    system_prompt: str | None = None

    @classmethod
    def from_config(cls, cfg) -> Endpoint:
        g = cfg.generation
        if not g.base_url:
            raise ServerError(f"{cfg.source}: [generation] backend = \"openai\" needs [generation] base_url "
                              "(e.g. \"http://127.0.0.1:8000/v1\"). Fix: set it to your server's URL.")
        if not g.tuned_model_name:
            raise ServerError(f"{cfg.source}: [generation] backend = \"openai\" needs [generation] "
                              "tuned_model_name (the served name of base + adapter, e.g. the NAME of "
                              "vLLM's --lora-modules NAME=PATH). Fix: set it.")
        return cls(base_url=g.base_url.rstrip("/"), base_model_name=g.base_model_name,
                   tuned_model_name=g.tuned_model_name, api=g.openai_api, api_key_env=g.api_key_env,
                   concurrency=max(1, g.concurrency), request_timeout=g.request_timeout,
                   retries=max(0, g.retries), system_prompt=cfg.format.system_prompt)

    def url(self, route: str) -> str:
        return f"{self.base_url}/{route.lstrip('/')}"

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            h["Authorization"] = f"Bearer {key}"
        return h


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in RETRY_STATUS
    return isinstance(exc, (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError,
                            json.JSONDecodeError))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        body = getattr(exc, "detail", None)
        body = _body_of(exc) if body is None else body
        return f"HTTP {exc.code} {exc.reason}: {body[:300]}".strip()
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


class OpenAIBackend:
    """Generation on an OpenAI-compatible server (see the module docstring)."""
    name = "openai"

    def __init__(self, endpoint: Endpoint, *, stream: bool = False, stop_texts: Sequence[str] = (),
                 specials: Sequence[str] = ()) -> None:
        self.ep = endpoint
        self._served: list[str] | None = None
        self.stream = stream                          # stream each answer: time to first token
        self.stop_texts = tuple(t for t in stop_texts if t)  # the stop tokens as text (is one shown?)
        self.specials = tuple(sorted({t for t in specials if t}, key=len, reverse=True))
        self.extras = True                            # ask for special tokens (vLLM / SGLang parameters)
        self.extras_refused = ""                      # the server's answer when it refused them
        self._lock = threading.Lock()

    def identity(self) -> dict:
        names = {"base": self.ep.base_model_name, "tuned": self.ep.tuned_model_name}
        return {"backend": self.name, "base_url": self.ep.base_url, "api": self.ep.api, "names": names}

    def request(self, route: str, body: dict | None, timeout: float, deadline: float | None = None) -> dict:
        """One JSON request with retries and exponential backoff; ServerError names the URL."""
        return self.request_timed(route, body, timeout, deadline)[0]

    def request_timed(self, route: str, body: dict | None, timeout: float, deadline: float | None = None,
                      stream: bool = False) -> tuple[dict, float | None]:
        """``request``, streamed when ``stream``: (the answer, seconds to its first token or None)."""
        url = self.ep.url(route)
        data = None if body is None else json.dumps(body).encode()
        attempt = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                req = urllib.request.Request(url, data=data, headers=self.ep.headers(),
                                             method="GET" if body is None else "POST")
                wait = timeout if left is None else max(0.05, min(timeout, left))
                t0 = time.monotonic()
                with urllib.request.urlopen(req, timeout=wait) as resp:
                    return read_stream(resp, t0) if stream else (json.loads(resp.read()), None)
            except Exception as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.detail = _body_of(exc)
                    if exc.code in (400, 422) and any(k in exc.detail for k in EXTRAS):
                        raise ExtrasRejected(f"HTTP {exc.code}: {exc.detail[:200]}") from exc
                attempt += 1
                pause = self.ep.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)
                late = deadline is not None and time.monotonic() + pause > deadline
                if not _retryable(exc) or attempt > self.ep.retries or late:
                    tries = f" after {attempt} attempt{'s' * (attempt > 1)}" if _retryable(exc) else ""
                    raise ServerError(f"{url}: {_describe(exc)}{tries}") from exc
                time.sleep(pause)

    def served_models(self) -> list[str]:
        if self._served is None:
            try:
                raw = self.request("models", None, timeout=min(self.ep.request_timeout, 30.0))
            except ServerError as exc:
                raise ServerError(f"cannot reach the OpenAI-compatible server at {self.ep.base_url} ({exc}). "
                                  "Fix: start the server (e.g. vllm serve <base> --enable-lora "
                                  "--lora-modules tuned=<adapter>) or correct [generation] base_url.") from exc
            try:
                self._served = [str(m["id"]) for m in raw["data"]]
            except (KeyError, TypeError) as exc:
                raise ServerError(f"{self.ep.url('models')}: not an OpenAI model list ({str(raw)[:200]}). "
                                  "Fix: point [generation] base_url at the server's /v1 root.") from exc
        return self._served

    def check_models(self, variants: Sequence[str] = ("base", "tuned")) -> None:
        served = self.served_models()
        for variant in variants:
            name = self.model_name(variant)
            if name not in served:
                key = f"{variant}_model_name"
                raise ServerError(f"{self.ep.base_url} serves {served}, not [generation] {key} = {name!r}. "
                                  f"Fix: set {key} to one of the served names, or serve it (vLLM: "
                                  "--served-model-name for the base, --lora-modules NAME=PATH for the adapter).")

    def model_name(self, variant: str) -> str:
        name = self.ep.tuned_model_name if variant == "tuned" else self.ep.base_model_name
        if not name:
            raise ServerError(f"no served name for the {variant} model. Fix: set [generation] "
                              f"{variant}_model_name (the name {self.ep.base_url}/models lists).")
        return name

    def _body(self, prompt, settings, variant: str, stop_ids: Sequence[int]) -> tuple[str, dict]:
        body: dict = {"model": self.model_name(variant), "max_tokens": settings.max_new_tokens,
                      "temperature": (settings.temperature if settings.temperature is not None else 1.0)
                      if settings.do_sample else 0.0,
                      "n": 1, "seed": settings.seed}
        if settings.do_sample:
            for key in ("top_p", "top_k"):
                if getattr(settings, key) is not None:
                    body[key] = getattr(settings, key)
        if settings.repetition_penalty is not None:
            body["repetition_penalty"] = settings.repetition_penalty
        if settings.stop_strings:
            body["stop"] = list(settings.stop_strings)
        if stop_ids:
            body["stop_token_ids"] = list(stop_ids)  # vLLM / SGLang extension
        if self.extras:
            body.update(EXTRAS)
        if self.stream:
            body.update(stream=True, stream_options={"include_usage": True})
        if self.ep.api == "chat":
            msgs = [{"role": "system", "content": self.ep.system_prompt}] if self.ep.system_prompt else []
            if getattr(prompt, "messages", None):
                turns = [{"role": r, "content": c} for r, c in prompt.messages]
                msgs = [] if turns[0]["role"] == "system" else msgs
                return "chat/completions", {**body, "messages": [*msgs, *turns]}
            question = prompt.question if prompt.question is not None else prompt.text
            return "chat/completions", {**body, "messages": [*msgs, {"role": "user", "content": question}]}
        sent = list(prompt.input_ids) if prompt.input_ids is not None else prompt.text
        return "completions", {**body, "prompt": sent}

    def _one(self, prompt, settings, variant, stop_ids, deadline: float) -> tuple[Generation, float | None]:
        """One prompt's generation and its time to first token (None unless streamed)."""
        if time.monotonic() >= deadline:
            return Generation(id=prompt.id, prompt=prompt.text, text="", raw_text="", prompt_tokens=0,
                              new_tokens=0, finish_reason=FinishReason.TIME, seconds=0.0), None
        t0 = time.monotonic()
        try:
            raw, ttft = self._ask(prompt, settings, variant, stop_ids, deadline)
        except ServerError as exc:
            if time.monotonic() >= deadline:
                return Generation(id=prompt.id, prompt=prompt.text, text="", raw_text="", prompt_tokens=0,
                                  new_tokens=0, finish_reason=FinishReason.TIME, seconds=time.monotonic() - t0), None
            raise ServerError(f"the {variant} pass failed on example {prompt.id!r}: {exc}. Fix: check the "
                              f"server at {self.ep.base_url} (its log), raise [generation] request_timeout / "
                              "retries, or lower concurrency.") from exc
        seconds = time.monotonic() - t0
        route = "chat/completions" if self.ep.api == "chat" else "completions"
        try:
            choice = raw["choices"][0]
            text = choice["message"]["content"] if self.ep.api == "chat" else choice["text"]
            usage = raw.get("usage") or {}
            reason = choice.get("finish_reason")
        except (KeyError, IndexError, TypeError) as exc:
            raise ServerError(f"{self.ep.url(route)}: unexpected answer {str(raw)[:200]} "
                              "(no choices[0] text). Fix: use an OpenAI-compatible server.") from exc
        raw_text = text or ""
        if reason == "length":
            finish = FinishReason.LENGTH
        elif isinstance(choice.get("stop_reason"), str):
            finish = FinishReason.STOP
        else:
            finish = FinishReason.EOS
        text = raw_text
        for special in self.specials:  # as the transformers backend decodes `text`: no special tokens
            text = text.replace(special, "")
        cut, found = cut_at_stop(text, settings.stop_strings)
        if found:
            finish = FinishReason.STOP
        return Generation(id=prompt.id, prompt=prompt.text, text=cut, raw_text=raw_text,
                          prompt_tokens=int(usage.get("prompt_tokens") or 0),
                          new_tokens=int(usage.get("completion_tokens") or 0), finish_reason=finish,
                          seconds=seconds), ttft

    def _ask(self, prompt, settings, variant, stop_ids, deadline: float) -> tuple[dict, float | None]:
        """The server's answer (and time to first token when streamed); asked again without
        vLLM's extra parameters when the server refuses them."""
        while True:
            extras = self.extras
            route, body = self._body(prompt, settings, variant, stop_ids)
            try:
                return self.request_timed(route, body, self.ep.request_timeout, deadline, stream=self.stream)
            except ExtrasRejected as exc:
                if not extras:
                    raise
                with self._lock:
                    self.extras = False
                    self.extras_refused = str(exc)

    def special_tokens_shown(self, items) -> tuple[bool | None, str]:
        """Whether the pass's text carries special tokens, and why this verdict: the outputs
        that ended on a stop token show it when the server honoured skip_special_tokens=false."""
        ended = [g for g in items if g.finish_reason is FinishReason.EOS]
        shown = sum(any(t in g.raw_text for t in self.stop_texts) for g in ended)
        where = self.ep.base_url
        if not self.extras:
            return False, (f"{where} refused skip_special_tokens / include_stop_str_in_output "
                           f"({self.extras_refused}): the text has no special tokens")
        if not ended or not self.stop_texts:
            return None, ("no output ended on a stop token, so whether the server returns special tokens "
                          "is unknown")
        if shown == len(ended):
            return True, f"all {len(ended)} outputs that ended on a stop token show it: special tokens are kept"
        if shown == 0:
            return False, (f"{where} ignored skip_special_tokens=false: none of the {len(ended)} outputs that "
                           "ended on a stop token shows it, so the text has no special tokens (a vLLM or SGLang "
                           "server returns them)")
        return True, f"{shown} of {len(ended)} outputs that ended on a stop token show it"

    def generate(self, prompts, settings, *, variant: str, stop_ids: Sequence[int],
                 progress: bool = True) -> GenerationSet:
        from sftcheck.backends.hf import progress_bar

        self.check_models([variant])
        t_start = time.monotonic()
        deadline = t_start + settings.max_time
        lock = threading.Lock()
        with progress_bar(len(prompts), f"sftcheck generate ({variant}, {self.ep.base_url})", progress) as bar:
            def one(p):
                g = self._one(p, settings, variant, stop_ids, deadline)
                if bar is not None:
                    with lock:
                        bar.update(1)
                return g

            with ThreadPoolExecutor(max_workers=self.ep.concurrency) as pool:
                futures = [pool.submit(one, p) for p in prompts]
                try:
                    done = [f.result() for f in futures]
                except ServerError:
                    for f in futures:
                        f.cancel()
                    raise
        wall = time.monotonic() - t_start
        ttfts = [t for _, t in done if t is not None]
        items = tuple(g for g, _ in done)
        shown, note = self.special_tokens_shown(items)
        return GenerationSet(model=variant, items=items, wall_seconds=wall, batch_size=self.ep.concurrency,
                             settings={"backend": self.name, "base_url": self.ep.base_url,
                                       "served_model": self.model_name(variant), "api": self.ep.api,
                                       "concurrency": self.ep.concurrency, "stop_ids": list(stop_ids),
                                       "raw_text_special_tokens": shown, "special_tokens_note": note,
                                       **({"unseen_special_tokens": list(self.specials)} if shown is False else {}),
                                       "streamed": self.stream, **({"ttft_seconds": ttfts} if self.stream else {})})
