"""Show the network several things at once: superimposed (pixelwise max or mean) or tiled side by side.

Every mix starts from the *placed* components: each component as it sits in the mixed picture (the
whole frame for a superimposed mix; shrunk into its own cell, on a black background, for a tiled one).
Recalls are scored against the placed components, so a tiled recall must land in the right place to
correlate with its own component.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import OptionError
from .options import MIXES


@dataclass
class Mixed:
    """A batch of mixes and where each component went."""

    pixels: Tensor  # N×C×H×W in [0, 1]: what the network sees
    placed: Tensor  # N×K×C×H×W: each component as it sits in the mix (black elsewhere)
    masks: Tensor | None  # N×K×H×W bool: each component's cell (tiled mixes only)
    how: str


def tile_cells(k: int, height: int, width: int) -> list[tuple[int, int, int]]:
    """(top, left, side) of ``k`` square cells in a row, centred vertically: side = min(H, W // k)."""
    side = min(height, width // k)
    if side < 1:
        raise OptionError(f"cannot tile {k} components into {width}×{height} pixels")
    top = (height - side) // 2
    margin = (width - k * side) // 2
    return [(top, margin + i * side, side) for i in range(k)]


def place_tiled(components: Tensor) -> tuple[Tensor, Tensor]:
    """Components N×K×C×H×W shrunk into their cells: the placed components and the cells' masks."""
    n, k, c, h, w = components.shape
    placed = components.new_zeros(components.shape)
    masks = torch.zeros(n, k, h, w, dtype=torch.bool, device=components.device)
    for i, (top, left, side) in enumerate(tile_cells(k, h, w)):
        small = F.interpolate(components[:, i], size=(side, side), mode="bilinear", antialias=True,
                              align_corners=False).clamp(0.0, 1.0)
        placed[:, i, :, top:top + side, left:left + side] = small
        masks[:, i, top:top + side, left:left + side] = True
    return placed, masks


def mix_components(components: Tensor, how: str = "max") -> Mixed:
    """Mix N groups of K components (N×K×C×H×W pixels in [0, 1]) into N pictures the network sees."""
    if how not in MIXES:
        raise OptionError(f"unknown mix {how!r}; choose from {', '.join(MIXES)}")
    if components.dim() != 5 or components.shape[1] < 2:
        raise OptionError(f"a mix needs at least 2 components per picture (N×K×C×H×W), got shape "
                          f"{tuple(components.shape)}")
    if how == "tile":
        placed, masks = place_tiled(components)
        return Mixed(placed.amax(dim=1), placed, masks, how)  # cells do not overlap: max = the layout
    pixels = components.amax(dim=1) if how == "max" else components.mean(dim=1)
    return Mixed(pixels, components, None, how)
