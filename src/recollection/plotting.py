"""The figures of the Python API: a recollection (original | recollection | cascade), a comparison of
two recollections, and the name neurons' drive over time.

matplotlib's object API only: no ``matplotlib.use``, no pyplot, so nothing here changes a user's
backend. Every figure is a :class:`PlotFigure`, a ``matplotlib.figure.Figure`` that also shows itself
in Jupyter when pyplot was never imported (a plain Figure prints as ``<Figure size …>`` there); save
one with ``fig.savefig(path)`` or :func:`recollection.io.save_figure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from .pictures import difference_picture, map_picture, tensor_picture

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PlotFigure", "comparison_figure", "drive_figure", "picture_grid", "recollection_figure", "show_picture"]


class PlotFigure(Figure):
    """A matplotlib Figure that renders itself as PNG in Jupyter (``_repr_png_``), pyplot or not."""

    def _repr_png_(self) -> bytes:
        from .io import figure_png

        return figure_png(self, dpi=100)


def picture_grid(rows: int, cols: int, cell: float = 1.45, extra_height: float = 0.8) -> tuple[PlotFigure, np.ndarray]:
    """A figure of ``rows`` × ``cols`` picture cells and its axes (always a 2-D array)."""
    fig = PlotFigure(figsize=(0.6 + cell * cols, extra_height + cell * rows))
    return fig, np.asarray(fig.subplots(rows, cols, squeeze=False))


def show_picture(ax: "Axes", picture: np.ndarray, title: str | None = None, cmap: str = "gray",
                 vmin: float | None = 0.0, vmax: float | None = 1.0, fontsize: float = 8) -> None:
    """Draw an H×W or H×W×3 picture on ``ax`` without ticks, with an optional title."""
    ax.imshow(picture, cmap=cmap if picture.ndim == 2 else None, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def recollection_figure(originals: Tensor, shown: Tensor, cascade: Sequence[tuple[str, Tensor]],
                        row_labels: Sequence[str], captions: Sequence[str], title: str,
                        max_images: int = 8) -> PlotFigure:
    """original | recollection | the backward maps from the source down, one row per image.

    ``originals`` and ``shown`` are N×C×H×W in [0, 1]; ``cascade`` holds (name, N×… map) pairs from the
    source to the last map before the input (channel means, min–max scaled each).
    """
    rows = min(len(originals), max_images)
    fig, axes = picture_grid(rows, 2 + len(cascade))
    for i in range(rows):
        show_picture(axes[i, 0], tensor_picture(originals[i]), "original" if i == 0 else None)
        show_picture(axes[i, 1], tensor_picture(shown[i]), ("recollection\n" if i == 0 else "") + captions[i])
        axes[i, 0].set_ylabel(row_labels[i], fontsize=7)
        for k, (name, value) in enumerate(cascade):
            show_picture(axes[i, 2 + k], map_picture(value[i]), name if i == 0 else None, fontsize=7)
    if len(originals) > rows:
        title += f" (first {rows} of {len(originals)} images)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def comparison_figure(originals: Tensor, a: Tensor, b: Tensor, labels: tuple[str, str],
                      captions: Sequence[tuple[str, str, str]], row_labels: Sequence[str], title: str,
                      max_images: int = 8) -> PlotFigure:
    """original | a | b | a − b (channel mean, red = more in a), one row per image."""
    rows = min(len(originals), max_images)
    fig, axes = picture_grid(rows, 4, cell=1.8)
    for i in range(rows):
        show_picture(axes[i, 0], tensor_picture(originals[i]), "original" if i == 0 else None)
        show_picture(axes[i, 1], tensor_picture(a[i]), f"{labels[0]}\n{captions[i][0]}")
        show_picture(axes[i, 2], tensor_picture(b[i]), f"{labels[1]}\n{captions[i][1]}")
        diff, limit = difference_picture(a[i], b[i])
        show_picture(axes[i, 3], diff, f"a − b (max {limit:.2g})\n{captions[i][2]}", cmap="RdBu_r", vmin=-limit,
                     vmax=limit)
        axes[i, 0].set_ylabel(row_labels[i], fontsize=7)
    if len(originals) > rows:
        title += f" (first {rows} of {len(originals)} images)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def drive_figure(over_time: np.ndarray, classes: Sequence[str], names: Sequence[str], predicted: Sequence[str],
                 title: str, max_images: int = 6) -> PlotFigure:
    """Each name neuron's cumulative score over the time steps (top) and its lead over the mean of all
    names (bottom: where the decision shows), one column per image. ``over_time``: (N, T, classes)."""
    panels = min(len(over_time), max_images)
    fig = PlotFigure(figsize=(0.8 + 3.0 * panels, 5.2))
    axes = np.asarray(fig.subplots(2, panels, squeeze=False, sharex=True))
    steps = np.arange(over_time.shape[1])
    for i in range(panels):
        lead = over_time[i] - over_time[i].mean(axis=1, keepdims=True)
        for k, name in enumerate(classes):
            axes[0, i].plot(steps, over_time[i, :, k], marker="o", markersize=3, label=name)
            axes[1, i].plot(steps, lead[:, k], marker="o", markersize=3, label=name)
        axes[0, i].set_title(f"{names[i]}\nnamed {predicted[i]!r}", fontsize=8)
        axes[1, i].axhline(0.0, color="grey", linewidth=0.8)
        axes[1, i].set_xlabel("time step")
        for ax in axes[:, i]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("score (cumulative)")
    axes[1, 0].set_ylabel("score − mean of the names")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    if len(over_time) > panels:
        title += f" (first {panels} of {len(over_time)} images)"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
