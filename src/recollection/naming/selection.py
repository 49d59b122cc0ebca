"""Choices made on training data only: validation parts, k-fold cross-validation, and corrected mode's
two searches (full-data thresholds by cross-validation; a shot configuration by shot runs drawn from one
half of the training set and scored on the other). Given :class:`~.groups.Groups`, every split keeps
groups whole (grouped folds, grouped halves); without, images are split one by one."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..snn.features import FeatureSet
from ..snn.network import Thresholds
from .experiments import NamingScorer, sample_shots, shot_runs
from .groups import Groups, fraction_targets, group_folds, group_split
from .neurons import NameNeurons
from .presets import CORRECTED_FOLDS, CORRECTED_RULE, VALIDATION_RUNS, Candidate
from .sources import FeatureBank


def validation_split(labels: np.ndarray, fraction: float, seed: int, groups: np.ndarray | None = None,
                     classes: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, validation) indices: ``fraction`` of every class held out, seeded (with
    ``groups``, one per image: whole groups, about that fraction)."""
    if groups is not None:
        return group_split(labels, groups, fraction_targets(np.asarray(labels), 1.0 - fraction), np.random.default_rng(seed),
                           classes)
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        k = max(1, int(round(fraction * len(members))))
        val.append(members[:k])
        fit.append(members[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


def cross_validation_folds(labels: np.ndarray, folds: int, seed: int, groups: np.ndarray | None = None,
                           classes: Sequence[str] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (fit, validation) index pairs, seeded (with ``groups``: grouped folds)."""
    if groups is not None:
        return group_folds(labels, groups, folds, seed, classes)
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(folds)]
    for c in np.unique(labels):
        for i, chunk in enumerate(np.array_split(rng.permutation(np.flatnonzero(labels == c)), folds)):
            parts[i].append(chunk)
    held = [np.sort(np.concatenate(p)) for p in parts]
    everything = np.arange(len(labels))
    return [(np.setdiff1d(everything, h), h) for h in held]


def choose_thresholds(train_sets: Mapping[Thresholds, FeatureSet], rule: Mapping = CORRECTED_RULE,
                      folds: int = CORRECTED_FOLDS, seed: int = 0,
                      groups: Groups | None = None) -> tuple[Thresholds, dict[Thresholds, float]]:
    """The network thresholds whose features give name neurons (``rule``) the best k-fold
    cross-validated accuracy on training data alone (grouped folds with ``groups``); returns (best,
    {thresholds: score})."""
    first = next(iter(train_sets.values()))
    cv = cross_validation_folds(first.labels, folds, seed, groups.of(first.paths) if groups is not None else None,
                                first.classes)
    scores = {th: float(np.mean([NamingScorer(NameNeurons(**rule), fs.subset(val)).run(fs.subset(fit))[1]
                                 for fit, val in cv]))
              for th, fs in train_sets.items()}
    return max(scores, key=lambda th: scores[th]), scores


def shot_validation_draws(labels: np.ndarray, shots: int, runs: int, seed: int, groups: np.ndarray | None = None,
                          classes: Sequence[str] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Shot runs inside a training set: ``runs`` draws from one half, and the other half to score them
    (with ``groups``: halves of whole groups)."""
    fit, val = validation_split(labels, 0.5, seed + 7, groups, classes)
    return [fit[r] for r in sample_shots(labels[fit], shots, runs, seed + 8)], val


def choose_shot_config(bank: FeatureBank, candidates: Sequence[Candidate], shots: int = 1,
                       runs: int = VALIDATION_RUNS, seed: int = 0, groups: Groups | None = None) -> tuple[int, list[float]]:
    """The candidate (weights, thresholds, name-neuron parameters) whose shot runs inside the training
    set name best: runs draw their images from one half and are scored on the other half. Returns
    (index of the best, every candidate's mean validation accuracy); ties go to the first."""
    first = bank.train(candidates[0].weights, candidates[0].thresholds)
    draws, val = shot_validation_draws(first.labels, shots, runs, seed,
                                       groups.of(first.paths) if groups is not None else None, first.classes)
    scores = []
    for c in candidates:
        train = bank.train(c.weights, c.thresholds)
        scores.append(float(np.mean(shot_runs(train, train.subset(val), draws, NameNeurons(**c.params))["naming"])))
    return int(np.argmax(scores)), scores
