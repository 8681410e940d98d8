"""Throughput: examples/s, generated tokens/s and time to first token, base and tuned.

By default the timings are those of the generation passes the behaviour checks already
made (no extra pass); with ``[scoring] perf_rounds > 0`` the session adds that many timed
rounds (pytest-benchmark, warm-up excluded).  This module turns the timings into one
result with the benchmark / base / tuned / change table the report and the JSON carry.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Status, Table


@dataclass(frozen=True)
class Throughput:
    """Timed rounds of one model variant over the same prompts (warm-up rounds excluded)."""
    model: str
    examples: int                 # examples per round
    new_tokens: Sequence[int]     # generated tokens per round
    seconds: Sequence[float]      # wall seconds per round
    batch_size: int = 0
    device: str = ""
    settings: dict = field(default_factory=dict)
    ttft_seconds: Sequence[float] = ()  # time to the first new token, per batch / request
    source: str = ""                     # where the timings come from (which pass, how many rounds)

    @property
    def median_ttft(self) -> float:
        return float(statistics.median(self.ttft_seconds)) if self.ttft_seconds else float("nan")

    @property
    def median_seconds(self) -> float:
        return float(statistics.median(self.seconds)) if self.seconds else float("nan")

    @property
    def examples_per_s(self) -> float:
        s = self.median_seconds
        return self.examples / s if s and s > 0 else float("nan")

    @property
    def tokens_per_s(self) -> float:
        s = self.median_seconds
        return statistics.median(self.new_tokens) / s if s and s > 0 and self.new_tokens else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if b and b > 0 else float("nan")  # NaN > 0 is False


def throughput_table(base: Throughput, tuned: Throughput, benchmark: str = "eval") -> Table:
    rows = []
    metrics = [("examples/s", "examples_per_s", "{:.1f}"), ("tokens/s", "tokens_per_s", "{:.1f}"),
               ("median round seconds", "median_seconds", "{:.3f}")]
    if base.ttft_seconds or tuned.ttft_seconds:
        metrics.append(("time to first token, s (median)", "median_ttft", "{:.3f}"))
    for name, attr, fmt in metrics:
        b, t = getattr(base, attr), getattr(tuned, attr)
        rows.append((benchmark, name, fmt.format(b), fmt.format(t), f"×{_ratio(t, b):.2f}"))
    return Table("throughput: base vs tuned", ("benchmark", "metric", "base", "tuned", "change"), tuple(rows))


@check("perf.throughput", stage="perf", title="Generation throughput (examples/s, tokens/s)")
def throughput(base: Throughput, tuned: Throughput, benchmark: str = "eval", *,
               min_examples_per_s: float = 0.0, min_tokens_per_s: float = 0.0) -> CheckResult:
    """Examples/s and generated tokens/s of base and tuned at the configured batch size >=
    the configured minimums: timings of the session's own generation passes (time to first
    token where the backend gives it), or the median of ``[scoring] perf_rounds`` extra
    timed rounds (warm-up excluded) when asked."""
    thr = f"examples/s >= {min_examples_per_s:g}, tokens/s >= {min_tokens_per_s:g}"
    table = throughput_table(base, tuned, benchmark)
    metrics = {
        m.model: {"examples_per_s": m.examples_per_s, "tokens_per_s": m.tokens_per_s,
                  "median_seconds": m.median_seconds, "rounds": len(m.seconds), "examples": m.examples,
                  "batch_size": m.batch_size, "device": m.device, "median_ttft_s": m.median_ttft,
                  "source": m.source, **{k: v for k, v in m.settings.items() if k in ("backend", "tuned_weights")}}
        for m in (base, tuned)}
    metrics["change"] = {"examples_per_s_ratio": _ratio(tuned.examples_per_s, base.examples_per_s),
                         "tokens_per_s_ratio": _ratio(tuned.tokens_per_s, base.tokens_per_s)}
    value = tuned.examples_per_s
    if not base.seconds or not tuned.seconds:
        return CheckResult(Status.ERROR, None, thr,
                           "No timed rounds were recorded (every round was a warm-up, or the engine "
                           "failed).", fix="Set at least one timed round ([scoring] perf_rounds >= 1).",
                           metrics=metrics, evidence=(table,))
    slow = []
    for m in (base, tuned):
        if not m.examples_per_s >= min_examples_per_s:
            slow.append(f"{m.model} runs {m.examples_per_s:.2f} examples/s (< {min_examples_per_s:g})")
        if not m.tokens_per_s >= min_tokens_per_s:
            slow.append(f"{m.model} generates {m.tokens_per_s:.1f} tokens/s (< {min_tokens_per_s:g})")
    where = f" on {tuned.device}" if tuned.device else ""
    ttft = f", first token after {tuned.median_ttft:.3f} s" if tuned.ttft_seconds else ""
    weights = tuned.settings.get("tuned_weights")
    weights = f" ({weights})" if weights else ""
    backend = tuned.settings.get("backend")
    via = f" via the {backend} backend" if backend else ""
    source = tuned.source or f"median of {len(tuned.seconds)} timed rounds, warm-up excluded"
    headline = (f"base {base.examples_per_s:.1f} ex/s, {base.tokens_per_s:.0f} tok/s; tuned{weights} "
                f"{tuned.examples_per_s:.1f} ex/s, {tuned.tokens_per_s:.0f} tok/s{ttft}{where}{via} at batch "
                f"size {tuned.batch_size} ({source})")
    if not slow:
        return CheckResult(Status.PASS, value, thr, headline[0].upper() + headline[1:] + ".",
                           metrics=metrics, evidence=(table,))
    return CheckResult(
        Status.FAIL, value, thr,
        "Too slow: " + "; ".join(slow) + f" ({headline}). Likely causes: running on the CPU or in "
        "float32 where a GPU / bf16 was intended, batch size 1, rows that never stop and run to "
        f"max_new_tokens (see {see('behaviour.stop_rate')}), or the unmerged LoRA's extra matmuls.",
        fix="Set [model] device / dtype, raise [generation] batch_size, fix stopping, or merge the "
            'adapter for serving; or lower [gates."perf.throughput"] min_examples_per_s for this machine.',
        metrics=metrics, evidence=(table,))
