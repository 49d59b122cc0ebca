"""Run image folders through the spiking network and cache what the classifiers need."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..data.folders import image_folder
from ..errors import ImageError, RecollectionError
from .encoding import DoGEncoder, spike_train
from .network import FEATURE_THRESHOLDS, SpikingNetwork, Thresholds

Progress = Callable[[int], None]
ENTRY_PREFIX = "snn-"  # cache entries are snn-<key>.npz; `recollect cache` lists and clears them


class CacheError(RecollectionError):
    """A feature cache entry is unreadable or inconsistent (truncated, garbage, edited)."""


class CacheWarning(UserWarning):
    """A damaged cache entry was found and is being rebuilt."""


def default_cache() -> Path:
    """Where extracted features are cached unless told otherwise: $XDG_CACHE_HOME/recollection/snn."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recollection" / "snn"


@dataclass
class FeatureSet:
    """conv3 potentials over time for a list of images, with their labels."""

    potentials: np.ndarray  # (N, T, maps, H, W) float32
    labels: np.ndarray  # (N,) int
    classes: list[str]
    paths: list[str]
    spike_counts: np.ndarray | None = None  # (N, layers) int32: spikes per image of the input and each layer below conv3
    spike_layers: list[str] | None = None  # the names of those layers ("input", "conv1", …)

    def __len__(self) -> int:
        return len(self.labels)

    def max_features(self) -> np.ndarray:
        """The SVM's features (N, maps): each map's largest potential over space and time."""
        return self.potentials.max(axis=(1, 3, 4))

    def subset(self, index: Sequence[int] | np.ndarray) -> "FeatureSet":
        index = np.asarray(index, dtype=int)
        counts = self.spike_counts[index] if self.spike_counts is not None else None
        return FeatureSet(self.potentials[index], self.labels[index], self.classes, [self.paths[i] for i in index],
                          counts, self.spike_layers)

    def counts_checksum(self) -> str:
        """SHA-256 of the spike counts and their layer names (stored beside the features' own checksum, so
        that an entry written without counts keeps its checksum)."""
        h = hashlib.sha256()
        if self.spike_counts is not None:
            counts = np.ascontiguousarray(self.spike_counts)
            h.update(f"{counts.dtype.str}{counts.shape}".encode())
            h.update(counts.data)
            h.update(json.dumps(list(self.spike_layers or [])).encode())
        return h.hexdigest()

    def checksum(self) -> str:
        """SHA-256 over every array and name, stored with a cache entry and checked when it is read."""
        h = hashlib.sha256()
        for array in (self.potentials, self.labels):
            h.update(f"{array.dtype.str}{array.shape}".encode())
            h.update(np.ascontiguousarray(array).data)
        h.update(json.dumps([list(self.classes), list(self.paths)]).encode())
        return h.hexdigest()

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (a unique temporary file, then one rename), with a checksum."""
        from ..io import atomic_write, output_error

        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(path, e) from None
        arrays: dict[str, Any] = {"potentials": self.potentials, "labels": self.labels, "classes": np.array(self.classes, dtype=str),
                  "paths": np.array(self.paths, dtype=str), "checksum": np.array(self.checksum())}
        if self.spike_counts is not None:
            arrays |= {"spike_counts": self.spike_counts, "spike_layers": np.array(self.spike_layers or [], dtype=str),
                       "spike_checksum": np.array(self.counts_checksum())}
        atomic_write(path, lambda fh: np.savez(fh, **arrays))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureSet":
        """Read a saved set, or raise CacheError: the archive, the shapes, dtypes and the checksum are checked."""
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"potentials", "labels", "classes", "paths"} - set(data.files)
                if missing:
                    raise CacheError(f"{path}: no {', '.join(sorted(missing))} in it")
                arrays = {key: data[key] for key in data.files}
        except CacheError:
            raise
        except Exception as e:  # noqa: BLE001 (a damaged archive raises anything: BadZipFile, NotImplementedError, ...)
            reason = "empty file" if Path(path).exists() and Path(path).stat().st_size == 0 else \
                " ".join(str(e).split()) or type(e).__name__
            raise CacheError(f"{path}: unreadable ({reason})") from None
        counts = arrays.get("spike_counts")
        features = cls(arrays["potentials"], arrays["labels"], [str(c) for c in arrays["classes"]],
                       [str(p) for p in arrays["paths"]], counts,
                       [str(n) for n in arrays["spike_layers"]] if counts is not None and "spike_layers" in arrays else None)
        features.check(path)
        stored = arrays.get("checksum")
        if stored is not None and str(stored) != features.checksum():  # entries before checksums have none
            raise CacheError(f"{path}: checksum mismatch (the file was changed or damaged)")
        if counts is not None and str(arrays.get("spike_checksum", "")) != features.counts_checksum():
            raise CacheError(f"{path}: spike counts fail their checksum (the file was changed or damaged)")
        return features

    def check(self, where: str | os.PathLike) -> None:
        """Shapes and dtypes a feature set must have, or CacheError."""
        p, labels = self.potentials, self.labels
        problems = []
        if p.dtype != np.float32 or p.ndim != 5:
            problems.append(f"potentials are {p.dtype} {p.shape}, expected float32 (N, T, maps, H, W)")
        if labels.dtype.kind not in "iu" or labels.ndim != 1 or len(labels) != len(p):
            problems.append(f"labels are {labels.dtype} {labels.shape} for {len(p)} images")
        elif len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
            problems.append(f"labels outside the {len(self.classes)} classes")
        if len(self.paths) != len(p):
            problems.append(f"{len(self.paths)} paths for {len(p)} images")
        counts = self.spike_counts
        if counts is not None and (counts.ndim != 2 or len(counts) != len(p) or counts.dtype.kind not in "iu"
                                   or len(self.spike_layers or []) != counts.shape[1]):
            problems.append(f"spike counts are {counts.dtype} {counts.shape} for {len(p)} images")
        if not problems and p.size and not np.isfinite(p).all():
            problems.append("non-finite potentials")
        if problems:
            raise CacheError(f"{where}: " + "; ".join(problems))


def encode_files(files: Sequence[Path], encoder: DoGEncoder, workers: int = 2) -> np.ndarray:
    """Spike-time maps (N, H, W) uint8; decoding and filtering run in threads (they release the GIL)."""

    def one(path: Path) -> np.ndarray:
        try:
            return encoder(path)
        except ImageError as exc:
            raise ImageError(f"{path}: {exc}") from None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return np.stack(list(pool.map(one, files))) if files else np.zeros((0, encoder.height, encoder.width), np.uint8)


def spike_layers(network: SpikingNetwork) -> list[str]:
    """The layers whose spikes a feature set counts: the input, then every layer below the last."""
    return ["input"] + [layer.name for layer in network.architecture.layers[:-1]]


def count_spikes(times: np.ndarray, spikes: Sequence[np.ndarray]) -> np.ndarray:
    """(N, layers) int32 spike counts: the input's, then each recorded layer's (spike-time maps, where
    ``NO_SPIKE`` is silent, or boolean trains)."""
    from .encoding import NO_SPIKE

    counts = [(times < NO_SPIKE).reshape(len(times), -1).sum(axis=1)]
    for s in spikes:
        counts.append((s < NO_SPIKE).reshape(len(s), -1).sum(axis=1) if s.dtype == np.uint8
                      else s.reshape(len(s), -1).sum(axis=1))
    return np.stack(counts, axis=1).astype(np.int32)


@torch.no_grad()
def run_counted(
    network: SpikingNetwork,
    times: np.ndarray,
    thresholds: Thresholds = FEATURE_THRESHOLDS,
    encoder: DoGEncoder = DoGEncoder(),
    batch_size: int = 8,
    device: str = "cpu",
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """conv3 potentials (N, T, maps, H, W) float32 for spike-time maps (N, H, W), in batches, and the
    spike counts of every layer below (what the diagnostics report), (N, layers) int32.

    On the CPU the event-driven kernels (``events.py``) run, bit-identical to the dense path and about
    100× faster; on a GPU the dense, time-batched convolutions do.
    """
    layers = len(spike_layers(network))
    potentials, counts = [], []
    if device == "cpu":
        from .events import run_events

        for start in range(0, len(times), 64):
            chunk = times[start : start + 64]
            activity = run_events(network, chunk, thresholds, encoder.time_steps, record=True)
            assert activity.potentials is not None  # the whole network ran
            potentials.append(activity.potentials)
            counts.append(count_spikes(chunk, [s for s in activity.spikes or [] if s is not None]))
            if progress:
                progress(len(chunk))
    else:
        network = network.to(device)
        for start in range(0, len(times), batch_size):
            batch = torch.from_numpy(times[start : start + batch_size]).to(device)
            activity = network(spike_train(batch, encoder.time_steps), thresholds, record=True)
            potentials.append(activity.potentials.cpu().numpy())
            counts.append(np.stack([s.flatten(1).sum(1).cpu().numpy() for s in activity.spikes or []], 1).astype(np.int32))
            if progress:
                progress(len(batch))
    if not potentials:
        return np.zeros((0, encoder.time_steps, 20) + (6, 9), np.float32), np.zeros((0, layers), np.int32)
    return np.concatenate(potentials), np.concatenate(counts)


def cache_key(network: SpikingNetwork, thresholds: Thresholds, encoder: DoGEncoder, files: Sequence[Path]) -> str:
    """Content hash of everything the potentials depend on: weights, thresholds, encoder, image files."""
    h = hashlib.sha256()
    for w in network.weights:
        h.update(w.detach().cpu().numpy().tobytes())
    h.update(json.dumps([thresholds.as_dict(), encoder.config()], sort_keys=True).encode())
    for f in files:
        st = os.stat(f)
        h.update(f"{Path(f).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def folder_features(
    root: str | os.PathLike,
    network: SpikingNetwork,
    thresholds: Thresholds = FEATURE_THRESHOLDS,
    encoder: DoGEncoder = DoGEncoder(),
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    progress: Callable[[int, int], Progress] | None = None,
) -> FeatureSet:
    """Features of an image-folder dataset (one sub-folder per class), read from the cache when there."""
    files, labels, classes = image_folder(root)
    if len(classes) < 2:
        raise RecollectionError(f"{root} has a single class folder ({classes[0]}); naming needs at least two")
    return files_features(files, labels, classes, network, thresholds, encoder, cache_dir, batch_size, device, progress)


def files_features(
    files: Sequence[Path],
    labels: Sequence[int],
    classes: list[str],
    network: SpikingNetwork,
    thresholds: Thresholds = FEATURE_THRESHOLDS,
    encoder: DoGEncoder = DoGEncoder(),
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    progress: Callable[[int, int], Progress] | None = None,
) -> FeatureSet:
    """Features of a list of image files with their labels (a folder, or a split of one), with the spike
    counts of every layer, read from the cache when there (an entry written without counts is rebuilt)."""
    files = [Path(f) for f in files]
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"{ENTRY_PREFIX}{cache_key(network, thresholds, encoder, files)}.npz"
        if cached.is_file():
            hit = read_entry(cached, [str(f) for f in files], labels, classes)
            if hit is not None and hit.spike_counts is not None:
                return hit
    step = progress(len(files), 0) if progress else None
    times = encode_files(files, encoder)
    potentials, counts = run_counted(network, times, thresholds, encoder, batch_size, device, step)
    features = FeatureSet(potentials, np.asarray(labels, dtype=np.int64), list(classes), [str(f) for f in files], counts,
                          spike_layers(network))
    if cached is not None:
        features.save(cached)
    return features


def same_images(stored: Sequence[str], paths: Sequence[str]) -> bool:
    """Do a cache entry's image names list the folder's images? Compared by class folder and file name:
    the key already hashes the resolved files, and an entry written from another working directory
    names them relative to that one."""
    return len(stored) == len(paths) and all(Path(a).parts[-2:] == Path(b).parts[-2:] for a, b in zip(stored, paths))


def read_entry(path: Path, paths: list[str], labels: Sequence[int], classes: Sequence[str] | None = None) -> FeatureSet | None:
    """A cache entry if it is whole and holds these images, else None after one warning (it is rebuilt).
    The entry's key covers the image files themselves, so the same files under another path spelling (e.g.
    from another working directory) or with other labels (a folder named class by class, or as one set)
    are the same features: they are returned with the caller's paths, labels and classes."""
    try:
        features = FeatureSet.load(path)
        if not same_images(features.paths, paths):
            raise CacheError(f"{path}: lists other images than the folder holds")
        given = np.asarray(labels, dtype=features.labels.dtype)
        if features.paths != paths or not np.array_equal(features.labels, given) or (
                classes is not None and list(classes) != features.classes):
            features = FeatureSet(features.potentials, given, list(classes) if classes is not None else features.classes,
                                  list(paths), features.spike_counts, features.spike_layers)
        return features
    except CacheError as e:
        warnings.warn(f"damaged feature cache entry, rebuilding it: {e}", CacheWarning, stacklevel=3)
        return None
