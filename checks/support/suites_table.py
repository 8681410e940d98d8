"""The suites' summary table and plot (``suite.summary`` evidence, also shown per check):
one row per suite x metric with base, tuned, change, interval, significance and flags."""
from __future__ import annotations

import math
from collections.abc import Sequence

from sftcheck.checks.support.plot_render import drawing, render
from sftcheck.checks.support.result import Image, Table
from sftcheck.checks.support.suites import MetricRow


def _ci(c) -> str:
    return f"[{c[0]:.3f}, {c[1]:.3f}]" if c else ""


def _num(v: float, kind: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"×{v:.2f}" if kind == "ratio" else (f"{v:+.3f}" if kind == "difference" else f"{v:.3f}")


def table(rows: Sequence[MetricRow], title: str = "suites: base vs tuned") -> Table:
    out = []
    for r in rows:
        sig = "" if r.pvalue is None else f"p = {r.pvalue:.3g} ({r.test})"
        out.append((r.suite, r.metric, f"{_num(r.base)} {_ci(r.base_ci)}".strip(),
                    f"{_num(r.tuned)} {_ci(r.tuned_ci)}".strip(),
                    f"{_num(r.change, r.change_kind)} {_ci(r.change_ci)}".strip(), sig, "; ".join(r.flags)))
    return Table(title, ("suite", "metric", "base", "tuned", "change (95 % interval)", "significance", "flags"),
                 tuple(out), row_tags=tuple(tuple(r.flags and ("flagged",) or ()) for r in rows))


def plot(rows: Sequence[MetricRow]) -> Image | None:
    shown = [(f"{r.suite}: {r.metric}", float(r.change), (float(r.change_ci[0]), float(r.change_ci[1])),
              bool(r.significant)) for r in rows if r.change_ci is not None]
    if not shown:
        return None
    return Image("suites: changes with 95 % intervals", render(_plot_png, shown))


@drawing
def _plot_png(shown: list[tuple[str, float, tuple[float, float], bool]]) -> bytes:
    """``shown``: (label, change, (lo, hi), significant) per suite x metric."""
    from matplotlib.figure import Figure
    from sftcheck.checks.support.plots import to_png

    fig = Figure(figsize=(6.4, 0.45 * len(shown) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    y = list(range(len(shown)))[::-1]
    for flag, colour in ((True, "#2f6fde"), (False, "#9aa5b1")):  # one errorbar call per colour
        rows = [(yi, change, lo, hi) for yi, (_, change, (lo, hi), significant) in zip(y, shown, strict=True)
                if bool(significant) is flag]
        if rows:
            ax.errorbar([r[1] for r in rows], [r[0] for r in rows],
                        xerr=[[r[1] - r[2] for r in rows], [r[3] - r[1] for r in rows]], fmt="o", color=colour,
                        capsize=3, linestyle="none")
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, [label for label, *_ in shown])
    ax.set_xlabel("tuned − base (paired bootstrap 95 % interval; blue: p < 0.05)")
    ax.set_title("What fine-tuning changed, per suite")
    return to_png(fig)
