"""Recollect files end to end: load, perceive, recall, score, save. Shared by CLI and dashboard."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from torch import Tensor

from . import __version__
from .cnn.models import LoadedModel
from .errors import RecollectionError
from .io import save_png, write_json, write_npy
from .retrace.engine import Recollection, Recollector
from .retrace.normalize import view as make_view
from .retrace.sources import Source
from .scores import score_reconstruction, specificity

CONTROLS = ("random-class", "zero")


@dataclass
class ImageResult:
    """One image's recollection with everything written about it."""

    name: str
    pixels: Tensor  # C×H×W in [0, 1]: the (resized, cropped) original
    raw: Tensor  # C×H×W raw reconstruction, before any view
    shown: Tensor  # C×H×W view of it, in [0, 1]
    predicted: int
    predicted_name: str
    target: int | None
    scores: dict[str, float]
    specificity: dict[str, float] = field(default_factory=dict)


def check_writable(out_dir: str | os.PathLike) -> Path:
    """Create ``out_dir`` and prove it can be written, before any work is done."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".recollect-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RecollectionError(f"cannot write to output directory {out}: {e.strerror or e}") from None
    return out


def shown_image(raw: Tensor, view: str, info: LoadedModel) -> Tensor:
    """A raw N×C×H×W reconstruction as an image in [0, 1] (``std`` z-scores min–max scaled)."""
    mean, std = info.mean_std()
    shown = make_view(raw, view, mean, std)
    return make_view(shown, "minmax") if view == "std" else shown


def recollect_pixels(rec: Recollector, info: LoadedModel, pixels: Tensor, names: Sequence[str],
                     source: Source, view: str = "rescale_std", controls: Iterable[str] = CONTROLS,
                     ) -> tuple[list[ImageResult], Recollection]:
    """Recollect a batch of N×C×H×W pixel images and score each one (and its specificity)."""
    trace = rec.perceive(info.normalise(pixels))
    result = rec.recall(trace, source)
    raw = result.image.float().cpu()
    shown = shown_image(raw, view, info)
    control_images = {c: rec.recall(trace, c).image.float().cpu() for c in controls if c != str(source)}
    out = []
    for i, name in enumerate(names):
        predicted = int(result.predicted[i])
        out.append(ImageResult(
            name=name, pixels=pixels[i], raw=raw[i], shown=shown[i], predicted=predicted,
            predicted_name=info.classes[predicted] if predicted < len(info.classes) else str(predicted),
            target=None if result.targets is None else int(result.targets[i]),
            scores=score_reconstruction(pixels[i], raw[i]),
            specificity={c: specificity(raw[i], img[i]) for c, img in control_images.items()},
        ))
    return out, result


def save_result(result: ImageResult, out_dir: Path, stem: str, config: dict) -> dict:
    """Write ``<stem>.original.png``, ``.recalled.png``, ``.npy`` (raw C×H×W float32) and ``.json``."""
    save_png(result.pixels, out_dir / f"{stem}.original.png")
    save_png(result.shown, out_dir / f"{stem}.recalled.png")
    write_npy(out_dir / f"{stem}.npy", result.raw.numpy().astype(np.float32))
    record = {
        "image": result.name,
        "config": config,
        "predicted": {"index": result.predicted, "name": result.predicted_name},
        "target": result.target,
        "scores": result.scores,
        "specificity": result.specificity,
        "recollection_version": __version__,
    }
    write_json(out_dir / f"{stem}.json", record)
    return record


def unique_stems(paths: Sequence[Path]) -> list[str]:
    """One output stem per input, unique over the whole run (case-insensitively, for macOS and Windows).

    An input keeps its stem when no other input shares it; inputs that share one keep their
    extension instead (``a.png`` → ``a.png``, ``a.jpg`` → ``a.jpg``). A stem still taken (the same
    name in two folders) gets -2, -3, …, skipping any suffix that is another input's own stem, so
    ``a-2.png``'s outputs are never overwritten by a renamed ``a``.
    """
    counts: dict[str, int] = {}
    for p in paths:
        counts[p.stem.casefold()] = counts.get(p.stem.casefold(), 0) + 1
    natural = {p.stem.casefold() for p in paths}  # no renamed input may take one of these
    taken: set[str] = set()
    stems = []
    for p in paths:
        base = p.stem if counts[p.stem.casefold()] == 1 else p.name
        stem, n = base, 1
        while stem.casefold() in taken or (stem != p.stem and stem.casefold() in natural):
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.casefold())
        stems.append(stem)
    return stems
