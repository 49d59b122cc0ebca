"""Normalisations applied after each backward step, and the views of the final map.

"Local" statistics are per sample over the features of a dense map, and per sample and
channel over H×W of a conv map; "global" ones are per sample over the whole tensor.
Every image of a batch is normalised on its own, as if it had been run alone.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _axes(x: Tensor, local: bool) -> tuple[int, ...]:
    if local and x.dim() == 4:
        return (2, 3)
    return tuple(range(1, x.dim()))


def _safe_div(num: Tensor, den: Tensor) -> Tensor:
    """num / den, with 0 where den is 0: a constant map normalises to zeros, not NaN."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


def zscore(x: Tensor, local: bool = False) -> Tensor:
    axes = _axes(x, local)
    mean = x.mean(dim=axes, keepdim=True)
    std = x.std(dim=axes, keepdim=True, correction=0)
    return _safe_div(x - mean, std)


def minmax(x: Tensor, local: bool = False) -> Tensor:
    axes = _axes(x, local)
    lo = x.amin(dim=axes, keepdim=True)
    hi = x.amax(dim=axes, keepdim=True)
    return _safe_div(x - lo, hi - lo)


def rescale(z: Tensor) -> Tensor:
    """clip(0.1·z + 0.5, 0, 1): the research code's mapping of a z-score into [0, 1]."""
    return (0.1 * z + 0.5).clamp(0.0, 1.0)


NORMALIZATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "std": lambda x: zscore(x, local=True),
    "std_global": lambda x: zscore(x),
    "rescale_std": lambda x: rescale(zscore(x)),
    "rescale_std_local": lambda x: rescale(zscore(x, local=True)),
    "minmax": lambda x: minmax(x),
    "minmax_local": lambda x: minmax(x, local=True),
    "minmax_rescale": lambda x: 2.0 * minmax(x) - 1.0,
    "minmax_01_05_rescale": lambda x: rescale(minmax(x)),
}


def finite(x: Tensor) -> Tensor:
    return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def normalize(x: Tensor, method: str | None) -> Tensor:
    """Apply one of NORMALIZATIONS (or nothing for None); never returns NaN or inf."""
    if method is None:
        return finite(x)
    return finite(NORMALIZATIONS[method](finite(x)))


def winner_take_all(x: Tensor) -> Tensor:
    """At every spatial position keep only the channel with the largest value."""
    winners = x.argmax(dim=1, keepdim=True)
    return torch.zeros_like(x).scatter_(1, winners, x.gather(1, winners))


VIEWS = ("rescale_std", "minmax", "std", "inverse-transform")


def view(x: Tensor, name: str, mean: Tensor | None = None, std: Tensor | None = None) -> Tensor:
    """Turn a raw N×C×H×W reconstruction into an image-like tensor.

    ``inverse-transform`` undoes the model's input normalisation (mean/std per channel) and
    clips to [0, 1]; ``std`` returns z-scores (not bounded), the others lie in [0, 1].
    """
    x = finite(x)
    if name == "rescale_std":
        return rescale(zscore(x))
    if name == "minmax":
        return minmax(x)
    if name == "std":
        return zscore(x)
    if name == "inverse-transform":
        if mean is None or std is None:
            raise ValueError("inverse-transform needs the model's mean and std")
        shape = (1, -1, 1, 1)
        return (x * std.to(x).view(shape) + mean.to(x).view(shape)).clamp(0.0, 1.0)
    raise ValueError(f"unknown view {name!r}; choose from {', '.join(VIEWS)}")
