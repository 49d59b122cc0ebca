"""Saved naming models: fit name neurons (and the SVM) once, name new images later.

``recollect naming fit TRAIN --weights W --save model.npz`` writes one ``.npz`` file (read with
``allow_pickle=False``; no pickle anywhere):

- ``meta``: JSON: the format and its version, the class names, the network weights *by reference* (the
  directory and a SHA-256 of its ``weight_*.npy`` files, checked when the model is used), the naming and
  SVM thresholds (with their calibration, if ``auto``), the name neurons' and the SVM's parameters, the
  encoder's settings and the fit's configuration (training folder, mode, groups);
- ``names.weights`` / ``names.classes``: the name neurons' learnt weights;
- ``svm.X`` / ``svm.y``: the SVM's training features (it is refit on load: libsvm is deterministic).

``recollect naming predict FOLDER --model model.npz`` names every image of a folder (flat, or one
sub-folder per class: then the accuracy is reported too) and writes a CSV: file, name, one score per
class (the name neurons' currents), and the SVM's name when the model has one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..data.folders import image_folder
from ..data.images import IMAGE_SUFFIXES
from ..errors import RecollectionError, WeightsError
from ..snn.encoding import DoGEncoder
from ..snn.features import FeatureSet, files_features
from ..snn.network import NEVER, SpikingNetwork, Thresholds, load_weights
from .neurons import NameNeurons
from .svm import SpikeSVM

if TYPE_CHECKING:
    from .diagnostics import Diagnostics
    from .protocols import Choice

FORMAT = "recollection-naming-model"
VERSION = 1


class ModelFileError(RecollectionError):
    """A saved model that cannot be read, or does not fit the weights or images it is used with."""


def weights_checksum(directory: str | os.PathLike) -> str:
    """SHA-256 over a weight set's ``weight_*.npy`` files (names and bytes), in order."""
    directory = Path(directory)
    files = sorted(directory.glob("weight_*.npy"))
    if not files:
        raise WeightsError(f"{directory} holds no weight_*.npy files")
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _thresholds(values: Sequence[float]) -> Thresholds:
    return Thresholds(float(values[0]), float(values[1]), NEVER)


def _optional_thresholds(values: Sequence[float] | None) -> Thresholds | None:
    return None if values is None else _thresholds(values)


@dataclass
class SavedNamer:
    """Name neurons (and optionally the SVM) fit on a training folder, with what it takes to name more."""

    classes: list[str]
    weights: str  # the weight set's directory
    weights_sha256: str
    thresholds: Thresholds
    names: NameNeurons
    svm: SpikeSVM | None = None
    svm_thresholds: Thresholds | None = None
    config: dict = field(default_factory=dict)
    encoder: dict = field(default_factory=lambda: DoGEncoder().config())

    # --- the file --------------------------------------------------------------------------------
    def meta(self) -> dict:
        names_params, _ = self.names.state()
        return {"format": FORMAT, "version": VERSION, "classes": list(self.classes),
                "weights": {"path": str(self.weights), "sha256": self.weights_sha256},
                "naming": {"thresholds": [self.thresholds.conv1, self.thresholds.conv2], "params": names_params},
                "svm": None if self.svm is None else {
                    "thresholds": [self.svm_thresholds.conv1, self.svm_thresholds.conv2] if self.svm_thresholds else None,
                    "params": self.svm.get_params()},
                "encoder": self.encoder, "config": self.config}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model atomically (a unique temporary file, then one rename)."""
        from ..io import atomic_write

        _, names = self.names.state()
        arrays: dict[str, Any] = {"meta": np.array(json.dumps(self.meta())), "names.weights": names["weights"],
                  "names.classes": names["classes"]}
        if self.svm is not None:
            _, svm = self.svm.state()
            arrays |= {"svm.X": svm["X"], "svm.y": svm["y"]}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SavedNamer":
        """Read a saved model, or one ModelFileError line saying what is wrong with the file."""
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays["meta"]))
        except FileNotFoundError:
            raise ModelFileError(f"{path}: no such model file") from None
        except Exception as e:  # noqa: BLE001 (a damaged or foreign file raises anything)
            raise ModelFileError(f"{path}: not a naming model saved by `recollect naming fit` ({type(e).__name__}: "
                                 f"{' '.join(str(e).split())})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelFileError(f"{path}: not a naming model saved by `recollect naming fit`")
        if meta.get("version") != VERSION:
            raise ModelFileError(f"{path}: model format version {meta.get('version')}; this version reads {VERSION}")
        try:
            names = NameNeurons.from_state(meta["naming"]["params"], {"weights": arrays["names.weights"],
                                                                      "classes": arrays["names.classes"]})
            svm = None
            if meta.get("svm") is not None:
                svm = SpikeSVM.from_state(meta["svm"]["params"], {"X": arrays["svm.X"], "y": arrays["svm.y"]})
            return cls(list(meta["classes"]), meta["weights"]["path"], meta["weights"]["sha256"],
                       _thresholds(meta["naming"]["thresholds"]), names, svm,
                       _optional_thresholds((meta.get("svm") or {}).get("thresholds")), meta.get("config", {}),
                       meta.get("encoder", DoGEncoder().config()))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ModelFileError(f"{path}: incomplete or inconsistent model ({type(e).__name__}: {e})") from None

    # --- using it --------------------------------------------------------------------------------
    def network(self, weights: str | os.PathLike | None = None) -> SpikingNetwork:
        """The network the model was fit with (its recorded directory, or ``weights`` if moved), checked
        against the recorded checksum."""
        directory = Path(weights) if weights is not None else Path(self.weights)
        if not directory.is_dir():
            raise ModelFileError(f"the model's weights {directory} are not there; pass --weights DIR (the same "
                                 "weight set, moved)")
        if weights_checksum(directory) != self.weights_sha256:
            raise ModelFileError(f"the weights in {directory} are not the ones the model was fit with (checksum "
                                 "differs)")
        return SpikingNetwork(load_weights(directory))

    def check_encoder(self) -> DoGEncoder:
        encoder = DoGEncoder()
        if encoder.config() != self.encoder:
            raise ModelFileError("the model was fit with other image-encoder settings than this version's "
                                 f"({self.encoder}); refit it")
        return encoder


@dataclass
class Predictions:
    """One row per image: its name by the name neurons (and the SVM), and each name neuron's score."""

    files: list[str]
    names: list[str]
    scores: np.ndarray  # (N, classes)
    classes: list[str]
    svm: list[str] | None = None
    truth: list[str] | None = None  # the class folder of each image, when the folder has them

    def accuracy(self) -> dict[str, float] | None:
        if self.truth is None:
            return None
        out = {"naming": float(np.mean([a == b for a, b in zip(self.names, self.truth)]))}
        if self.svm is not None:
            out["svm"] = float(np.mean([a == b for a, b in zip(self.svm, self.truth)]))
        return out

    def rows(self) -> list[list[str]]:
        header = ["file", "name"] + [c if c not in ("file", "name", "svm_name", "class") else f"score_{c}"
                                     for c in self.classes]
        header += (["svm_name"] if self.svm is not None else []) + (["class"] if self.truth is not None else [])
        rows = [header]
        for i, f in enumerate(self.files):
            row = [f, self.names[i]] + [f"{v:.6g}" for v in self.scores[i]]
            row += ([self.svm[i]] if self.svm is not None else []) + ([self.truth[i]] if self.truth is not None else [])
            rows.append(row)
        return rows

    def write_csv(self, path: str | os.PathLike) -> Path:
        import csv
        import io

        from ..io import write_text

        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(self.rows())
        return write_text(path, buffer.getvalue())


def listing(folder: str | os.PathLike) -> tuple[list[Path], list[str] | None]:
    """The images of a folder to name: its class sub-folders' (with their names), or its own files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RecollectionError(f"{folder} is not a folder of images")
    if any(p.is_dir() for p in folder.iterdir()):
        files, labels, classes = image_folder(folder)
        return list(files), [classes[k] for k in labels]
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise RecollectionError(f"{folder} holds no images (nor class sub-folders)")
    return files, None


def features(model: SavedNamer, files: Sequence[Path], thresholds: Thresholds, network: SpikingNetwork,
             cache_dir: str | os.PathLike | None, device: str = "cpu") -> FeatureSet:
    return files_features(files, [0] * len(files), ["images"], network, thresholds, model.check_encoder(),
                          cache_dir=cache_dir, device=device)


def predict_folder(model: SavedNamer, folder: str | os.PathLike, weights: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None, device: str = "cpu") -> Predictions:
    """Name every image of ``folder`` with a saved model (its features made with the model's weights
    and thresholds, cached like any others)."""
    files, truth = listing(folder)
    network = model.network(weights)
    naming = features(model, files, model.thresholds, network, cache_dir, device)
    scores = model.names.decision_function(naming.potentials)
    names = [model.classes[int(k)] for k in model.names.classes_[np.argmax(scores, axis=1)]]
    svm = None
    if model.svm is not None and model.svm_thresholds is not None:
        svm_set = features(model, files, model.svm_thresholds, network, cache_dir, device)
        svm = [model.classes[int(k)] for k in model.svm.predict(svm_set.potentials)]
    return Predictions([str(f) for f in files], names, scores, list(model.classes), svm, truth)


def fit_model(train: str | os.PathLike, weights: str, data: str | os.PathLike | None = None, mode: str = "paper",
              thresholds: "Choice" = None, svm_thresholds: "Choice" = None, svm: bool = True, init: float | None = None,
              seed: int = 66, groups: str | None = None, cache_dir: str | os.PathLike | None = None,
              device: str = "cpu") -> tuple[SavedNamer, "Diagnostics"]:
    """Name neurons (and the SVM) fit on a training folder, ready to save. Paper mode: the given,
    calibrated (``"auto"``) or preset thresholds; corrected mode: thresholds chosen from the grid (scaled
    around given or calibrated thresholds) by cross-validation on the folder (grouped with ``groups``)."""
    from .diagnostics import diagnose
    from .groups import Grouping
    from .presets import CORRECTED_FOLDS, CORRECTED_RULE, SVM_THRESHOLDS, naming_preset, resolve_weights
    from .protocols import check_mode, naming_grid, resolve
    from .selection import choose_thresholds
    from .sources import FeatureBank

    check_mode(mode)
    directory = resolve_weights(weights, data)
    bank = FeatureBank.from_folders(train, train, lambda w: directory, cache_dir, device)
    bound = Grouping.parse(groups).bind(bank.images("train")[0]) if groups is not None else None
    key = str(directory)
    rule: dict[str, Any]
    config: dict = {"train": str(train), "weights": str(weights), "mode": mode, "seed": seed,
                    "groups": bound.record(train=bank.images("train")[0]) if bound else None}
    if mode == "corrected":
        grid = naming_grid(bank, key, thresholds)
        chosen, scores = choose_thresholds({th: bank.train(key, th) for th in grid}, CORRECTED_RULE, CORRECTED_FOLDS, seed,
                                           groups=bound)
        rule = {**CORRECTED_RULE, "seed": seed}
        config["validation_scores"] = {f"{t.conv1:g}/{t.conv2:g}": v for t, v in scores.items()}
    else:
        preset = naming_preset(weights)
        chosen = resolve(bank, key, thresholds, "naming", preset.naming)
        rule = {"mode": "paper", "init": preset.init if init is None else init, "seed": seed}
    features = bank.train(key, chosen)
    names = NameNeurons(**rule).fit(features.potentials, features.labels)
    svm_model, svm_chosen, roles = None, None, {"naming": (key, chosen, {"train": features})}
    if svm:
        svm_chosen = resolve(bank, key, svm_thresholds, "svm", SVM_THRESHOLDS)
        svm_set = bank.train(key, svm_chosen)
        svm_model = SpikeSVM().fit(svm_set.potentials, svm_set.labels)
        roles["svm"] = (key, svm_chosen, {"train": svm_set})
    config["calibration"] = bank.calibrations()
    model = SavedNamer(list(features.classes), str(Path(directory).resolve()), weights_checksum(directory), chosen, names,
                        svm_model, svm_chosen, config)
    auto = [role for role, value in (("naming", thresholds), ("svm", svm_thresholds)) if value == "auto"]
    return model, diagnose(roles, calibrated=auto)
