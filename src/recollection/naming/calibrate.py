"""Thresholds calibrated on the training images only (``--naming-thresholds auto``, ``--svm-thresholds auto``).

The published thresholds (the SVM's 10/50, naming's 7/20.25) were tuned on Caltech faces and motorbikes
at 250 × 160. On other images (small objects upscaled, other contrast, other weights) the same numbers
can leave conv2 silent. Calibration sets each layer's threshold so that the layer is as active, relative
to its input, as the published thresholds make it on their data, then makes sure the training images
are seen at all:

1. conv1: the threshold at which the median (over training images) of conv1 spikes per input spike
   equals the reference (run61 on the Caltech TrainingSet at the published thresholds, :data:`REFERENCE`);
2. conv2: likewise, conv2 spikes per pool1 spike;
3. coverage, with a margin: if more than :data:`COVERAGE` of the training images would be silent at
   :data:`MARGIN` × conv2's threshold (``svm``: all-zero conv3 features; ``naming``: no conv3 neuron
   reaching the name neurons' activity threshold), conv2's threshold is lowered (and conv1's, if that is
   not enough) until they are not: images a little less active than the training ones are seen too.

Each step is a bisection over log-thresholds on a seeded, stratified sample of the training images
(never the test images). Corrected mode's threshold grid is then :func:`scaled_grid` around the naming
calibration: the published grid's ratios to its centre (7/20.25). Results are cached on disk beside the
features (keyed by weights, encoder, image files and this procedure's settings).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ..errors import OptionError
from ..snn.encoding import DoGEncoder
from ..snn.events import run_events
from ..snn.features import count_spikes, encode_files
from ..snn.network import NEVER, SpikingNetwork, Thresholds
from .diagnostics import ACTIVE_THRESHOLD
from .presets import CORRECTED_GRID, RUN61_VALUES

Target = Literal["svm", "naming"]
AUTO = "auto"
VERSION = 1  # of the procedure: part of the cache key
# Median spikes per input spike of conv1 (per input pixel spike) and conv2 (per pool1 spike), run61 on the
# 400 images of caltech_face_motor/TrainingSet at the published thresholds (10/50 and 7/20.25).
REFERENCE = {"svm": {"conv1": 0.5445, "conv2": 0.1476}, "naming": {"conv1": 1.3258, "conv2": 0.9497}}
COVERAGE = 0.01  # at most this fraction of the training images may stay silent …
MARGIN = 1.25  # … even at this many times the chosen conv2 threshold
SAMPLE = 120  # training images calibrated on (stratified by class, seeded)
LOW, HIGH = 0.25, 512.0  # the thresholds searched
STEPS = 10  # bisection steps (about 1 % apart at the end)


@dataclass
class Calibration:
    """Thresholds chosen for a target on training images, and what they give there."""

    target: str
    thresholds: Thresholds
    measured: dict  # at the chosen thresholds: conv1/conv2 ratios, silent fraction
    reference: dict
    images: int  # training images it was calibrated on
    note: str | None = None  # set when the coverage could not be reached

    def as_dict(self) -> dict:
        return {"target": self.target, "thresholds": [self.thresholds.conv1, self.thresholds.conv2],
                "measured": self.measured, "reference": self.reference, "images": self.images, "note": self.note,
                "method": "median layer activity matched to run61 on Caltech at the published thresholds, then "
                          f"at most {COVERAGE:.0%} of the training images silent at {MARGIN:g} × conv2's threshold",
                "version": VERSION}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        return cls(d["target"], Thresholds(d["thresholds"][0], d["thresholds"][1], NEVER), d["measured"], d["reference"],
                   d["images"], d.get("note"))


def round_down(x: float) -> float:
    """Three significant digits, rounded down (a threshold rounded down keeps the coverage)."""
    if x <= 0:
        return x
    digits = int(2 - np.floor(np.log10(x)))
    return round(float(np.floor(x * 10.0**digits + 1e-6) / 10.0**digits), max(digits, 0))


def _median_ratio(num: np.ndarray, den: np.ndarray) -> float:
    ok = den > 0
    return float(np.median(num[ok] / den[ok])) if ok.any() else 0.0


def layer_ratio(network: SpikingNetwork, times: np.ndarray, layer: str, c1: float, c2: float = NEVER) -> float:
    """Median spikes of conv1 per input spike (``conv1``) or of conv2 per pool1 spike (``conv2``)."""
    stop = 1 if layer == "conv1" else 3
    activity = run_events(network, times, (c1, c2, NEVER), record=list(range(stop)), stop=stop)
    counts = count_spikes(times, [s for s in activity.spikes or [] if s is not None])
    return _median_ratio(counts[:, 1], counts[:, 0]) if layer == "conv1" else _median_ratio(counts[:, 3], counts[:, 2])


def silent_fraction(network: SpikingNetwork, times: np.ndarray, c1: float, c2: float, target: str) -> float:
    """Training images the target would not see: all-zero conv3 (svm), or no conv3 neuron at the name
    neurons' activity threshold (naming)."""
    activity = run_events(network, times, (c1, c2, NEVER))
    assert activity.potentials is not None  # the whole network ran
    potentials = activity.potentials.reshape(len(times), -1)
    seen = potentials.max(axis=1) > 0 if target == "svm" else (potentials >= ACTIVE_THRESHOLD).any(axis=1)
    return float(1.0 - seen.mean())


def match(falling, goal: float, low: float = LOW, high: float = HIGH, steps: int = STEPS) -> float:
    """The threshold in [low, high] at which a quantity that falls as the threshold rises comes closest
    to ``goal`` (bisection over log-thresholds; at a jump, the side nearer the goal in log terms)."""
    lo, hi = np.log(low), np.log(high)
    for _ in range(steps):
        mid = (lo + hi) / 2
        if falling(float(np.exp(mid))) > goal:
            lo = mid
        else:
            hi = mid
    ends = [float(np.exp(lo)), float(np.exp(hi))]
    misses = [abs(np.log(max(falling(t), 1e-9) / goal)) for t in ends]
    return ends[int(np.argmin(misses))]


def largest_within(rising, limit: float, low: float, high: float, steps: int = STEPS) -> float:
    """The largest threshold in [low, high] at which a quantity that rises with the threshold stays at
    most ``limit`` (``low`` is assumed to qualify)."""
    if rising(high) <= limit:
        return high
    lo, hi = np.log(low), np.log(high)
    for _ in range(steps):
        mid = (lo + hi) / 2
        if rising(float(np.exp(mid))) <= limit:
            lo = mid
        else:
            hi = mid
    return float(np.exp(lo))


def calibrate_times(network: SpikingNetwork, times: np.ndarray, target: Target) -> Calibration:
    """Calibrate (conv1, conv2) for ``target`` on spike-time maps (N, H, W) of training images."""
    if target not in REFERENCE:
        raise OptionError(f"calibration target must be svm or naming, not {target!r}")
    if not len(times):
        raise OptionError("calibration needs training images")
    ref = REFERENCE[target]
    c1 = round_down(match(lambda t: layer_ratio(network, times, "conv1", t), ref["conv1"]))
    c2 = round_down(match(lambda t: layer_ratio(network, times, "conv2", c1, t), ref["conv2"]))
    note = None
    silent = silent_fraction(network, times, c1, c2 * MARGIN, target)
    if silent > COVERAGE:
        for factor in (1.0, 0.7, 0.5, 0.35):
            low_c1 = round_down(c1 * factor)
            if silent_fraction(network, times, low_c1, LOW * MARGIN, target) <= COVERAGE:
                c1 = low_c1
                c2 = round_down(largest_within(lambda t: silent_fraction(network, times, low_c1, t * MARGIN, target),
                                               COVERAGE, LOW, c2))
                break
        else:
            c1, c2 = round_down(c1 * 0.35), LOW
            note = (f"{silent_fraction(network, times, c1, c2, target):.0%} of the training images stay silent even at "
                    f"{c1:g}/{c2:g}: they hold almost no edges at the DoG filter's threshold (blank or very smooth)")
        silent = silent_fraction(network, times, c1, c2, target)
    measured = {"conv1": layer_ratio(network, times, "conv1", c1), "conv2": layer_ratio(network, times, "conv2", c1, c2),
                "silent": silent}
    return Calibration(target, Thresholds(c1, c2, NEVER), measured, dict(ref), len(times), note)


def sample_index(labels: Sequence[int], size: int = SAMPLE, seed: int = 0) -> np.ndarray:
    """At most ``size`` images, the same share of every class, seeded (all when there are fewer)."""
    y = np.asarray(labels)
    if len(y) <= size:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(y == c), max(1, int(round(size * np.mean(y == c)))), replace=False)
              for c in np.unique(y)]
    return np.sort(np.concatenate(picked))


def calibration_key(network: SpikingNetwork, files: Sequence[Path], target: str, encoder: DoGEncoder, size: int,
                    seed: int) -> str:
    h = hashlib.sha256()
    for w in network.weights:
        h.update(w.detach().cpu().numpy().tobytes())
    h.update(json.dumps([target, encoder.config(), size, seed, VERSION, REFERENCE, COVERAGE, MARGIN, LOW, HIGH, STEPS],
                        sort_keys=True).encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{Path(f).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def calibrate_files(network: SpikingNetwork, files: Sequence[Path], labels: Sequence[int], target: Target,
                    encoder: DoGEncoder = DoGEncoder(), cache_dir: str | os.PathLike | None = None,
                    size: int = SAMPLE, seed: int = 0) -> Calibration:
    """Calibrate on training image files (a stratified sample of ``size``), cached in ``cache_dir``."""
    entry = None
    if cache_dir is not None:
        entry = Path(cache_dir) / f"snn-calibration-{calibration_key(network, files, target, encoder, size, seed)}.npz"
        if entry.is_file():
            try:
                with np.load(entry, allow_pickle=False) as data:
                    return Calibration.from_dict(json.loads(str(data["calibration"])))
            except Exception:  # noqa: BLE001 (a damaged entry is recomputed and rewritten)
                pass
    index = sample_index(labels, size, seed)
    result = calibrate_times(network, encode_files([Path(files[i]) for i in index], encoder), target)
    if entry is not None:
        from ..io import atomic_write

        entry.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(result.as_dict())
        atomic_write(entry, lambda fh: np.savez(fh, calibration=np.array(text)))
    return result


def scaled_grid(center: Thresholds) -> tuple[Thresholds, ...]:
    """Corrected mode's threshold grid around calibrated thresholds: the published 3 × 4 grid's ratios to
    its centre (run61's 7/20.25) times ``center``."""
    return tuple(dict.fromkeys(Thresholds(float(f"{center.conv1 * c1 / RUN61_VALUES[0]:.4g}"),
                                          float(f"{center.conv2 * c2 / RUN61_VALUES[1]:.4g}"), NEVER)
                               for c1, c2 in CORRECTED_GRID))


def measured_reference(network: SpikingNetwork, times: np.ndarray) -> dict:
    """The reference numbers themselves (how :data:`REFERENCE` was measured): the two ratios at the
    published thresholds."""
    from .presets import SVM_VALUES

    return {name: {"conv1": layer_ratio(network, times, "conv1", v[0]), "conv2": layer_ratio(network, times, "conv2", *v)}
            for name, v in (("svm", SVM_VALUES), ("naming", RUN61_VALUES))}


__all__ = ["AUTO", "Calibration", "REFERENCE", "calibrate_files", "calibrate_times", "scaled_grid"]
