"""``cnn.recollect``: one point = one image recollected under one set of options, scored against it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cnn.registry import model_options
from ..io import save_png
from ..retrace.options import RECOLLECTION_OPTIONS, RETRACE_OPTIONS, retrace_options
from ..scores import pearson
from .schema import Engine, Param, StudyError, register_engine

DRAWN = "drawn-digits"  # the project's own drawn digits 0–9: offline, no data files
UNIT_OPTIONS = ("model", "random_init", *RETRACE_OPTIONS)  # points that share these share one Recollector and trace


@register_engine
class CnnRecollect(Engine):
    name = "cnn.recollect"
    data = {
        "images": Param(str, "../shared/data/images", help=f"a folder of images, or {DRAWN!r}"),
        "limit": Param(int, 0, help="use the first N images (0: all)"),
        "weights": Param(str, None, help="weights file for the model (default: its embedded or cached weights)"),
        "device": Param(str, "cpu", ("cpu", "cuda")),
        "gallery": Param(bool, True, help="save a thumbnail per point (rescale_std views) for the report"),
    }
    params = {  # the recollection options come from their one declaration (retrace/options.py)
        "image": Param(str, "", help="one image of [data] images (a grid axis of its own)"),
        **model_options("alexnet"),
        **RECOLLECTION_OPTIONS,
        "repeat": Param(int, 0),
    }
    metrics = ("pearson", "ssim", "psnr", "edge_pearson", "r_to_class", "predicted")
    metric_ranges = {"pearson": (-1.0, 1.0), "ssim": (-1.0, 1.0), "edge_pearson": (-1.0, 1.0), "r_to_class": (-1.0, 1.0)}
    unit_size = 400
    split_groups = False  # sources of a unit share one batched backward pass: keep units whatever the workers

    def check_data(self, data: dict, where: str) -> dict:
        data = super().check_data(data, where)
        if data["images"] != DRAWN and not Path(data["images"]).is_dir():
            raise StudyError(f"{where}: [data] images: {data['images']} is not a folder of images "
                             f"(or write {DRAWN!r} for the embedded drawn digits)")
        if not image_names(data):
            raise StudyError(f"{where}: [data] images: no image files in {data['images']}")
        return data

    def axes(self, data: dict) -> dict[str, list]:
        return {"image": image_names(data)}

    def unit_key(self, params: dict) -> tuple:
        return tuple(repr(params[k]) for k in UNIT_OPTIONS)

    def check_point(self, data: dict, params: dict) -> str | None:
        """A source its model cannot start from (layer:N / random:N beyond its layers, a class index out
        of range, top-P % on a non-layer source): the run's own check, on a one-image blank trace."""
        return self._source_problem(params["model"], params["source"], params["top"], params["per_channel"])

    @staticmethod
    @lru_cache(maxsize=4096)
    def _source_problem(model: str, source: str, top: float, per_channel: bool) -> str | None:
        from ..errors import RecollectionError
        from ..retrace.record import record
        from ..retrace.sources import Source, build_source

        try:
            info = _model(model, True, None)  # the architecture alone (random weights): no weights file needed
            blank = torch.zeros(1, info.channels, info.size, info.size)
            build_source(Source.parse(source, top=top, per_channel=per_channel), record(info.model.eval(), blank),
                         info.classes, torch.Generator().manual_seed(0))
        except RecollectionError as e:
            return f"{e} (model {model})"
        return None

    def prepare(self, data: dict, points: list[dict], progress=None) -> None:
        """Load each model once here, so missing weights stop the study with one clear error."""
        from ..errors import WeightsError

        for model, random_init in sorted({(p["model"], p["random_init"]) for p in points}):
            try:
                model_and_pixels(data, model, random_init)
            except WeightsError as e:
                raise WeightsError(f"{e} In a study: --set data.weights='\"PATH\"', or --set params.random_init=true "
                                   "for the random-weights control.") from None

    def finalize(self, data: dict, points: list[dict], artifacts: Path) -> None:
        """Thumbnails of the originals (as the model sees them) for the report's gallery."""
        if not data["gallery"]:
            return
        for model, random_init, image in sorted({(p["model"], p["random_init"], p["image"]) for p in points}):
            path = artifacts / f"original-{image}.png"
            if not path.exists():
                _, pixels, names = model_and_pixels(data, model, random_init)
                save_thumbnail(pixels[names.index(image)], path)

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..pipeline import shown_image
        from ..retrace.engine import Recollector
        from ..retrace.sources import Source

        first = points[0]
        info, pixels, names = model_and_pixels(data, first["model"], first["random_init"])
        trace = trace_of(data, first["model"], first["random_init"])
        rec = Recollector(info.model, classes=info.classes, device=data["device"], **retrace_options(first))
        keys = list(dict.fromkeys([("class", 100.0, False)] + [(p["source"], p["top"], p["per_channel"]) for p in points]))
        wanted, failed = [], {}
        for key in keys:  # a bad source fails its own points only
            try:
                wanted.append((key, Source.parse(key[0], top=key[1], per_channel=key[2])))
            except Exception as e:
                failed[key] = e
        done = rec.recall_many(trace, [source for _, source in wanted])
        recalls = {key: (r.image.float().cpu(), r.predicted.cpu()) for (key, _), r in zip(wanted, done)}

        def recall(source: str, top: float, per_channel: bool):
            if (source, top, per_channel) in failed:
                raise failed[(source, top, per_channel)]
            return recalls[(source, top, per_channel)]

        class_raw, _ = recall("class", 100.0, False)
        scored: dict[tuple, list[tuple[np.ndarray, dict]]] = {}
        r_to_class: dict[tuple, float] = {}
        out = []
        for p in points:
            i = names.index(p["image"])
            raw, predicted = recall(p["source"], p["top"], p["per_channel"])
            shown = shown_image(raw[i : i + 1], p["view"], info)[0]
            key = (p["source"], p["top"], p["per_channel"], i)
            scores = dict(score_once(scored.setdefault(key, []), pixels[i], shown))
            if key not in r_to_class:
                r_to_class[key] = pearson(raw[i], class_raw[i])
            scores["r_to_class"] = r_to_class[key]
            scores["predicted"] = info.classes[int(predicted[i])]
            if artifacts is not None and data["gallery"] and p["view"] == "rescale_std":
                save_thumbnail(shown, artifacts / f"{p['_hash']}.png")
            out.append(scores)
        return out


def score_once(done: list[tuple[np.ndarray, dict]], original: torch.Tensor, shown: torch.Tensor) -> dict:
    """Scores of a view; views that are affine maps of one already scored (minmax and std of the
    same reconstruction) standardise to the same grey map and reuse its scores."""
    from ..scores import score_reconstruction, standardise, to_grey

    z = standardise(to_grey(shown)).astype(np.float32)
    for other, scores in done:
        if np.allclose(z, other, atol=1e-4):
            return scores
    scores = score_reconstruction(original, shown)
    done.append((z, scores))
    return scores


def image_names(data: dict) -> list[str]:
    if data["images"] == DRAWN:
        names = [f"digit-{d}" for d in range(10)]
    else:
        from ..data.images import image_files

        names = [p.name for p in image_files([data["images"]])]
    return names[: data["limit"]] if data["limit"] else names


@lru_cache(maxsize=4)
def _model(name: str, random_init: bool, weights: str | None):
    from ..cnn.models import load_model

    return load_model(name, weights, random_init=random_init, download_ok=False)


@lru_cache(maxsize=4)
def _pixels(name: str, random_init: bool, weights: str | None, images: str, limit: int):
    info = _model(name, random_init, weights)
    data = {"images": images, "limit": limit}
    names = image_names(data)
    if images == DRAWN:
        from ..data.drawn import drawn_digits
        from PIL import Image

        arrays, _ = drawn_digits()
        pictures = [Image.fromarray(a) for a in arrays[: len(names)]]
    else:
        from ..data.images import load_image

        pictures = [load_image(Path(images) / n, shorter_side=info.size) for n in names]
    pixels = torch.stack([info.to_pixels(p) for p in pictures])
    return info, pixels, names


def model_and_pixels(data: dict, model: str, random_init: bool):
    return _pixels(model, random_init, data["weights"] if model != "digits" or data["weights"] else None,
                   data["images"], data["limit"])


_traces: dict[tuple, Any] = {}


def trace_of(data: dict, model: str, random_init: bool):
    """The recorded forward pass of every image, computed once per worker and model."""
    key = (model, random_init, data["weights"], data["images"], data["limit"], data["device"])
    if key not in _traces:
        from ..retrace.record import record

        info, pixels, _ = model_and_pixels(data, model, random_init)
        _traces.clear()  # one model's traces at a time: bounded memory
        _traces[key] = record(info.model.to(data["device"]).eval(), info.normalise(pixels).to(data["device"]))
    return _traces[key]


def save_thumbnail(image: torch.Tensor, path: Path, side: int = 96) -> None:
    save_png(image, path, side)
