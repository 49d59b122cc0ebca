"""Figures any front end can use: an empirical CDF, means with their intervals, an interaction plot.

matplotlib's object API only (``matplotlib.figure.Figure``): no ``matplotlib.use``, no pyplot state,
so the library never changes a user's backend. Turn a figure into PNG bytes with
:func:`recollection.io.figure_png`, or write it with :func:`recollection.io.save_figure`.
Every figure says how many values stand behind each curve or point (n).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from .stats import Interval, Values

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


@dataclass(frozen=True)
class Cell:
    """One plotted position: its values and the interval of their mean (points when n < 3)."""

    x: Any
    interval: Interval
    values: np.ndarray


def new_figure(width: float, height: float, ncols: int = 1, **subplot_kw: Any) -> tuple[Figure, Any]:
    """A figure and its axes (one Axes, or an array of them when ``ncols`` > 1), without pyplot (a Figure
    that Jupyter shows even when pyplot was never imported)."""
    from .plotting import PlotFigure

    fig = PlotFigure(figsize=(width, height))
    axes = fig.subplots(1, ncols, **subplot_kw)
    return fig, axes


def cdf(samples: Mapping[str, Values], xlabel: str, title: str,
        ylabel: str = "fraction of values ≤ x", medians: bool = False) -> Figure:
    """Empirical CDF of each sample, starting at 0 left of its smallest value; n, mean and median in
    the legend (and, with ``medians``, a dotted line at each median)."""
    fig, ax = new_figure(5.8, 3.9)
    for (name, values), colour in zip(samples.items(), COLOURS * 4):
        v = np.sort(np.asarray(values, float))
        v = v[np.isfinite(v)]
        if not v.size:
            continue
        heights = np.arange(0, v.size + 1) / v.size
        ax.step(np.r_[v[0], v], heights, where="post", color=colour,
                label=f"{name} (n = {v.size}, mean {v.mean():.3f}, median {np.median(v):.3f})")
        if medians:
            ax.axvline(np.median(v), color=colour, linestyle=":", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _draw_cell(ax: Axes, x: float, cell: Cell, colour: str, label: str | None = None) -> None:
    """A mean with its interval, or, below three values, the values themselves and their mean."""
    ci = cell.interval
    if ci.low is not None and ci.high is not None:  # it has an interval
        ax.errorbar(x, ci.estimate, yerr=[[ci.estimate - ci.low], [ci.high - ci.estimate]], fmt="o", color=colour,
                    capsize=3, markersize=4, label=label)
    elif ci.n:
        ax.scatter(np.full(cell.values.size, x), cell.values, s=14, color=colour, alpha=0.6, marker="x", linewidths=1)
        ax.plot([x], [ci.estimate], "o", color=colour, markersize=4, label=label)


def means(cells: Sequence[Cell], xlabel: str, ylabel: str, title: str) -> Figure:
    """The mean of a metric (with its interval, or, when n < 3, its points as crosses) for each category."""
    fig, ax = new_figure(max(3.8, 0.6 * len(cells) + 2.0), 3.6)
    for i, cell in enumerate(cells):
        _draw_cell(ax, i, cell, COLOURS[0])
    labels = [f"{c.x}\nn = {c.interval.n}" for c in cells]
    long = max((len(str(c.x)) for c in cells), default=0) > 6
    ax.set_xticks(range(len(cells)), labels, rotation=35 if long else 0, ha="right" if long else "center", fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def interaction(lines: Mapping[str, Sequence[Cell]], xlabel: str, ylabel: str, title: str,
                paper: Mapping[str, Sequence[tuple[Any, float]]] | None = None, log_x: bool | None = None) -> Figure:
    """A metric against one parameter (x), one line per value of another (intervals, or, when n < 3,
    the points as crosses); the published points (``paper``: line label → [(x, y)]) overlaid as open
    diamonds of the same colour."""
    fig, ax = new_figure(6.4, 4.2)
    numeric = all(isinstance(c.x, (int, float)) and not isinstance(c.x, bool) for cells in lines.values() for c in cells)
    xs_all = sorted({c.x for cells in lines.values() for c in cells}, key=lambda v: (str(type(v)), v))
    position = (lambda v: float(v)) if numeric else (lambda v: float(xs_all.index(v)))
    if log_x is None:
        positive = [float(v) for v in xs_all] if numeric else []
        log_x = bool(positive) and min(positive) > 0 and max(positive) / min(positive) >= 20
    for (name, cells), colour in zip(lines.items(), COLOURS * 4):
        order = sorted(cells, key=lambda c: position(c.x))
        counts = sorted({c.interval.n for c in order})
        n_text = f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}–{counts[-1]}"
        ax.plot([position(c.x) for c in order if c.interval.n], [c.interval.estimate for c in order if c.interval.n],
                color=colour, alpha=0.7, label=f"{name} ({n_text} per point)")
        for c in order:
            _draw_cell(ax, position(c.x), c, colour)
        for x, y in (paper or {}).get(name, []):
            ax.plot([position(x)], [y], marker="D", markerfacecolor="none", markeredgecolor=colour, markersize=7,
                    linestyle="none")
    if paper and any(paper.values()):
        ax.plot([], [], marker="D", markerfacecolor="none", markeredgecolor="black", linestyle="none",
                label="paper (open diamonds)")
    if log_x:
        ax.set_xscale("log")
    if numeric:
        ax.set_xticks([float(v) for v in xs_all], [f"{v:g}" for v in xs_all], fontsize=8)
        ax.minorticks_off()
    else:
        ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
