"""Matplotlib PNGs of reward components: a radar of normalised means (base vs tuned) and,
per component, a histogram next to a box plot (all components in one figure:
``components_grid``).  Agg canvas only (``plots._figure``)."""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

from sftcheck.checks.support.plot_render import drawing, render
from sftcheck.checks.support.plots import _COLOURS, to_png
from sftcheck.checks.support.result import Image


def _normalised(means: Mapping[str, Mapping[str, float]], ranges: Mapping[str, tuple[float, float]]):
    """Each component's means mapped to [0, 1] over the range seen in either model."""
    out: dict[str, dict[str, float]] = {}
    for model, by_comp in means.items():
        out[model] = {}
        for comp, m in by_comp.items():
            lo, hi = ranges[comp]
            out[model][comp] = 0.5 if hi <= lo else (m - lo) / (hi - lo)
    return out


def radar(means: Mapping[str, Mapping[str, float]], ranges: Mapping[str, tuple[float, float]], *,
          title: str = "reward components (normalised means)") -> Image:
    """``means[model][component]``; each axis runs from the lowest to the highest value any
    item got on that component (0..1 components keep 0..1).  Fewer than 3 components: bars."""
    ranges = {c: (float(r[0]), float(r[1])) for c, r in ranges.items()}
    return Image(title, render(_radar_png, _normalised(means, ranges), ranges, title))


@drawing
def _radar_png(norm: dict[str, dict[str, float]], ranges: dict[str, tuple[float, float]], title: str) -> bytes:
    from matplotlib.figure import Figure

    comps = [c for c in ranges]
    fig = Figure(figsize=(4.8, 4.0))
    if len(comps) < 3:
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / max(1, len(norm))
        for i, (model, vals) in enumerate(norm.items()):
            ax.bar([j + i * width for j in range(len(comps))], [vals.get(c, 0.0) for c in comps], width=width,
                   label=model, color=_COLOURS.get(model))
        ax.set_xticks([j + width * (len(norm) - 1) / 2 for j in range(len(comps))], comps)
        ax.set_ylim(0, 1.05)
    else:
        ax = fig.add_subplot(1, 1, 1, projection="polar")
        angles = [2 * math.pi * i / len(comps) for i in range(len(comps))]
        for model, vals in norm.items():
            ys = [vals.get(c, 0.0) for c in comps]
            ax.plot(angles + angles[:1], ys + ys[:1], label=model, color=_COLOURS.get(model), lw=1.5)
            ax.fill(angles + angles[:1], ys + ys[:1], alpha=0.15, color=_COLOURS.get(model))
        ax.set_xticks(angles, [f"{c}\n[{ranges[c][0]:g}, {ranges[c][1]:g}]" for c in comps], fontsize=7)
        ax.set_ylim(0, 1.0)
        ax.set_yticks([0.25, 0.5, 0.75], ["", "", ""])
    ax.legend(fontsize=8, loc="upper right", bbox_to_anchor=(1.25, 1.1))
    ax.set_title(title, fontsize=10)
    return to_png(fig)


def _hist_box(hax, bax, name: str, values: Mapping[str, Sequence[float]]) -> None:
    """Overlaid histograms (``hax``) and box plots (``bax``) of one component, one per model."""
    finite = {m: [float(v) for v in vs if math.isfinite(float(v))] for m, vs in values.items()}
    allv = [v for vs in finite.values() for v in vs]
    if allv:
        lo, hi = min(allv), max(allv)
        distinct = sorted(set(allv))
        if len(distinct) <= 12:  # one bar per value
            step = min((b - a for a, b in itertools.pairwise(distinct)), default=1.0)
            edges = [d - step / 2 for d in distinct] + [distinct[-1] + step / 2]
            hax.set_xticks(distinct, [f"{d:g}" for d in distinct])
        else:
            edges = 20 if hi > lo else [lo - 0.5, lo + 0.5]
        for model, vs in finite.items():
            if vs:
                hax.hist(vs, bins=edges, alpha=0.6, label=f"{model} (n={len(vs)})", color=_COLOURS.get(model))
        hax.legend(fontsize=7)
        models = [m for m, vs in finite.items() if vs]
        bax.boxplot([finite[m] for m in models], tick_labels=models)
    hax.set_xlabel(name)
    hax.set_ylabel("outputs")
    bax.set_ylabel(name)


def hist_and_box(name: str, values: Mapping[str, Sequence[float]]) -> Image:
    """One component: histograms (left) and box plots (right), one per model."""
    return Image(f"{name}: histogram and box plot", render(_hist_and_box_png, name, _plain(values)))


def _plain(values: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    return {m: [float(v) for v in vs] for m, vs in values.items()}


@drawing
def _hist_and_box_png(name: str, values: dict[str, list[float]]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.2, 2.8))
    _hist_box(fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2), name, values)
    fig.subplots_adjust(wspace=0.35)
    fig.suptitle(f"{name}: histogram and box plot", fontsize=10)
    return to_png(fig)


def components_grid(values: Mapping[str, Mapping[str, Sequence[float]]]) -> Image:
    """Every component in one figure (one PNG to draw and encode): a row per component,
    histograms of base vs tuned on the left, box plots on the right.
    ``values[component][model]``."""
    title = "reward components: histogram and box plot per component"
    return Image(title, render(_components_grid_png, {c: _plain(v) for c, v in values.items()}, title))


@drawing
def _components_grid_png(values: dict[str, dict[str, list[float]]], title: str) -> bytes:
    from matplotlib.figure import Figure

    names = list(values)
    fig = Figure(figsize=(7.2, 2.2 * max(1, len(names))))
    for row, name in enumerate(names):
        _hist_box(fig.add_subplot(len(names), 2, 2 * row + 1), fig.add_subplot(len(names), 2, 2 * row + 2),
                  name, values[name])
    fig.subplots_adjust(wspace=0.35, hspace=0.55)
    fig.suptitle(title, fontsize=10)
    return to_png(fig)
