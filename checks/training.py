"""Training-log checks (stage ``training``): a ``trainer_state.json`` read as data.

transformers' Trainer writes ``log_history``: one dict per logging step with ``loss``,
``grad_norm``, ``learning_rate`` (and ``eval_loss`` entries, and a final ``train_loss``
summary).  Nothing is re-run; the check reads the numbers the run recorded.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sftcheck.checks.support import plots
from sftcheck.checks.support.lora_layout import Unreadable
from sftcheck.checks.support.plot_render import drawing, render
from sftcheck.checks.support.registry import check
from sftcheck.checks.support.result import CheckResult, Image, Status, Table

TRAINABLE_KEYS = ("trainable_parameters", "num_trainable_parameters", "sftcheck_trainable_parameters")


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        return float(v)  # "NaN" / "Infinity" strings as some loggers write them
    except ValueError:
        return None


def _series(history: list, key: str) -> list[tuple[int, float]]:
    out = []
    for i, entry in enumerate(history):
        if isinstance(entry, Mapping) and key in entry:
            v = _num(entry[key])
            if v is not None:
                out.append((int(entry.get("step", i)), v))
    return out


def _curve(loss: list[tuple[int, float]], grad: list[tuple[int, float]]) -> Image:
    return Image("loss and grad norm per logged step",
                 render(_curve_png, [(int(s), float(v)) for s, v in loss], [(int(s), float(v)) for s, v in grad]))


@drawing
def _curve_png(loss: list[tuple[int, float]], grad: list[tuple[int, float]]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2, 3.0))
    ax = fig.add_subplot(1, 1, 1)
    pts = [(s, v) for s, v in loss if math.isfinite(v)]
    ax.plot([s for s, _ in pts], [v for _, v in pts], color="#2f6fde", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if grad:
        ax2 = ax.twinx()
        g = [(s, v) for s, v in grad if math.isfinite(v)]
        ax2.plot([s for s, _ in g], [v for _, v in g], color="#9aa5b1", lw=1, label="grad norm")
        ax2.set_ylabel("grad norm")
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="upper right")
    else:
        ax.legend(fontsize=8, loc="upper right")
    ax.set_title("training log")
    return plots.to_png(fig)


@dataclass(frozen=True)
class _Log:
    """The numbers one ``trainer_state.json`` recorded, and the check's thresholds."""
    loss: list[tuple[int, float]]
    grad: list[tuple[int, float]]
    evals: list[tuple[int, float]]
    summary: list[tuple[int, float]]
    trainable: float | None
    min_final_loss: float
    max_final_loss: float
    min_relative_drop: float
    gates: str  # where the user re-thresholds this check: [gates."<id>"]

    @property
    def first(self) -> float:
        return self.loss[0][1]

    @property
    def final(self) -> float:
        return self.loss[-1][1]


class _Finding(NamedTuple):
    """What one rule found. Each rule below returns one or None; ``log_sane`` reports the
    first finding in ``_RULES`` order, else a PASS."""
    status: Status
    value: Any
    explanation: str
    fix: str


def _non_finite(log: _Log) -> _Finding | None:
    series = {"loss": log.loss, "grad_norm": log.grad, "eval_loss": log.evals, "train_loss": log.summary}
    bad = [(name, s, v) for name, points in series.items() for s, v in points if not math.isfinite(v)]
    if not bad:
        return None
    name, step, v = bad[0]
    return _Finding(
        Status.FAIL, f"{len(bad)} non-finite values",
        f"{name} is {v} at step {step} ({len(bad)} non-finite values in the log). Most likely "
        "fp16 overflow (fp16 training of a bf16 model family), a too-high learning rate, "
        "untrained special-token embeddings, or batches whose labels are all -100.",
        "Train in bf16 or fp32, lower the learning rate, clip gradients (max_grad_norm=1.0), "
        "and run the pretrain stage to find rows with no trainable tokens.")


def _nothing_trainable(log: _Log) -> _Finding | None:
    if log.trainable is None or not log.trainable <= 0:
        return None
    return _Finding(
        Status.FAIL, log.trainable, "The run recorded 0 trainable parameters: nothing was "
        "trained (LoRA not attached, or every parameter frozen).",
        "Call get_peft_model before training and check print_trainable_parameters().")


def _no_gradient(log: _Log) -> _Finding | None:
    if not log.grad or any(v != 0 for _, v in log.grad):
        return None
    return _Finding(
        Status.FAIL, 0.0,
        f"grad_norm is 0.0 at all {len(log.grad)} logged steps: no gradient reached the trainable "
        "parameters. Most likely gradient checkpointing without input grads "
        "(enable_input_require_grads), every label -100, or frozen adapter parameters.",
        "Call model.enable_input_require_grads() (or gradient_checkpointing_kwargs="
        "{'use_reentrant': False}), verify trainable tokens per row > 0, and retrain.")


def _loss_exactly_zero(log: _Log) -> _Finding | None:
    zeros = [st for st, v in log.loss if v == 0.0]
    if not zeros:
        return None
    return _Finding(
        Status.FAIL, 0.0,
        f"The training loss is exactly 0.0 at {len(zeros)} logged steps (first: step {zeros[0]}). "
        "A cross-entropy is never exactly 0 on real targets: those batches had no trainable "
        "tokens (every label -100: response template not found, prompt fills max_length, left "
        "padding) or the targets leaked into the inputs (packing without position resets).",
        "Run the pretrain stage (trainable tokens per row, label masks, truncation, packing) "
        "on the training data and fix the formatter / collator, then retrain.")


def _final_loss_too_low(log: _Log) -> _Finding | None:
    if not log.final < log.min_final_loss:
        return None
    return _Finding(
        Status.WARN, log.final,
        f"The final training loss is {log.final:.4g} < {log.min_final_loss}: suspiciously low for SFT on "
        "natural text. Possible causes: trivial labels (few trainable tokens per row), targets "
        "leaked by left padding or packing, or memorised / duplicated data. A small, fully "
        "deterministic task can legitimately get there.",
        "Run the pretrain stage (trainable tokens per row, label masks, train/eval duplicates); if "
        f"a loss this low is genuine, lower {log.gates} min_final_loss.")


def _final_loss_too_high(log: _Log) -> _Finding | None:
    if not log.final > log.max_final_loss:
        return None
    return _Finding(
        Status.FAIL, log.final,
        f"The final training loss is {log.final:.4g} > {log.max_final_loss}: the model did not learn "
        "(learning rate too low/high, wrong labels, gradient-accumulation normalisation bug).",
        "Check the learning rate and the label masks; compare with a tiny overfit run.")


def _loss_flat(log: _Log) -> _Finding | None:
    if len(log.loss) < 4 or not log.final > log.first * (1 - log.min_relative_drop):
        return None
    return _Finding(
        Status.WARN, log.final,
        f"The loss did not go down: first {log.first:.4g}, final {log.final:.4g} (a drop under "
        f"{log.min_relative_drop:.0%}). Learning rate too low, too few steps, or labels that carry no "
        "signal.", "Check lr / steps, and that labels are not all -100.")


_RULES = (_non_finite, _nothing_trainable, _no_gradient, _loss_exactly_zero, _final_loss_too_low,
          _final_loss_too_high, _loss_flat)


def _read(trainer_state: Mapping[str, Any]) -> dict[str, Any]:
    """The series (``(step, value)`` pairs) and trainable-parameter count the run recorded."""
    history = trainer_state.get("log_history") or []
    trainable = next((_num(trainer_state[k]) for k in TRAINABLE_KEYS if k in trainer_state), None)
    if trainable is not None and not math.isfinite(trainable):
        trainable = None  # "NaN" / "inf" is no count: treated as not recorded (was a crash)
    return {"loss": _series(history, "loss"), "grad": _series(history, "grad_norm"),
            "evals": _series(history, "eval_loss"), "summary": _series(history, "train_loss"),
            "trainable": trainable}


def _evidence(log: _Log) -> tuple:
    tail = Table("last logged steps", ("step", "loss", "grad_norm"),
                 tuple((s, v, dict(log.grad).get(s)) for s, v in log.loss[-8:]))
    try:
        return (_curve(log.loss, log.grad), tail)
    except Exception:  # noqa: BLE001 - a plot must never hide the verdict
        return (tail,)


def _metrics(log: _Log, trainer_state: Mapping[str, Any]) -> dict[str, Any]:
    return {"logged_steps": len(log.loss), "first_loss": log.first, "final_loss": log.final,
            "min_loss": min(v for _, v in log.loss), "final_grad_norm": log.grad[-1][1] if log.grad else None,
            "max_grad_norm": max((v for _, v in log.grad), default=None),
            "trainable_parameters": log.trainable, "global_step": trainer_state.get("global_step")}


def _healthy(log: _Log) -> _Finding:
    return _Finding(
        Status.PASS, log.final,
        f"{len(log.loss)} logged losses, all finite, {log.first:.4g} -> {log.final:.4g}"
        + (f"; grad norm {log.grad[-1][1]:.3g} at the end" if log.grad else "")
        + (f"; {int(log.trainable)} trainable parameters" if log.trainable is not None else "") + ".", "")


@check("training.log_sane", stage="training", title="Training log is sane")
def log_sane(trainer_state: Mapping[str, Any] | Unreadable | None, *, min_final_loss: float = 0.1,
             max_final_loss: float = 8.0, min_relative_drop: float = 0.02) -> CheckResult:
    """Finite losses and grad norms, no loss of exactly 0, grad norm not all 0, trainable
    parameters > 0 when recorded, final loss <= max_final_loss; warns when the final loss is
    below ``min_final_loss`` (suspicious) or the loss did not go down."""
    if trainer_state is None:
        return CheckResult(Status.SKIP, None, None,
                           "No training log: no [model] training_log and no trainer_state.json in "
                           "the adapter folder.")
    if isinstance(trainer_state, Unreadable):
        return CheckResult(Status.FAIL, "unreadable", "a JSON trainer_state", trainer_state.reason,
                           "Point [model] training_log at the run's trainer_state.json (JSON object "
                           "with log_history).")
    threshold = (f"all finite, none exactly 0; final loss <= {max_final_loss} (warn below "
                 f"{min_final_loss}); grad norm not all 0; trainable params > 0")
    log = _Log(**_read(trainer_state), min_final_loss=min_final_loss, max_final_loss=max_final_loss,
               min_relative_drop=min_relative_drop, gates='[gates."training.log_sane"]')
    if not log.loss:
        return CheckResult(Status.WARN, "no losses", threshold,
                           "The training log has no 'loss' entries (logging_steps larger than the "
                           "run, or a log from another tool).",
                           "Set logging_steps so that a run logs at least a few losses.")
    found = next(filter(None, (rule(log) for rule in _RULES)), None) or _healthy(log)
    return CheckResult(found.status, found.value, threshold, found.explanation, found.fix,
                       metrics=_metrics(log, trainer_state), evidence=_evidence(log))
