"""Judge vs human agreement, per reward component (Cohen's kappa from statsmodels).

A judge verdict is a number / word, or a reward with named components (``total`` and
``components``, as ``sftcheck.scorers.Reward``): its parts are ``{"reward": total,
<component>: value, ...}``.  A human judgement is one label (it judges one part: the
config's ``[scoring] label_component``, default the total ``reward``) or a table of labels
per component.  Scores and labels are binarised (numbers at ``threshold``; words such as
correct/incorrect, yes/no, pass/fail, true/false) before kappa.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TOTAL = "reward"
_WORDS = {"correct": 1, "right": 1, "yes": 1, "pass": 1, "true": 1, "good": 1, "1": 1,
          "incorrect": 0, "wrong": 0, "no": 0, "fail": 0, "false": 0, "bad": 0, "0": 0}


def binary_label(value: Any, threshold: float = 0.5) -> int | None:
    """1 / 0 for a judge score or a human label; None if it cannot be read as either."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return None if (isinstance(value, float) and math.isnan(value)) else int(value >= threshold)
    if isinstance(value, str):
        key = value.strip().casefold()
        if key in _WORDS:
            return _WORDS[key]
        try:
            return int(float(key) >= threshold)
        except ValueError:
            return None
    return None


def kappa(pairs: list[tuple[int, int]]) -> float:
    """Cohen's kappa of (judge, human) 0/1 pairs (statsmodels); NaN when undefined."""
    from statsmodels.stats.inter_rater import cohens_kappa

    table = np.zeros((2, 2))
    for j, h in pairs:
        table[h, j] += 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(cohens_kappa(table, return_results=False))


def judge_parts(verdict: Any) -> dict[str, Any]:
    """``{"reward": total, component: value, ...}`` of one judge verdict."""
    if hasattr(verdict, "total") and hasattr(verdict, "components"):
        parts = {TOTAL: verdict.total}
        parts.update({(k if k != TOTAL else "reward (component)"): v for k, v in verdict.components.items()})
        return parts
    if isinstance(verdict, Mapping):
        return {str(k): v for k, v in verdict.items()}
    return {TOTAL: verdict}


def human_parts(label: Any, component: str | None = None) -> dict[str, Any]:
    """``{component: label}`` of one human judgement (a table of labels is kept as it is)."""
    if isinstance(label, Mapping):
        return {str(k): v for k, v in label.items()}
    return {component or TOTAL: label}


@dataclass
class Agreement:
    """The judge's ``component`` against one set of human labels."""
    component: str
    n: int = 0
    kappa: float = math.nan
    agree: float = math.nan
    judge_pos: float = math.nan
    human_pos: float = math.nan
    confusion: list[list[int]] = field(default_factory=lambda: [[0, 0], [0, 0]])  # [human][judge]
    unreadable: list[str] = field(default_factory=list)
    disagreements: list[tuple[str, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "kappa": self.kappa if math.isfinite(self.kappa) else "nan",
                "raw_agreement": self.agree if math.isfinite(self.agree) else "nan",
                "confusion_human_by_judge": self.confusion, "unreadable": len(self.unreadable)}


def agreement(component: str, judge: Mapping[str, Mapping[str, Any]], human: Mapping[str, Any],
              threshold: float = 0.5) -> Agreement:
    """Kappa of ``judge[id][component]`` against ``human[id]`` (one label per id)."""
    out = Agreement(component)
    pairs: list[tuple[int, int]] = []
    for key, label in human.items():
        if key not in judge or component not in judge[key]:
            continue
        h, j = binary_label(label, threshold), binary_label(judge[key][component], threshold)
        if h is None or j is None:
            out.unreadable.append(key)
            continue
        pairs.append((j, h))
        out.confusion[h][j] += 1
        if j != h:
            out.disagreements.append((key, f"{judge[key][component]!s}", f"{label!s}"))
    out.n = len(pairs)
    if pairs:
        out.agree = sum(j == h for j, h in pairs) / len(pairs)
        out.kappa = kappa(pairs)
        out.judge_pos = sum(j for j, _ in pairs) / len(pairs)
        out.human_pos = sum(h for _, h in pairs) / len(pairs)
    return out


def cause(a: Agreement, threshold: float) -> str:
    """Why a component's kappa is low, in words."""
    if a.kappa < 0:
        return ("the judge is anti-correlated with the humans - most likely an inverted scale "
                "(reward where lower is better, or labels 0 = good) or swapped arguments")
    if abs(a.judge_pos - a.human_pos) > 0.3:
        return (f"the judge calls {a.judge_pos:.0%} of outputs good where humans call {a.human_pos:.0%}: a "
                f"lenient/strict bias or a label_threshold ({threshold}) on the wrong scale")
    return ("the judge's verdicts are close to chance relative to the humans: it is judging "
            "something else (length, format) or the rubric differs from the humans'")


def human_judgements(records: Mapping[str, Mapping[str, Any]], component: str | None = None
                     ) -> dict[str, dict[str, Any]]:
    """``{id: {component: label}}`` from human-label lines: ``"label"`` judges ``component``
    (``[scoring] label_component``; default the total ``reward``), ``"labels"`` is a table of
    labels per component."""
    out: dict[str, dict[str, Any]] = {}
    for key, rec in records.items():
        parts: dict[str, Any] = {}
        if isinstance(rec.get("labels"), Mapping):
            parts.update({str(k): v for k, v in rec["labels"].items()})
        if "label" in rec:
            parts[component or TOTAL] = rec["label"]
        out[str(key)] = parts
    return out
