"""The Attend tab's handler: two images mixed, each one's class neuron recalled from the one forward pass
of the mix, side by side with the scores (attention/api.py does the work)."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from ..attention.options import ATTEND_PARAMS
from .errors import ClientError
from .render import data_uri, png_bytes


def attend_options() -> dict:
    """The form of the tab, derived from ATTEND_PARAMS (type, default, choices, help of each option)."""
    return {k: spec.describe() for k, spec in ATTEND_PARAMS.items()}


def read_config(config: Any) -> dict:
    """The attention parameters from the page's config: strings and booleans as a form sends them."""
    from ..attention.api import attend_params

    if not isinstance(config, dict):
        raise ClientError("config must be an object of attention options")
    given = {}
    for key, spec in ATTEND_PARAMS.items():
        if key not in config:
            continue
        value = config[key]
        if bool in spec.kinds and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        given[key] = value
    try:
        return attend_params(**given)
    except Exception as e:
        raise ClientError(str(e)) from None


def attend(images: list, config: dict, model: Callable, picture: Callable, device: str = "cpu") -> dict:
    """``images``: two or more picture references of the page; ``model(name, random_init)`` and
    ``picture(ref)`` are the dashboard's loaders. Returns the JSON payload of the tab."""
    from ..attention.api import attend_pixels, choose_cues, describe, side_by_side

    if not isinstance(images, list) or not 2 <= len(images) <= 4:
        raise ClientError("choose two (up to four) images to mix")
    start = time.perf_counter()
    params = read_config(config)
    info = model(str(config.get("model", "digits")), str(config.get("random_init", "")).lower() in ("1", "true", "yes", "on"))
    pixels = torch.stack([info.to_pixels(picture(ref)) for ref in images])
    classes = config.get("classes") or None
    if classes is not None and not isinstance(classes, list):
        raise ClientError("classes must be a list with one class (index or name) per image")
    cues = choose_cues(info, pixels, [str(c) for c in classes] if classes else None, device)
    seed = int(config.get("seed", 0) or 0)
    result = attend_pixels(info, pixels, cues, params, seed=seed, device=device)
    record = describe(info, result, [f"image {k + 1}" for k in range(len(images))], params, seed, device)
    side = max(info.size, 128)
    record["mix"] = data_uri(png_bytes(side_by_side([result.mixed.pixels[0]], side)))
    record["components"] = [data_uri(png_bytes(side_by_side([c], side))) for c in result.mixed.placed[0]]
    for k, entry in enumerate(record["cues"]):
        entry["recall"] = data_uri(png_bytes(side_by_side([result.recalls[0, k]], side)))
        entry["r_own"] = result.r[0, k, k]
        entry["r_other"] = [float(v) for b, v in enumerate(result.r[0, k]) if b != k]
    record["milliseconds"] = round((time.perf_counter() - start) * 1e3, 1)
    return record
