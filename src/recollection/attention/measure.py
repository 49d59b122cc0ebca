"""Does each cue recall its own component? Selectivity (correlations) and localisation (pointing game).

- ``r[i, a, b]``: Pearson r between cue a's recall and component b (grey maps, as placed in the mix);
- selectivity: the mean over cues a of r(recall_a, component_a) − mean over b ≠ a of r(recall_a,
  component_b); 0 when every cue recalls the same picture, at most 2;
- pointing game (tiled mixes): is the peak of the recall's energy inside the cued component's cell;
- energy in mask: the fraction of the recall's energy inside that cell. Energy is the squared deviation
  from the recall's own mean, summed over channels, so it is blind to offset, scale and sign (a
  rescaled view, a signed attribution and a rectified recall are treated alike). A recall with no
  energy at all (a constant map) points nowhere: pointing 0 and energy fraction 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..scores import image_pearson

EMPTY = 1e-10  # energy below this fraction of the recall's squared values is rounding residue: a constant map


def correlations(recalls: Tensor, placed: Tensor) -> np.ndarray:
    """N×K×K matrix r[i, a, b] = Pearson r(recall of cue a, component b) of each mix i."""
    n, k = recalls.shape[:2]
    recalls, placed = recalls.detach().float().cpu(), placed.detach().float().cpu()
    return np.array([[[image_pearson(recalls[i, a], placed[i, b]) for b in range(k)] for a in range(k)]
                     for i in range(n)], dtype=np.float64).reshape(n, k, k)


def own_and_other(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per mix: mean r with the cued component, and mean r with the others (N each)."""
    k = r.shape[1]
    own = np.diagonal(r, axis1=1, axis2=2)
    other = (r.sum(axis=2) - own) / (k - 1)
    return own.mean(axis=1), other.mean(axis=1)


def selectivity(r: np.ndarray) -> np.ndarray:
    """Per mix: mean over cues of r(recall_a, component_a) − mean r(recall_a, other components)."""
    own, other = own_and_other(r)
    return own - other


def energy(recalls: Tensor) -> Tensor:
    """N×K×H×W: each recall's squared deviation from its own mean, summed over channels."""
    centred = recalls - recalls.mean(dim=(-3, -2, -1), keepdim=True)
    return centred.square().sum(dim=-3)


def localisation(recalls: Tensor, masks: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per mix: the fraction of cues whose energy peak lies in their own cell, and the mean fraction
    of each recall's energy inside its own cell (N each)."""
    recalls = recalls.detach().double().cpu()
    e = energy(recalls)
    masks = masks.cpu()
    n, k, h, w = e.shape
    total = e.sum(dim=(-2, -1))
    total = torch.where(total > EMPTY * recalls.square().sum(dim=(-3, -2, -1)), total, torch.zeros(()))
    flat = e.view(n, k, h * w)
    peak = flat.argmax(dim=-1)
    hit = masks.view(n, k, h * w).gather(-1, peak[..., None])[..., 0] & (total > 0)
    inside = (e * masks).sum(dim=(-2, -1))
    fraction = torch.where(total > 0, inside / total.clamp_min(torch.finfo(total.dtype).tiny), torch.zeros(()))
    return hit.double().mean(dim=1).numpy(), fraction.double().mean(dim=1).numpy()
