"""Does the network see these images at all? Feature diagnostics, made wherever features are.

On images unlike the ones the thresholds were tuned on (small objects, upscaled; low contrast), conv2
may hardly fire: then an image's conv3 features are all zero, the SVM sees nothing and falls to chance,
and nothing else would say so. For each feature set used (a role: ``naming``, ``svm``; its weights and
thresholds; per part: train, test), this reports

- ``zero_fraction``: the fraction of images whose conv3 features (potentials) are all zero, overall and
  per class;
- ``inactive_fraction``: the fraction with no conv3 neuron reaching the name neurons' activity threshold;
- ``spikes``: the mean number of spikes per image of the input and of every layer below conv3, overall
  and per class (from the counts recorded with the features; None for features made elsewhere).

Above :data:`ZERO_LIMIT` all-zero images, :meth:`Diagnostics.emit` gives one
:class:`ZeroFeaturesWarning` line per feature set naming it, the fraction and what to do.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Collection, Mapping, Protocol

import numpy as np

from ..snn.features import FeatureSet
from ..snn.network import Thresholds


class Pairs(Protocol):
    """What diagnostics read from a FeatureBank: the train and test features of (weights, thresholds)."""

    def pair(self, weights: str, thresholds: Thresholds) -> tuple[FeatureSet, FeatureSet]: ...

ZERO_LIMIT = 0.05  # above this fraction of all-zero images, a feature set is warned about
ACTIVE_THRESHOLD = 10.0  # the name neurons' default activity threshold (NameNeurons.active_threshold)
OPTIONS = {"svm": "--svm-thresholds auto", "naming": "--naming-thresholds auto", "features": "--thresholds auto"}


class ZeroFeaturesWarning(UserWarning):
    """Too many images have all-zero conv3 features: the classifier sees nothing of them."""


def all_zero(features: FeatureSet) -> np.ndarray:
    """(N,) bool: images none of whose conv3 potentials is above zero."""
    flat = features.potentials.reshape(len(features), -1)
    if not flat.shape[1]:
        return np.ones(len(features), bool)
    zero = np.asarray(flat.max(axis=1) <= 0, dtype=bool)
    return zero


def inactive(features: FeatureSet, active_threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """(N,) bool: images with no conv3 potential reaching the name neurons' activity threshold."""
    flat = features.potentials.reshape(len(features), -1)
    idle = np.asarray(~(flat >= active_threshold).any(axis=1), dtype=bool)
    return idle


def _by_class(values: np.ndarray, features: FeatureSet) -> dict[str, float]:
    return {c: float(values[features.labels == k].mean()) for k, c in enumerate(features.classes)
            if np.any(features.labels == k)}


def part_report(features: FeatureSet, active_threshold: float = ACTIVE_THRESHOLD) -> dict:
    """The diagnostics of one feature set (one folder, one weight set, one pair of thresholds)."""
    zero, idle = all_zero(features), inactive(features, active_threshold)
    report: dict = {"images": len(features), "zero_fraction": float(zero.mean()) if len(zero) else 0.0,
                     "zero_by_class": _by_class(zero.astype(float), features),
                     "inactive_fraction": float(idle.mean()) if len(idle) else 0.0, "spikes": None,
                     "spikes_by_class": None}
    counts = features.spike_counts
    if counts is not None and len(counts):
        layers = features.spike_layers or [f"layer{i}" for i in range(counts.shape[1])]
        report["spikes"] = {name: float(v) for name, v in zip(layers, counts.mean(axis=0))}
        report["spikes_by_class"] = {c: {name: float(v) for name, v in zip(layers, counts[features.labels == k].mean(axis=0))}
                                     for k, c in enumerate(features.classes) if np.any(features.labels == k)}
    return report


@dataclass
class SetDiagnostics:
    """One feature set in its role (``naming``, ``svm``, …): its weights, thresholds and parts' reports."""

    role: str
    weights: str
    thresholds: Thresholds
    parts: dict[str, dict]
    calibrated: bool = False  # the thresholds were calibrated on the training images (``auto``)

    @property
    def images(self) -> int:
        return sum(p["images"] for p in self.parts.values())

    @property
    def zero_fraction(self) -> float:
        """All-zero images over every part (weighted by the parts' sizes)."""
        n = self.images
        return sum(p["zero_fraction"] * p["images"] for p in self.parts.values()) / n if n else 0.0

    @property
    def label(self) -> str:
        th = f"{self.thresholds.conv1:g}/{self.thresholds.conv2:g}"
        if th in self.role:  # a role named after its feature set already (a study's)
            return f"features {self.role}"
        what = "conv3 features" if self.role == "features" else f"{self.role} features"
        return f"{what} ({Path(self.weights).name} at {th})"

    def warning(self, limit: float = ZERO_LIMIT) -> str | None:
        """One line when more than ``limit`` of the images have all-zero features, else None."""
        fraction = self.zero_fraction
        if fraction <= limit:
            return None
        worst = max(((c, f, part) for part, p in self.parts.items() for c, f in p["zero_by_class"].items()),
                    key=lambda x: x[1])
        conv2 = [p["spikes"]["conv2"] for p in self.parts.values() if p.get("spikes") and "conv2" in p["spikes"]]
        fires = f", {np.mean(conv2):.1f} conv2 spikes per image" if conv2 else ""
        start = (f"{self.label}: {fraction:.0%} of {self.images} images have all-zero conv3 features (worst: "
                 f"{worst[0]} in {worst[2]}, {worst[1]:.0%}{fires}): the classifier sees nothing of them")
        if self.calibrated:
            return (start + ", although the thresholds were calibrated on the training images (the other images "
                    "differ from them). Lower the conv1,conv2 thresholds, or train on images like these.")
        option = OPTIONS.get(self.role)
        if option is None:
            return start + (". Lower the conv1,conv2 thresholds, e.g. to those `recollect naming features TRAIN --thresholds "
                            "auto` calibrates on the training images.")
        return start + f". Use {option} (thresholds calibrated on the training images) or lower conv1,conv2 thresholds."

    def as_dict(self) -> dict:
        return {"weights": str(self.weights), "thresholds": [self.thresholds.conv1, self.thresholds.conv2],
                "calibrated": self.calibrated, "zero_fraction": self.zero_fraction, "parts": self.parts}


@dataclass
class Diagnostics:
    """The diagnostics of every feature set an experiment used, by role."""

    sets: dict[str, SetDiagnostics] = field(default_factory=dict)
    limit: float = ZERO_LIMIT

    def zero_features(self) -> dict[str, float]:
        """{role: fraction of all-zero images}: ``diagnostics.zero_features`` of the results files."""
        return {role: d.zero_fraction for role, d in self.sets.items()}

    def warnings(self) -> list[str]:
        return [line for d in self.sets.values() if (line := d.warning(self.limit)) is not None]

    def emit(self) -> list[str]:
        """Each warning line as a :class:`ZeroFeaturesWarning` (the CLI prints it as one yellow line)."""
        lines = self.warnings()
        for line in lines:
            warnings.warn(line, ZeroFeaturesWarning, stacklevel=2)
        return lines

    def as_dict(self) -> dict:
        return {"zero_features": self.zero_features(), "limit": self.limit, "warnings": self.warnings(),
                "feature_sets": {role: d.as_dict() for role, d in self.sets.items()}}

    def lines(self) -> list[str]:
        """A short text per feature set: all-zero and inactive fractions, mean spikes per layer."""
        out = []
        for d in self.sets.values():
            for part, p in d.parts.items():
                spikes = ", ".join(f"{k} {v:.0f}" for k, v in (p["spikes"] or {}).items())
                out.append(f"{d.label} {part}: {p['zero_fraction']:.1%} all-zero, {p['inactive_fraction']:.1%} with "
                           f"no conv3 neuron ≥ {ACTIVE_THRESHOLD:g}" + (f"; spikes per image: {spikes}" if spikes else ""))
        return out


def diagnose(sets: Mapping[str, tuple[str, Thresholds, Mapping[str, FeatureSet]]],
             limit: float = ZERO_LIMIT, calibrated: Collection[str] = ()) -> Diagnostics:
    """{role: (weights, thresholds, {part: features})} → Diagnostics (``calibrated``: the roles whose
    thresholds were calibrated on the training images)."""
    out = Diagnostics(limit=limit)
    for role, (weights, thresholds, parts) in sets.items():
        reports = {}
        for part, fs in parts.items():
            report = part_report(fs)
            report["class_sizes"] = {c: int(np.sum(fs.labels == k)) for k, c in enumerate(fs.classes)}
            reports[part] = report
        out.sets[role] = SetDiagnostics(role, str(weights), thresholds, reports, role in calibrated)
    return out


def diagnose_bank(bank: Pairs, roles: Mapping[str, tuple[str, Thresholds] | None],
                  limit: float = ZERO_LIMIT, calibrated: Collection[str] = ()) -> Diagnostics:
    """Diagnostics of the train and test features of each role's (weights, thresholds) in a FeatureBank
    (roles mapped to None are left out)."""
    return diagnose({role: (key[0], key[1], dict(zip(("train", "test"), bank.pair(*key))))
                     for role, key in roles.items() if key is not None}, limit, calibrated)
