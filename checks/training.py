"""Training-log checks (stage ``training``): a ``trainer_state.json`` read as data.

transformers' Trainer writes ``log_history``: one dict per logging step with ``loss``,
``grad_norm``, ``learning_rate`` (and ``eval_loss`` entries, and a final ``train_loss``
summary).  Nothing is re-run; the check reads the numbers the run recorded.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sftcheck.checks.support import plots
from sftcheck.checks.support.lora_layout import Unreadable
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
    return Image("loss and grad norm per logged step", plots.to_png(fig))


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
    history = trainer_state.get("log_history") or []
    loss = _series(history, "loss")
    grad = _series(history, "grad_norm")
    evals = _series(history, "eval_loss")
    summary = _series(history, "train_loss")
    threshold = (f"all finite, none exactly 0; final loss <= {max_final_loss} (warn below "
                 f"{min_final_loss}); grad norm not all 0; trainable params > 0")
    if not loss:
        return CheckResult(Status.WARN, "no losses", threshold,
                           "The training log has no 'loss' entries (logging_steps larger than the "
                           "run, or a log from another tool).",
                           "Set logging_steps so that a run logs at least a few losses.")
    final = loss[-1][1]
    first = loss[0][1]
    trainable = next((_num(trainer_state[k]) for k in TRAINABLE_KEYS if k in trainer_state), None)
    metrics = {"logged_steps": len(loss), "first_loss": first, "final_loss": final,
               "min_loss": min(v for _, v in loss), "final_grad_norm": grad[-1][1] if grad else None,
               "max_grad_norm": max((v for _, v in grad), default=None), "trainable_parameters": trainable,
               "global_step": trainer_state.get("global_step")}
    tail = Table("last logged steps", ("step", "loss", "grad_norm"),
                 tuple((s, v, dict(grad).get(s)) for s, v in loss[-8:]))
    try:
        evidence: tuple = (_curve(loss, grad), tail)
    except Exception:  # noqa: BLE001 - a plot must never hide the verdict
        evidence = (tail,)

    def result(status: Status, value: Any, explanation: str, fix: str) -> CheckResult:
        return CheckResult(status, value, threshold, explanation, fix, metrics=metrics, evidence=evidence)

    bad = [(name, s, v) for name, series in (("loss", loss), ("grad_norm", grad), ("eval_loss", evals),
                                             ("train_loss", summary)) for s, v in series if not math.isfinite(v)]
    if bad:
        name, step, v = bad[0]
        return result(Status.FAIL, f"{len(bad)} non-finite values", (
            f"{name} is {v} at step {step} ({len(bad)} non-finite values in the log). Most likely "
            "fp16 overflow (fp16 training of a bf16 model family), a too-high learning rate, "
            "untrained special-token embeddings, or batches whose labels are all -100."),
            "Train in bf16 or fp32, lower the learning rate, clip gradients (max_grad_norm=1.0), "
            "and run the pretrain stage to find rows with no trainable tokens.")
    if trainable is not None and trainable <= 0:
        return result(Status.FAIL, trainable, "The run recorded 0 trainable parameters: nothing was "
                      "trained (LoRA not attached, or every parameter frozen).",
                      "Call get_peft_model before training and check print_trainable_parameters().")
    if grad and all(v == 0 for _, v in grad):
        return result(Status.FAIL, 0.0, (
            f"grad_norm is 0.0 at all {len(grad)} logged steps: no gradient reached the trainable "
            "parameters. Most likely gradient checkpointing without input grads "
            "(enable_input_require_grads), every label -100, or frozen adapter parameters."),
            "Call model.enable_input_require_grads() (or gradient_checkpointing_kwargs="
            "{'use_reentrant': False}), verify trainable tokens per row > 0, and retrain.")
    zeros = [st for st, v in loss if v == 0.0]
    if zeros:
        return result(Status.FAIL, 0.0, (
            f"The training loss is exactly 0.0 at {len(zeros)} logged steps (first: step {zeros[0]}). "
            "A cross-entropy is never exactly 0 on real targets: those batches had no trainable "
            "tokens (every label -100: response template not found, prompt fills max_length, left "
            "padding) or the targets leaked into the inputs (packing without position resets)."),
            "Run the pretrain stage (trainable tokens per row, label masks, truncation, packing) "
            "on the training data and fix the formatter / collator, then retrain.")
    if final < min_final_loss:
        return result(Status.WARN, final, (
            f"The final training loss is {final:.4g} < {min_final_loss}: suspiciously low for SFT on "
            "natural text. Possible causes: trivial labels (few trainable tokens per row), targets "
            "leaked by left padding or packing, or memorised / duplicated data. A small, fully "
            "deterministic task can legitimately get there."),
            "Run the pretrain stage (trainable tokens per row, label masks, train/eval duplicates); if "
            'a loss this low is genuine, lower [gates."training.log_sane"] min_final_loss.')
    if final > max_final_loss:
        return result(Status.FAIL, final, (
            f"The final training loss is {final:.4g} > {max_final_loss}: the model did not learn "
            "(learning rate too low/high, wrong labels, gradient-accumulation normalisation bug)."),
            "Check the learning rate and the label masks; compare with a tiny overfit run.")
    if len(loss) >= 4 and final > first * (1 - min_relative_drop):
        return result(Status.WARN, final, (
            f"The loss did not go down: first {first:.4g}, final {final:.4g} (a drop under "
            f"{min_relative_drop:.0%}). Learning rate too low, too few steps, or labels that carry no "
            "signal."), "Check lr / steps, and that labels are not all -100.")
    return result(Status.PASS, final, (
        f"{len(loss)} logged losses, all finite, {first:.4g} -> {final:.4g}"
        + (f"; grad norm {grad[-1][1]:.3g} at the end" if grad else "")
        + (f"; {int(trainable)} trainable parameters" if trainable is not None else "") + "."), "")
