"""Pictures for the page: tensors and maps as PNG data URIs, thumbnails of backward maps."""

from __future__ import annotations

import base64

import numpy as np
import torch

from ..io import png_bytes

__all__ = ["png_bytes", "data_uri", "tensor_picture", "map_picture", "figure_uri"]


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure_uri(fig, dpi: int = 90) -> str:
    """A matplotlib figure as a PNG data URI."""
    from ..io import figure_png

    return data_uri(figure_png(fig, dpi))


def tensor_picture(image: torch.Tensor, min_side: int = 0) -> np.ndarray:
    """C×H×W in [0, 1] to H×W(×3), upscaled (nearest) to at least ``min_side`` pixels."""
    array = image.detach().float().cpu().clamp(0, 1).numpy()
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    if min_side and array.shape[0] < min_side:
        k = -(-min_side // array.shape[0])
        array = array.repeat(k, 0).repeat(k, 1)
    return array


def map_picture(value: torch.Tensor, side: int = 72) -> np.ndarray:
    """A backward map of one sample (C×H×W or a vector) as a grey thumbnail: channel mean, min–max."""
    v = value.detach().float().cpu()
    if v.dim() == 3:
        grid = v.mean(0).numpy()
    else:
        flat = v.flatten().numpy()
        width = int(np.ceil(np.sqrt(flat.size)))
        grid = np.zeros(width * width, np.float32)
        grid[: flat.size] = flat
        grid = grid.reshape(width, width)
    lo, hi = float(grid.min()), float(grid.max())
    grid = (grid - lo) / (hi - lo) if hi > lo else np.zeros_like(grid)
    k = max(1, side // max(grid.shape))
    return grid.repeat(k, 0).repeat(k, 1)
