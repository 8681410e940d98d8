"""An HTTP scorer (``[scoring] server = "http://127.0.0.1:8000/score"``).

Protocol: sftcheck POSTs ``{"records": [{"id", "prompt", "output", "example"}, ...]}``
(``batch_size`` records per request, ``concurrency`` requests in flight) as JSON and
expects ``200`` with ``{"scores": [...]}`` (or a bare list): one entry per record, in
order or carrying its ``id``, each a number or a table (``reward`` / ``score`` /
``total``, ``components`` or other numeric keys, ``message``).  Connection failures,
timeouts and 5xx answers are retried ``retries`` times (exponential back-off); a 4xx or
a malformed body is not.  Only the configured URL is contacted (no redirects followed).
A secret is never stored in the config: ``api_key_env`` names an environment variable
whose value is sent as ``Authorization: Bearer ...``.
"""
from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sftcheck.scorers.records import (
    RewardFormatError,
    ScoreRequest,
    ScorerError,
    ScoringRun,
    parse_reward,
)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _Fatal(Exception):
    """Not worth retrying (4xx, malformed reply)."""


class HttpScorer:
    def __init__(self, url: str, *, timeout: float = 30.0, concurrency: int = 4, retries: int = 2,
                 batch_size: int = 16, api_key_env: str | None = None):
        self.url = url
        self.timeout, self.concurrency, self.retries = timeout, max(1, concurrency), max(0, retries)
        self.batch_size = max(1, batch_size)
        self.api_key_env = api_key_env
        self._dead = False
        self._opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))

    @property
    def name(self) -> str:
        return f"HTTP scorer {self.url}"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ScorerError(f"{self.name}: [scoring] api_key_env = {self.api_key_env!r} but that "
                                  "environment variable is not set. Fix: export it before running.")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, batch: Sequence[ScoreRequest]) -> Any:
        body = json.dumps({"records": [r.to_json() for r in batch]}).encode()
        req = urllib.request.Request(self.url, data=body, headers=self._headers(), method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            if 500 <= exc.code < 600:
                raise ConnectionError(f"HTTP {exc.code} {exc.reason}: {detail}") from exc
            raise _Fatal(f"HTTP {exc.code} {exc.reason}: {detail}") from exc
        except TimeoutError as exc:
            raise ConnectionError(f"no answer within {self.timeout:g} s (timeout)") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (TimeoutError, socket.timeout)):
                raise ConnectionError(f"no answer within {self.timeout:g} s (timeout)") from exc
            raise ConnectionError(f"cannot connect: {reason}") from exc
        except (ConnectionError, OSError) as exc:  # reset / closed mid-reply
            raise ConnectionError(f"connection lost: {type(exc).__name__}: {exc}") from exc
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _Fatal(f"the reply is not JSON ({exc}); it starts {raw[:120]!r}") from exc

    def _batch(self, batch: Sequence[ScoreRequest]) -> tuple[dict, dict, str | None]:
        """(rewards, errors, fatal) of one batch, retrying transient failures."""
        last = ""
        tries = 1 if self._dead else self.retries + 1  # the server already failed for good: no waiting
        for attempt in range(tries):
            try:
                return (*_match(self._post(batch), batch), None)
            except ConnectionError as exc:
                last = str(exc)
                if attempt < tries - 1:
                    time.sleep(min(2.0, 0.2 * 2 ** attempt))
                else:
                    self._dead = True
            except _Fatal as exc:
                last = str(exc)
                break
        why = f"{last} (after {attempt + 1} attempt{'s' if attempt else ''})"
        return {}, {r.id: why for r in batch}, why

    def score(self, requests: Sequence[ScoreRequest]) -> ScoringRun:
        run = ScoringRun(self.name, requested=len(requests))
        self._headers()  # a missing secret is a usage error before any request
        t0 = time.perf_counter()
        batches = [requests[i:i + self.batch_size] for i in range(0, len(requests), self.batch_size)]
        with ThreadPoolExecutor(self.concurrency) as pool:
            for rewards, errors, fatal in pool.map(self._batch, batches):
                run.rewards.update(rewards)
                run.errors.update(errors)
                if fatal and not run.fatal:
                    run.fatal = fatal
        run.seconds = time.perf_counter() - t0
        return run


def _match(reply: Any, batch: Sequence[ScoreRequest]) -> tuple[dict, dict]:
    """Pair a reply's entries with the batch's records (by ``id`` when given, else by order)."""
    entries = reply.get("scores", reply.get("results")) if isinstance(reply, dict) else reply
    if not isinstance(entries, list):
        raise _Fatal(f"the reply is {type(reply).__name__}, expected {{\"scores\": [...]}} or a list "
                     f"(one entry per record); got {json.dumps(reply)[:160]}")
    ids = [r.id for r in batch]
    rewards, errors = {}, {}
    by_id = all(isinstance(e, dict) and "id" in e for e in entries)
    if not by_id and len(entries) != len(batch):
        raise _Fatal(f"the reply has {len(entries)} scores for {len(batch)} records and no ids")
    pairs = ((str(e["id"]), e) for e in entries) if by_id else zip(ids, entries)
    for key, entry in pairs:
        if key not in ids:
            continue
        try:
            rewards[key] = parse_reward(entry)
        except RewardFormatError as exc:
            errors[key] = f"unusable score: {exc}"
    for key in ids:
        if key not in rewards and key not in errors:
            errors[key] = "the reply has no score for this id"
    return rewards, errors
