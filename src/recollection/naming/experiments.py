"""Naming experiments: full-data, one-shot / few-shot runs, random splits, with their summaries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from .. import figures, stats
from ..errors import OptionError
from ..io import save_figure, write_json
from ..snn.features import FeatureSet
from .neurons import NameNeurons
from .svm import SpikeSVM

Progress = Callable[[int], None]


def summary(values: Sequence[float]) -> dict:
    """n, mean with its 95 % bootstrap interval (within [0, 1]), median, sd, min and max of accuracies."""
    return stats.summary(values, stats.ACCURACY)


def accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == np.asarray(truth)))


def sample_shots(labels: np.ndarray, shots: int, runs: int, seed: int) -> list[np.ndarray]:
    """``runs`` random training sets of ``shots`` images per class (classes in order), seeded."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    members = [np.flatnonzero(labels == c) for c in classes]
    smallest = min(len(m) for m in members)
    if shots < 1 or shots > smallest:
        raise OptionError(f"shots must be between 1 and the smallest class size ({smallest}); got {shots}")
    rng = np.random.default_rng(seed)
    return [np.concatenate([rng.choice(m, shots, replace=False) for m in members]) for _ in range(runs)]


def first_shots(labels: np.ndarray, shots: int) -> np.ndarray:
    """The first ``shots`` images of every class, in the data set's (sorted) order."""
    labels = np.asarray(labels)
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    smallest = min(len(m) for m in members)
    if shots < 1 or shots > smallest:
        raise OptionError(f"N must be between 1 and the smallest class size ({smallest}); got {shots}")
    return np.concatenate([m[:shots] for m in members])


class NamingScorer:
    """Scores many name-neuron runs against one test set; the test drive is computed once."""

    def __init__(self, template: NameNeurons, test: FeatureSet) -> None:
        self.template = template
        self.drive = template.drive(test.potentials)
        self.truth = test.labels

    def run(self, train: FeatureSet, mask: np.ndarray | None = None) -> tuple[NameNeurons, float]:
        """Fit on ``train``; the accuracy on the test set (on its images in ``mask`` only, if given)."""
        model = NameNeurons(**self.template.get_params()).fit(train.potentials, train.labels)
        predicted = model.classes_[np.argmax(self.drive @ model.weights_.T, axis=1)]
        if mask is not None:
            return model, accuracy(predicted[mask], self.truth[mask])
        return model, accuracy(predicted, self.truth)


def shot_runs(
    train: FeatureSet,
    test: FeatureSet,
    runs: Iterable[np.ndarray],
    naming: NameNeurons | None,
    svm_train: FeatureSet | None = None,
    svm_test: FeatureSet | None = None,
    progress: Progress | None = None,
    masks: Sequence[np.ndarray] | None = None,
) -> dict[str, list[float]]:
    """Test accuracy of naming (and of the SVM, on its own features of the same images) per run; with
    ``masks`` (one per run), on those test images only (grouped runs: none shares a group with the run's
    training images)."""
    scorer = NamingScorer(naming, test) if naming is not None else None
    svm_test_features = SpikeSVM.peak_features(svm_test.potentials) if svm_test is not None else None
    results: dict[str, list[float]] = {"naming": [], "svm": []}
    for k, index in enumerate(runs):
        mask = masks[k] if masks is not None else None
        if scorer is not None:
            results["naming"].append(scorer.run(train.subset(index), mask)[1])
        if svm_train is not None and svm_test is not None:
            sub = svm_train.subset(index)
            predicted = SpikeSVM().fit(sub.potentials, sub.labels).predict(svm_test_features)
            truth = svm_test.labels
            results["svm"].append(accuracy(predicted[mask], truth[mask]) if mask is not None else accuracy(predicted, truth))
        if progress:
            progress(1)
    return {k: v for k, v in results.items() if v}


def random_splits(n_per_class: Sequence[int], train_per_class: Sequence[int], runs: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Index pairs (train, test) over a pooled set ordered class by class, per-class sizes kept."""
    rng = np.random.default_rng(seed)
    offsets = np.cumsum([0, *n_per_class])
    splits = []
    for _ in range(runs):
        tr, te = [], []
        for c, (n, k) in enumerate(zip(n_per_class, train_per_class)):
            perm = rng.permutation(n) + offsets[c]
            tr.append(np.sort(perm[:k]))
            te.append(np.sort(perm[k:]))
        splits.append((np.concatenate(tr), np.concatenate(te)))
    return splits


def pooled(a: FeatureSet, b: FeatureSet) -> tuple[FeatureSet, list[int]]:
    """Train and test sets joined, ordered class by class, with the class sizes."""
    if a.classes != b.classes:
        raise OptionError(f"train and test class folders differ: {a.classes} vs {b.classes}")
    potentials = np.concatenate([a.potentials, b.potentials])
    labels = np.concatenate([a.labels, b.labels])
    paths = a.paths + b.paths
    order = np.argsort(labels, kind="stable")
    counts = (np.concatenate([a.spike_counts, b.spike_counts])[order]
              if a.spike_counts is not None and b.spike_counts is not None else None)
    joined = FeatureSet(potentials[order], labels[order], a.classes, [paths[i] for i in order], counts, a.spike_layers)
    return joined, [int(np.sum(labels == c)) for c in range(len(a.classes))]


@dataclass
class Written:
    json: Path
    plot: Path | None


def write_results(out: str | os.PathLike, name: str, config: dict, results: dict[str, list[float]],
                  extra: dict | None = None, plot: bool = True, title: str | None = None) -> Written:
    """``<name>.json`` (config, per-run accuracies, summaries) and ``<name>.cdf.png``, atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"config": config, "runs": results, "summary": {k: summary(v) for k, v in results.items()}}
    if extra:
        payload.update(extra)
    path = write_json(out / f"{name}.json", payload)
    png = None
    if plot and any(len(v) > 1 for v in results.values()):
        png = out / f"{name}.cdf.png"
        cdf_plot(results, png, title=title or name)
    return Written(path, png)


def cdf_figure(results: Mapping[str, Sequence[float]], title: str = ""):
    """Empirical CDFs of test accuracy, one curve per method (starting at 0), medians marked."""
    return figures.cdf(results, "test accuracy of a run", title or "test accuracy over runs (empirical CDF)",
                       "fraction of runs with accuracy ≤ x", medians=True)


def cdf_plot(results: Mapping[str, Sequence[float]], path: Path, title: str = "") -> None:
    """The CDF figure as a PNG, written atomically."""
    save_figure(cdf_figure(results, title), path)
