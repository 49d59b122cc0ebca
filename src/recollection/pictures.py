"""Pictures of results as arrays ready to show: images, backward maps, differences. No matplotlib here
(the dashboard uses them too); the figures are in ``plotting.py``."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

__all__ = ["caption", "difference_picture", "map_picture", "tensor_picture"]


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


def difference_picture(a: torch.Tensor, b: torch.Tensor) -> tuple[np.ndarray, float]:
    """Channel-mean a − b (C×H×W each) and its symmetric colour limit, for a diverging colour map."""
    diff = (a.float().mean(0) - b.float().mean(0)).cpu().numpy()
    return diff, float(np.abs(diff).max()) or 1.0


def caption(scores: dict[str, float], keys: Sequence[str] = ("pearson", "ssim")) -> str:
    """``r = 0.62, SSIM = 0.21``: the scores a figure titles a recollection with."""
    names = {"pearson": "r", "ssim": "SSIM", "psnr": "PSNR", "edge_pearson": "edge r"}
    return ", ".join(f"{names.get(k, k)} = {scores[k]:.2f}" for k in keys if k in scores)
