"""Figures of a study report, as PNG bytes: CDFs, Gardner–Altman mean-difference plots, parameter
effects within a grid table and interaction plots (the neutral ones come from recollection.figures).
matplotlib's object API only: no ``matplotlib.use``, no pyplot."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .. import figures
from ..figures import COLOURS, Cell
from ..io import figure_png
from ..stats import Values
from .effects import Effect, Interaction
from .stats import Estimate

DPI = 110


def fixed_text(fixed: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in fixed.items())


def where(grid: str, fixed: dict, several: bool) -> str:
    """Which grid table (in a union) and the values its other parameters are held at."""
    parts = ([grid] if several else []) + ([fixed_text(fixed)] if fixed else [])
    return f"\n({'; '.join(parts)})" if parts else ""


def cdf(samples: Mapping[str, Values], metric: str, title: str) -> bytes:
    return figure_png(figures.cdf(samples, metric, title, ylabel="fraction of points ≤ x"), DPI)


def estimation(e: Estimate) -> bytes:
    """Gardner–Altman plot: both samples (pairs joined when few) on the left; on the right, the
    bootstrap distribution of the difference with its interval (or, below three pairs, no interval)."""
    fig, (left, right) = figures.new_figure(6.6, 3.9, ncols=2, gridspec_kw={"width_ratios": [2, 1.2]})
    rng = np.random.default_rng(0)
    for x, (values, colour) in enumerate(((e.a, COLOURS[0]), (e.b, COLOURS[1]))):
        jitter = rng.uniform(-0.12, 0.12, values.size)
        left.scatter(x + jitter, values, s=8, alpha=0.5, color=colour, linewidths=0)
        left.plot([x + 0.28], [values.mean()], "o", color="black", markersize=4)
    if e.paired and e.a.size <= 60:
        for ya, yb in zip(e.a, e.b):
            left.plot([0, 1], [ya, yb], color="grey", alpha=0.25, linewidth=0.6)
    n_text = f"n = {e.a.size} pairs" if e.paired else f"n = {e.a.size} / {e.b.size}"
    left.set_xticks([0, 1], [f"{e.a_label}\nmean {e.a.mean():.3f}", f"{e.b_label}\nmean {e.b.mean():.3f}"], fontsize=7)
    left.set_xlim(-0.5, 1.6)
    left.set_ylabel(e.metric)
    left.set_title(f"each point, {n_text}", fontsize=8)
    left.grid(axis="y", alpha=0.3)
    d = e.difference
    if d.has_interval and e.boot.size > 1 and np.ptp(e.boot) > 0:
        parts = right.violinplot(e.boot, positions=[0], showextrema=False, widths=0.8)
        for body in parts["bodies"]:
            body.set_facecolor("#7f7f7f")
            body.set_alpha(0.5)
    if d.low is not None and d.high is not None:  # it has an interval
        low, high = d.low, d.high
        right.errorbar(0, d.estimate, yerr=[[d.estimate - low], [high - d.estimate]], fmt="o", color="black",
                       capsize=4)
        right.set_title(f"{d.estimate:+.4f}\n{d.text(signed=True)}", fontsize=7)
    else:
        low = high = d.estimate
        diffs = e.a - e.b if e.paired else np.array([d.estimate])
        right.scatter(np.zeros(diffs.size), diffs, color="black", marker="x")
        right.set_title(f"{d.estimate:+.4f}\n{d.text()}", fontsize=7)
    right.axhline(0, color="black", linewidth=0.8, linestyle=":")
    span = max(abs(high), abs(low), 1e-12)
    right.set_ylim(-1.6 * span if low >= 0 else min(low * 1.3, -0.2 * span),
                   1.6 * span if high <= 0 else max(high * 1.3, 0.2 * span))
    right.yaxis.tick_right()
    right.yaxis.set_label_position("right")
    right.set_ylabel(f"{'paired ' if e.paired else ''}mean difference of {e.metric}")
    right.set_xticks([0], ["a − b"], fontsize=8)
    fig.suptitle(f"{e.name} ({e.difference.level:.0%} {d.method} bootstrap interval)", fontsize=9)
    fig.tight_layout()
    return figure_png(fig, DPI)


def effect(eff: Effect, several: bool) -> bytes:
    """Mean of the metric for each value of the parameter, within one grid table (n under each value)."""
    cells = [Cell(lv.value, lv.mean, lv.values) for lv in eff.levels]
    fig = figures.means(cells, eff.param, f"mean {eff.metric} (95 % CI)",
                        f"mean {eff.metric} for each {eff.param}{where(eff.grid, eff.fixed, several)}")
    return figure_png(fig, DPI)


def interaction(it: Interaction, several: bool) -> bytes:
    fig = figures.interaction(it.lines, it.x, f"mean {it.metric} (95 % CI)",
                              f"mean {it.metric} against {it.x}, one line per {it.line}"
                              f"{where(it.grid, it.fixed, several)}", paper=it.paper)
    return figure_png(fig, DPI)
