"""Attend to a few pictures end to end (shared by ``recollect attend`` and the dashboard): choose the cues,
mix, recall, score, and describe the run as JSON with its full configuration."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..cnn.models import LoadedModel
from ..errors import OptionError
from .engine import Attender, Attention
from .options import ATTEND_PARAMS, attender_options


def attend_params(**given: Any) -> dict:
    """Every attention parameter: the given values checked against ATTEND_PARAMS, defaults for the rest."""
    unknown = sorted(set(given) - set(ATTEND_PARAMS))
    if unknown:
        raise OptionError(f"unknown attention option {unknown[0]!r}; expected one of {', '.join(ATTEND_PARAMS)}")
    return {k: spec.check(given.get(k, spec.default), k) for k, spec in ATTEND_PARAMS.items()}


def choose_cues(info: LoadedModel, pixels: Tensor, classes: Sequence[str | int] | None = None,
                device: str = "cpu") -> list[int]:
    """One class per component: the ones named (indices or names), else each component's own prediction
    when the network sees it alone. Two components with the same class are refused."""
    from ..cnn.classes import resolve_class

    if classes:
        if len(classes) != pixels.shape[0]:
            raise OptionError(f"{len(classes)} class(es) named for {pixels.shape[0]} images; name one per image")
        cues = [resolve_class(c, info.classes) for c in classes]
    else:
        with torch.inference_mode():
            cues = info.model.to(device).eval()(info.normalise(pixels).to(device)).argmax(dim=1).tolist()
    if len(set(cues)) < len(cues):
        seen = ", ".join(info.classes[c] for c in cues)
        raise OptionError(f"the images are cued with classes {seen}: two share a class, so their recalls cannot be "
                          "told apart; name a different class for each image (--classes)")
    return cues


def attend_pixels(info: LoadedModel, pixels: Tensor, cues: Sequence[int], params: dict, *, seed: int = 0,
                  device: str = "cpu") -> Attention:
    """Mix the K×C×H×W ``pixels``, recall each cue from the one forward pass, score (one mix)."""
    attender = Attender(info.model, transform=info.normalise, classes=info.classes, device=device, seed=seed,
                        **attender_options(params))
    return attender(pixels[None], torch.tensor([list(cues)]), mix=params["mix"])


def describe(info: LoadedModel, result: Attention, names: Sequence[str], params: dict, seed: int, device: str) -> dict:
    """The run as JSON: full configuration, the cues, the correlation matrix and the scores."""
    cues = result.cues[0].tolist()
    recalled = None if result.recalled is None else result.recalled[0].tolist()
    return {
        "config": {"model": info.name, "weights": info.weights, **params, "seed": seed, "device": device,
                   "images": list(names)},
        "cues": [{"image": n, "class": c, "name": info.classes[c],
                  "recalled_from": None if recalled is None else info.classes[recalled[k]]}
                 for k, (n, c) in enumerate(zip(names, cues))],
        "predicted_mix": info.classes[int(result.predicted[0])],
        "r": result.r[0].tolist(),  # r[a][b]: recall of cue a vs component b
        "scores": result.scores(0),
    }


def side_by_side(images: list[torch.Tensor], side: int = 64) -> np.ndarray:
    """C×H×W images, each min–max scaled and enlarged to ``side``, in a row with white gaps (H × W × C)."""
    from ..io import to_uint8
    from PIL import Image

    tiles = []
    for image in images:
        image = image.detach().float().cpu()
        lo, hi = float(image.min()), float(image.max())
        scaled = (image - lo) / (hi - lo) if hi > lo else torch.zeros_like(image)
        picture = Image.fromarray(to_uint8(scaled)).resize((side, side), Image.Resampling.NEAREST)
        tiles.append(np.asarray(picture.convert("RGB")))
        tiles.append(np.full((side, 4, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)
