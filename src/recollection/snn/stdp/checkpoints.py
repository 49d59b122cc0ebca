"""STDP checkpoints: where a training run stands, and its weights, written atomically and resumable.

A checkpoint folder holds ``latest.json`` (a :class:`TrainingState`) and weight sub-folders in the
research layout (``save_weights``), named by state and weight digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import RecollectionError
from ...io import write_json
from ..network import load_weights, save_weights

STATE_FILE = "latest.json"
FORMAT = 1


def weights_digest(weights: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for w in weights:
        h.update(w.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def images_digest(times: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(times).tobytes()).hexdigest()


@dataclass
class TrainingState:
    """Where a training run stands: the layer being learned (the conv count: done), presentations done in it, the
    rates of every layer. Nothing else is random: the initial weights come from ``random_weights(seed)``
    and a shuffled order from ``default_rng([seed, layer, pass])``."""

    layer: int
    done: int
    a_plus: list[float]
    a_minus: list[float]
    seed: int
    images: str  # digest of the spike-time maps
    config: dict
    weights: str = ""  # checkpoint sub-folder
    weights_sha256: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["format"] = FORMAT
        d["rng"] = {"init": f"random_weights({self.seed})", "order": (
            f"numpy.random.default_rng([{self.seed}, layer, pass]).permutation(images)"
            if self.config.get("shuffle") else "cyclic, in the given order")}
        return d


def _checkpoint_name(state: TrainingState, digest: str) -> str:
    final = state.layer >= len(state.config["presentations"])
    return ("final" if final else f"layer{state.layer + 1}-{state.done:06d}") + f"-{digest[:12]}"


def _finished_layer(name: str, presentations: Sequence[int]) -> bool:
    parts = name.split("-")
    try:
        return len(parts) == 3 and int(parts[1]) == presentations[int(parts[0][5:]) - 1]
    except (ValueError, IndexError):
        return False


def write_checkpoint(directory: str | os.PathLike, state: TrainingState, weights: list[torch.Tensor]) -> Path:
    """Atomically: the weights (``save_weights``) into a fresh sub-folder named by state and weight
    digest, renamed into place, then ``latest.json`` replaced. Keeps the newest checkpoint, the end
    of every finished layer and the final weights; removes older intermediate ones."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digest = weights_digest(weights)
    name = _checkpoint_name(state, digest)
    target = directory / name
    if not target.exists():  # same name ⇒ same state and same weights: nothing to rewrite
        tmp = directory / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        save_weights(weights, tmp)
        os.replace(tmp, target)
    state.weights, state.weights_sha256 = name, digest
    write_json(directory / STATE_FILE, state.to_json(), indent=1)
    presentations = state.config["presentations"]
    for old in directory.iterdir():
        keep = old.name == name or _finished_layer(old.name, presentations)
        if old.is_dir() and old.name.startswith("layer") and not keep:
            shutil.rmtree(old, ignore_errors=True)
    return target


def read_state(directory: str | os.PathLike) -> dict | None:
    path = Path(directory) / STATE_FILE
    if not path.exists():
        return None
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise RecollectionError(f"{path} is unreadable ({exc}); delete it to start afresh") from None


def load_checkpoint(directory: str | os.PathLike) -> tuple[TrainingState, list[torch.Tensor]] | None:
    """The state and weights ``latest.json`` names, checked against their digest; None if there is none."""
    directory = Path(directory)
    data = read_state(directory)
    if data is None:
        return None
    if data.get("format") != FORMAT:
        raise RecollectionError(f"{directory / STATE_FILE} has format {data.get('format')}; expected {FORMAT}")
    weights = load_weights(directory / data["weights"])
    if weights_digest(weights) != data["weights_sha256"]:
        raise RecollectionError(f"{directory / data['weights']} does not match the digest in {STATE_FILE}")
    fields = {k: data[k] for k in ("layer", "done", "a_plus", "a_minus", "seed", "images", "config", "weights",
                                   "weights_sha256")}
    return TrainingState(**fields), weights
