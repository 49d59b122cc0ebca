"""The Attend tab's handler: two images mixed, each one's class neuron recalled from the one forward pass
of the mix, side by side with the scores (attention/api.py does the work)."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from ..attention.options import ATTEND_PARAMS, SEED
from ..cnn.registry import model_options
from ..schema import Param
from .errors import ClientError
from .render import data_uri, png_bytes

ATTEND_FORM = {**model_options("digits"), **ATTEND_PARAMS}  # the tab's options: the schemas, nothing added
ATTEND_PARTS = {  # besides the schema: which class neuron each image cues, and the seed of the controls
    "classes": Param(str, "", help="The class cued for each image, comma-separated (empty: what the network sees "
                                   "in each image alone)."),
    "seed": SEED,
}
MAX_IMAGES = 4


def value(config: dict, key: str, param: Param) -> Any:
    """The page's value of one option, read by the option's type (its default when absent) and checked."""
    raw = config.get(key, param.default)
    kind = param.kinds[0]
    if kind is bool and isinstance(raw, str):
        raw = raw.lower() in ("1", "true", "yes", "on")
    elif kind in (int, float) and not isinstance(raw, bool):
        try:
            raw = kind(raw)
        except (TypeError, ValueError):
            raise ClientError(f"{key} must be a number, got {raw!r}") from None
    elif kind is str:
        raw = str(raw)
    return param.check(raw, key, ClientError)


def attend(images: Any, config: Any, model: Callable, picture: Callable, device: str = "cpu") -> dict:
    """``images``: two to four picture references of the page; ``model(name, random_init)`` and ``picture(ref)``
    are the dashboard's loaders. Returns the tab's JSON: the mix, each component, each cue's recall, the scores."""
    from ..attention.api import attend_pixels, choose_cues, describe, side_by_side

    if not isinstance(images, list) or not 2 <= len(images) <= MAX_IMAGES:
        raise ClientError(f"choose two (up to {MAX_IMAGES}) images to mix")
    if not isinstance(config, dict):
        raise ClientError("config must be an object of attention options")
    start = time.perf_counter()
    values = {k: value(config, k, p) for k, p in {**ATTEND_FORM, **ATTEND_PARTS}.items()}
    params = {k: values[k] for k in ATTEND_PARAMS}
    info = model(values["model"], values["random_init"])
    pixels = torch.stack([info.to_pixels(picture(ref)) for ref in images])
    named = [c.strip() for c in values["classes"].split(",") if c.strip()]
    cues = choose_cues(info, pixels, named or None, device)
    result = attend_pixels(info, pixels, cues, params, seed=values["seed"], device=device)
    record = describe(info, result, [f"image {k + 1}" for k in range(len(images))], params, values["seed"], device)
    side = max(info.size, 128)
    picture_uri = lambda image: data_uri(png_bytes(side_by_side([image], side)))  # noqa: E731
    record["mix"] = picture_uri(result.mixed.pixels[0])
    record["components"] = [picture_uri(c) for c in result.mixed.placed[0]]
    for k, entry in enumerate(record["cues"]):
        entry["recall"] = picture_uri(result.recalls[0, k])
        entry["r_own"] = float(result.r[0, k, k])
        entry["r_other"] = [float(v) for b, v in enumerate(result.r[0, k]) if b != k]
    record["milliseconds"] = round((time.perf_counter() - start) * 1e3, 1)
    return record
