"""Figures for the report: CDFs, Gardner–Altman mean-difference plots, parameter effects (PNG bytes)."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from .stats import Estimate

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def cdf(samples: dict[str, Sequence[float]], xlabel: str, title: str = "") -> bytes:
    """Empirical CDF of each sample, with its mean and median in the legend."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for (name, values), colour in zip(samples.items(), COLOURS * 4):
        v = np.sort(np.asarray(values, float))
        if v.size:
            ax.step(v, np.arange(1, v.size + 1) / v.size, where="post", color=colour,
                    label=f"{name} (n={v.size}, mean {v.mean():.3f}, median {np.median(v):.3f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction ≤ x")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return png(fig)


def estimation(e: Estimate, metric: str) -> bytes:
    """Gardner–Altman plot: both samples (pairs joined when few) on the left; on the right, on a
    floating axis whose zero sits at the mean of b, the bootstrap distribution of the difference."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 3.8), gridspec_kw={"width_ratios": [2, 1.2]})
    rng = np.random.default_rng(0)
    for x, (values, colour) in enumerate(((e.a, COLOURS[0]), (e.b, COLOURS[1]))):
        jitter = rng.uniform(-0.12, 0.12, values.size)
        left.scatter(x + jitter, values, s=6, alpha=0.45, color=colour, linewidths=0)
        left.errorbar(x + 0.28, values.mean(), yerr=values.std(ddof=1) if values.size > 1 else 0, fmt="o",
                      color="black", capsize=3, markersize=4)
    if e.paired and e.a.size <= 60:
        for ya, yb in zip(e.a, e.b):
            left.plot([0, 1], [ya, yb], color="grey", alpha=0.25, linewidth=0.6)
    left.set_xticks([0, 1], [e.a_label, e.b_label], fontsize=8)
    left.set_xlim(-0.5, 1.6)
    left.set_ylabel(metric)
    left.grid(axis="y", alpha=0.3)
    parts = right.violinplot(e.boot, positions=[0], showextrema=False, widths=0.8)
    for body in parts["bodies"]:
        body.set_facecolor("#7f7f7f")
        body.set_alpha(0.5)
    right.errorbar(0, e.difference, yerr=[[e.difference - e.low], [e.high - e.difference]], fmt="o", color="black",
                   capsize=4)
    right.axhline(0, color="black", linewidth=0.8, linestyle=":")
    span = max(abs(e.high), abs(e.low), 1e-12)
    right.set_ylim(-1.6 * span if e.low >= 0 else min(e.low * 1.3, -0.2 * span),
                   1.6 * span if e.high <= 0 else max(e.high * 1.3, 0.2 * span))
    right.yaxis.tick_right()
    right.yaxis.set_label_position("right")
    right.set_ylabel(f"{'paired ' if e.paired else ''}mean difference")
    right.set_xticks([0], ["a − b"], fontsize=8)
    right.set_title(f"{e.difference:+.4f} [{e.low:+.4f}, {e.high:+.4f}]", fontsize=8)
    fig.suptitle(e.name, fontsize=10)
    fig.tight_layout()
    return png(fig)


def effects(means: list[tuple], param: str, metric: str) -> bytes:
    """Mean of a metric (± 95 % interval) for each value of one parameter."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.6, 0.55 * len(means) + 1.8), 3.2))
    labels = [str(v) for v, *_ in means]
    ax.errorbar(range(len(means)), [m for _, m, _, _ in means], yerr=[h for _, _, h, _ in means], fmt="o",
                capsize=3, color=COLOURS[0])
    ax.set_xticks(range(len(means)), labels, rotation=35 if max(map(len, labels)) > 6 else 0, ha="right"
                  if max(map(len, labels)) > 6 else "center", fontsize=8)
    ax.set_ylabel(f"mean {metric}")
    ax.set_title(f"{metric} by {param}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)
