"""Session fixtures for the gate, scoring and perf areas.

Built on the model session's fixtures (``sftcheck.session_model``): ``sft_eval_rows``,
``sft_generations``, ``sft_scored``, ``sft_model``, ``sft_prompts``.

``sft_eval_ids``          the eval file's example ids, in file order (duplicates kept: the
                          gates fail loudly on them)
``sft_human_labels``      ``{id: label}`` from ``[scoring] human_labels``, or None
``sft_judge_verdicts``    ``{id: Reward}`` of the configured scorer on the labelled outputs, or None
``sft_throughput``        ``(base, tuned)`` ``Throughput``: the session's own passes, or extra timed rounds

Human labels file (JSONL): one object per line, ``{"id": ..., "label": ...}`` with the label
as 1/0, true/false or correct/incorrect; an optional ``"output"`` is the text the human
judged (the judge then scores that text), else the tuned model's generation for ``id``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sftcheck.checks.perf import Throughput
from sftcheck.config import Config
from sftcheck.verdict import setup_failure


def _fail(msg: str):
    setup_failure(f"sftcheck: {msg}")


def _row_id(row: Any) -> str:
    return str(row["id"] if isinstance(row, dict) else row.id)


@pytest.fixture(scope="session")
def sft_eval_ids(sft_bundles) -> list[str]:
    """A view of the session's GateInputs (``sftcheck.inputs_gates``)."""
    from sftcheck.session_inputs import got

    return got(sft_bundles.for_area("gates"), "eval_ids")


@pytest.fixture(scope="session")
def sft_base_accuracy(sft_bundles) -> float | None:
    """Accuracy of the base (adapter disabled); None when there are no base results."""
    from sftcheck.session_inputs import got

    return got(sft_bundles.for_area("gates"), "base_accuracy")


def read_human_labels(path: str | Path) -> dict[str, dict]:
    """``{id: record}`` from a JSONL file of human judgements; ValueError names line and fix."""
    out: dict[str, dict] = {}
    p = Path(path)
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{p} line {n}: not JSON ({exc}). Fix: one JSON object per line.") from exc
            if not isinstance(rec, dict) or "id" not in rec or ("label" not in rec and not (
                    isinstance(rec.get("labels"), dict) and rec["labels"])):
                raise ValueError(f"{p} line {n}: needs \"id\" and \"label\" keys (or \"labels\": a table "
                                 f"of labels per reward component), got {line.strip()[:80]!r}. "
                                 'Fix: write {"id": "<eval id>", "label": 1}.')
            key = str(rec["id"])
            if key in out:
                raise ValueError(f"{p} line {n}: id {key!r} labelled twice. Fix: keep one label per id.")
            out[key] = rec
    return out


@pytest.fixture(scope="session")
def sft_human_labels(sft_config: Config) -> dict[str, dict] | None:
    path = sft_config.scoring.human_labels
    if not path:
        return None
    try:
        return read_human_labels(path)
    except (OSError, ValueError) as exc:
        _fail(f"[scoring] human_labels: {exc}")


def judge_requests(labels: dict[str, dict], examples: dict[str, Any], outputs: dict[str, str],
                   prefix: str = "") -> list:
    """One ``ScoreRequest`` per labelled output (its own ``output`` or the model's for that
    id), keyed ``prefix + id``."""
    from sftcheck.scorers import ScoreRequest, example_record

    requests = []
    for key, rec in labels.items():
        text = rec.get("output", outputs.get(key))
        if text is None:
            continue
        example = examples.get(key) or {k: v for k, v in rec.items() if k not in ("label", "labels", "output")}
        requests.append(ScoreRequest(prefix + key, "", str(text), example_record(example),
                                     row=None if isinstance(example, dict) else example))
    return requests


def verdicts_from_run(run, examples: dict[str, Any]) -> dict[str, Any]:
    """``{id: Reward}`` of a judge run; raises ``UnknownLabelId`` / ``ScorerError``."""
    from sftcheck.scorers import ScorerError

    unknown = sorted(k for k in run.errors if k not in examples)
    if unknown:
        key = unknown[0]
        raise UnknownLabelId(
            f"[scoring] human_labels: id {key!r} is not an eval id, and the judge could not score its line "
            f"alone ({run.errors[key].strip().splitlines()[0][:300]}); the label, not the scorer, is the "
            f"problem ({len(unknown)} such id(s)). Fix: label ids from [data] eval (known ids start "
            f"{sorted(examples)[:3]}), or give the line the fields your scorer reads (e.g. \"answer\").")
    if run.errors:
        raise ScorerError(f"{run.summary()}")
    return dict(run.rewards)


def judge_verdicts(scorer, labels: dict[str, dict], examples: dict[str, Any],
                   outputs: dict[str, str]) -> dict[str, Any]:
    """Run the judge on every labelled output (its own ``output`` or the model's for that id).
    ``scorer`` is a scorer backend (``sftcheck.scorers``) or a plain function; its reward
    (total and components, ``sftcheck.scorers.Reward``) is the verdict.  Raises
    ``ScorerError`` naming the outputs it could not score."""
    from sftcheck.scorers.inprocess import InProcessScorer

    backend = scorer if hasattr(scorer, "score") else InProcessScorer(scorer, getattr(scorer, "__name__", "judge"))
    return verdicts_from_run(backend.score(judge_requests(labels, examples, outputs)), examples)


class UnknownLabelId(ValueError):
    """A human label names an id that is not in the eval file (and cannot be judged alone)."""


@pytest.fixture(scope="session")
def sft_judge_verdicts(request: pytest.FixtureRequest, sft_config: Config,
                       sft_human_labels) -> dict[str, Any] | None:
    from sftcheck import scorers
    from sftcheck.hooks import HookError

    if sft_human_labels is None:
        return None
    try:
        hooks = request.getfixturevalue("sft_hooks") if sft_config.scoring.scorer else None
        backend = scorers.build(sft_config, hooks)
    except HookError as exc:
        _fail(str(exc))
    if backend is None:
        return None
    rows = request.getfixturevalue("sft_eval_rows")
    examples = {_row_id(r): r for r in rows}
    # already scored with the model's outputs, in the rewards' server session
    behaviour = request.getfixturevalue("sft_behaviour_inputs")
    shared = behaviour.__dict__.get("judge_run") if "rewards" in behaviour.__dict__ else None
    outputs: dict[str, str] = {}
    if shared is None and any("output" not in rec for rec in sft_human_labels.values()):
        outputs = {g.id: g.text for g in request.getfixturevalue("sft_generations")["tuned"].items}
    try:
        if shared is not None:
            return verdicts_from_run(shared, examples)
        return judge_verdicts(backend, sft_human_labels, examples, outputs)
    except UnknownLabelId as exc:
        _fail(f"{sft_config.source}: {exc}")
    except scorers.ScorerError as exc:
        _fail(f"{sft_config.source}: the judge ({backend.name}) could not score the human-labelled "
              f"outputs: {exc}. Fix: the scorer returns a number or a table of components for every "
              "output (see scoring.reward_components for the same scorer on the model's outputs).")


# --------------------------------------------------------------------------- throughput


@dataclass
class PerfRunner:
    """Extra timed rounds (``[scoring] perf_rounds > 0``): base then tuned on the same prompts
    without the cache, recording each round's wall time, generated tokens and time to first
    token (pytest-benchmark calls it; the first ``warmup`` calls are dropped)."""
    passes: Any
    prompts: list
    settings: Any
    warmup: int
    rounds: int
    device: str = ""
    calls: int = 0
    timings: dict[str, list[tuple[float, int, list]]] = field(default_factory=lambda: {"base": [], "tuned": []})
    meta: dict[str, dict] = field(default_factory=dict)

    def __call__(self) -> None:
        self.calls += 1
        for variant in ("base", "tuned"):
            t0 = time.perf_counter()
            out = self.passes.run(self.prompts, self.settings, variant, progress=False, use_cache=False)
            seconds = time.perf_counter() - t0
            self.meta[variant] = out.settings
            if self.calls > self.warmup:
                self.timings[variant].append((seconds, sum(g.new_tokens for g in out.items),
                                              list(out.settings.get("ttft_seconds") or [])))

    def ensure_timed(self) -> None:
        """Run until at least one timed round exists (``--benchmark-disable`` runs the
        benchmarked function once, which may have been a warm-up)."""
        while not self.timings["tuned"]:
            self()

    def throughput(self, variant: str, source: str = "") -> Throughput:
        t = self.timings[variant]
        return Throughput(model=variant, examples=len(self.prompts), new_tokens=[k for _, k, _ in t],
                          seconds=[s for s, _, _ in t], batch_size=self.settings.batch_size, device=self.device,
                          settings=_perf_settings(self.meta.get(variant, {}), self.settings),
                          ttft_seconds=[x for _, _, f in t for x in f], source=source)


def _perf_settings(pass_settings: dict, settings) -> dict:
    keep = {k: pass_settings[k] for k in ("backend", "tuned_weights") if k in pass_settings}
    return {**keep, "max_new_tokens": settings.max_new_tokens, "do_sample": settings.do_sample}


def pass_throughput(gs, settings, device: str) -> Throughput:
    """The timings of a generation pass the session already made (no extra pass)."""
    return Throughput(model=gs.model, examples=len(gs.items), new_tokens=[sum(g.new_tokens for g in gs.items)],
                      seconds=[gs.wall_seconds], batch_size=gs.batch_size, device=device,
                      settings=_perf_settings(gs.settings, settings),
                      ttft_seconds=list(gs.settings.get("ttft_seconds") or []),
                      source="the session's own generation pass, no extra pass; the base pass runs first "
                             "and includes warm-up")


def _device(cfg: Config, passes) -> str:
    if passes.backend != "transformers":
        return ""
    from sftcheck.loading import resolve_placement

    p = resolve_placement(cfg)
    return f"{p.device} {p.dtype}"


@pytest.fixture
def sft_throughput(request: pytest.FixtureRequest, sft_config: Config, sft_passes, sft_prompts,
                   sft_generations, sft_generation_settings) -> tuple[Throughput, Throughput]:
    """(base, tuned) throughput: the timings of the passes already made, or ``[scoring]
    perf_rounds`` extra timed rounds when asked (one fresh round when the passes came from
    the disk cache: their timings belong to another run)."""
    s = sft_config.scoring
    if s.perf_rounds < 0 or s.perf_warmup_rounds < 0:
        _fail(f"{sft_config.source}: [scoring] perf_rounds / perf_warmup_rounds must be >= 0 "
              f"(got {s.perf_rounds} / {s.perf_warmup_rounds}). Fix: 0 reads the session's own passes.")
    device = _device(sft_config, sft_passes)
    cached = [v for v, g in sft_generations.items() if "from_disk_cache" in g.settings]
    if s.perf_rounds == 0 and not cached:
        return (pass_throughput(sft_generations["base"], sft_generation_settings, device),
                pass_throughput(sft_generations["tuned"], sft_generation_settings, device))
    prompts = list(sft_prompts[: s.perf_examples] if s.perf_examples > 0 else sft_prompts)
    if s.perf_rounds == 0:
        run = PerfRunner(sft_passes, prompts, sft_generation_settings, warmup=0, rounds=1, device=device)
        run()
        source = "one fresh timed round: the session's passes came from the disk cache"
    else:
        run = PerfRunner(sft_passes, prompts, sft_generation_settings, warmup=s.perf_warmup_rounds,
                         rounds=s.perf_rounds, device=device)
        benchmark = request.getfixturevalue("benchmark")
        benchmark.pedantic(run, rounds=run.rounds, warmup_rounds=run.warmup, iterations=1)
        run.ensure_timed()
        source = f"median of {len(run.timings['tuned'])} extra timed rounds, warm-up excluded"
    try:
        return run.throughput("base", source), run.throughput("tuned", source)
    except ValueError as exc:  # pragma: no cover - defensive
        _fail(str(exc))
