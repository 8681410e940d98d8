"""Matplotlib PNGs for the report, returned as ``Image`` evidence.

Figures are built with ``matplotlib.figure.Figure`` (the Agg canvas, no pyplot global
state and no GUI backend), so plotting is thread-safe and never opens a window.
"""
from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

from sftcheck.checks.support.plot_render import drawing, render
from sftcheck.checks.support.result import Image

_COLOURS = {"base": "#9aa5b1", "tuned": "#2f6fde"}


def to_png(fig, colours: int = 64) -> bytes:
    """The figure as a palette PNG: plots use a few flat colours, so ``colours`` palette
    entries keep them visually identical at about a third of the RGBA file size."""
    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    buf.seek(0)
    with PILImage.open(buf) as im:
        small = im.convert("RGB").quantize(colors=colours, method=PILImage.Quantize.MEDIANCUT)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _figure(width: float = 4.8, height: float = 3.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.add_subplot(1, 1, 1)


def accuracy_ci(acc: Mapping[str, float], ci: Mapping[str, tuple[float, float]], *,
                floor: float | None = None, ceiling: float | None = None,
                title: str = "accuracy with 95 % Wilson intervals") -> Image:
    """One bar per model with its Wilson interval; the gate lines drawn when given."""
    return Image(title, render(_accuracy_ci_png, dict(acc), {k: tuple(v) for k, v in ci.items()}, floor,
                               ceiling, title))


@drawing
def _accuracy_ci_png(acc: dict[str, float], ci: dict[str, tuple[float, float]], floor: float | None,
                     ceiling: float | None, title: str) -> bytes:
    fig, ax = _figure()
    names = list(acc)
    values = [acc[n] for n in names]
    lo = [max(0.0, acc[n] - ci[n][0]) for n in names]
    hi = [max(0.0, ci[n][1] - acc[n]) for n in names]
    for i, n in enumerate(names):
        ax.bar([n], [values[i]], yerr=[[lo[i]], [hi[i]]], capsize=6, color=_COLOURS.get(n, "#777777"),
               label=f"{n} (95 % interval)")
    if ceiling is not None:
        ax.axhline(ceiling, color="#c0392b", ls="--", lw=1, label=f"base ceiling {ceiling:g}")
    if floor is not None:
        ax.axhline(floor, color="#27ae60", ls="--", lw=1, label=f"tuned floor {floor:g}")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    return to_png(fig)


def rate_bars(rates: Mapping[str, Mapping[str, float]], *,
              title: str = "answer rate and stop rate") -> Image:
    """Grouped bars: ``rates[model][metric]`` in [0, 1] (e.g. answer rate, stop rate)."""
    return Image(title, render(_rate_bars_png, {m: dict(r) for m, r in rates.items()}, title))


@drawing
def _rate_bars_png(rates: dict[str, dict[str, float]], title: str) -> bytes:
    fig, ax = _figure()
    models = list(rates)
    metrics = sorted({m for r in rates.values() for m in r})
    width = 0.8 / max(1, len(models))
    for i, model in enumerate(models):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [rates[model].get(m, 0.0) for m in metrics], width=width, label=model,
               color=_COLOURS.get(model, None))
    ax.set_xticks([j + width * (len(models) - 1) / 2 for j in range(len(metrics))], metrics)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    return to_png(fig)


def histogram(values: Mapping[str, Sequence[float]], *, title: str, xlabel: str,
              bins: int = 20) -> Image:
    """Overlaid histograms, one per model (reward, output length …)."""
    finite = {k: [float(v) for v in vs if v is not None and math.isfinite(float(v))]
              for k, vs in values.items()}
    return Image(title, render(_histogram_png, finite, title, xlabel, bins))


@drawing
def _histogram_png(finite: dict[str, list[float]], title: str, xlabel: str, bins: int) -> bytes:
    fig, ax = _figure()
    allv = [v for vs in finite.values() for v in vs]
    if allv:
        lo, hi = min(allv), max(allv)
        edges = bins if hi > lo else [lo - 0.5, lo + 0.5]
        for name, vs in finite.items():
            if vs:
                ax.hist(vs, bins=edges, alpha=0.6, label=f"{name} (n={len(vs)})",
                        color=_COLOURS.get(name, None))
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples")
    ax.set_title(title, fontsize=10)
    return to_png(fig)
