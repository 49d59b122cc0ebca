"""The naming protocols, written once: the CLI, ``reproduce``, the study engines and the dashboard call
these and only parse, print or plot what they return.

- :func:`evaluate`: name neurons (and the SVM) trained on a training set, scored on it and on a test
  set; :func:`evaluate_corrected` picks the thresholds by cross-validation on the training set first.
- :func:`shots`: one-/few-shot runs on given draws; :func:`corrected_shots` picks the configuration
  (weights × thresholds × inputs × activity threshold) on shot runs inside the training set first.
- :func:`splits`: random (or any) train/test splits of the pooled images; :func:`corrected_splits`
  picks the thresholds on each split's training part.
- :func:`score_setting` / :func:`find_params`: the research code's threshold search (choose on a
  validation part of the training set, report test).
- :func:`recall_setup`: the network, features and class means a recall experiment needs.

``evaluate_mode``, ``shot_protocol`` and ``split_protocol`` are the one definition of *paper* and
*corrected* mode for each experiment (the CLI's ``--mode``, ``reproduce``'s rows): they draw the seeded
index lists and call the protocols above with the settings of ``presets.py``.

Every protocol takes feature sets (a :class:`~recollection.naming.sources.FeatureBank` where it must
choose between weight sets or thresholds) and explicit index lists (draws, splits), and returns a
dataclass. That is the extension point: another way to split (e.g. group-aware) only makes index
pairs for :func:`splits`; another way to choose thresholds is a ``select`` function for
:func:`evaluate_corrected` / :func:`corrected_splits`; other data only needs a FeatureBank
(:meth:`~recollection.naming.sources.FeatureBank.from_sets` for features computed elsewhere).

Your own data: thresholds may be ``"auto"`` (:data:`~.calibrate.AUTO`: calibrated on the training images
by :mod:`.calibrate`; in corrected mode, the grid is scaled around them), and ``groups``
(:class:`~.groups.Groups`) make every split, fold and shot run keep each object's images on one side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import OptionError
from ..snn.features import FeatureSet, default_cache
from ..snn.network import Thresholds
from .calibrate import AUTO, Target, scaled_grid
from .experiments import NamingScorer, accuracy, pooled, random_splits, sample_shots, shot_runs
from .groups import Groups, grouped_random_splits, test_masks, warn_shared
from .neurons import NameNeurons
from .recall import RecallSetup, mnist_folders, setup
from .presets import (CALTECH, CORRECTED_FOLDS, CORRECTED_RULE, CORRECTED_THRESHOLDS, DEFAULT_WEIGHTS, ONESHOT_ACTIVITY,
                      ONESHOT_CORRECTED, ONESHOT_INPUTS, ONESHOT_NOVELTY, PAPER_RULE, RUN61_NAMING, SPLIT_TRAIN_PER_CLASS,
                      SVM_THRESHOLDS, VALIDATION_RUNS, WEIGHTS_DIR, Candidate, find_data_root, naming_preset,
                      oneshot_candidates, resolve_weights)
from .selection import choose_shot_config, choose_thresholds, validation_split
from .sources import FeatureBank, Pair
from .svm import SpikeSVM

READOUTS = ("sum", "weighted")
MODES = ("paper", "corrected")
FeatureKey = tuple[str, Thresholds]  # (weights, thresholds)
Choice = Thresholds | str | None  # thresholds, "auto" (calibrated on the training images) or None (the preset)
Select = Callable[..., tuple[Thresholds, dict]]  # like choose_thresholds(train_sets, rule, folds, seed[, groups=])


def resolve(bank: FeatureBank, weights: str, choice: Choice, target: Target, default: Thresholds | None = None) -> Thresholds:
    """Thresholds as chosen: given, calibrated on the training images (``"auto"``), or ``default``."""
    if isinstance(choice, str):
        if choice != AUTO:
            raise OptionError(f"thresholds are conv1,conv2 numbers or auto, not {choice!r}")
        return bank.calibrate(weights, target).thresholds
    if choice is not None:
        return choice
    if default is None:
        raise OptionError("no thresholds given and no preset to fall back on")
    return default


def resolve_key(bank: FeatureBank, key: tuple[str, Choice] | None) -> FeatureKey | None:
    """An SVM's (weights, thresholds) with ``"auto"`` calibrated for the SVM."""
    return None if key is None else (key[0], resolve(bank, key[0], key[1], "svm", SVM_THRESHOLDS))


def naming_grid(bank: FeatureBank, weights: str, choice: Choice = None) -> tuple[Thresholds, ...]:
    """Corrected mode's full-data grid: the published one, or scaled around given or calibrated thresholds."""
    return CORRECTED_THRESHOLDS if choice is None else scaled_grid(resolve(bank, weights, choice, "naming"))


def selecting(select: Select, groups: Groups | None) -> Select:
    """``select`` told the groups (grouped folds), when there are any."""
    if groups is None:
        return select
    return lambda sets, rule, folds, seed: select(sets, rule, folds, seed, groups=groups)


def svm_accuracy(train: FeatureSet, test: FeatureSet) -> float:
    return accuracy(SpikeSVM().fit(train.potentials, train.labels).predict(test.potentials), test.labels)


def threshold_key(t: Thresholds) -> str:
    return f"{t.conv1:g}/{t.conv2:g}"


# --- full data ------------------------------------------------------------------------------------
@dataclass
class Evaluation:
    """Train and test accuracy of name neurons (per readout) and of the SVM."""

    naming: dict[str, dict[str, float]]  # readout → {"train": …, "test": …}
    svm: dict[str, float] | None  # {"train": …, "test": …}
    rule: dict
    thresholds: Thresholds | None = None  # the naming thresholds (chosen ones in corrected mode)
    validation_scores: dict[Thresholds, float] | None = None
    svm_thresholds: Thresholds | None = None

    def accuracies(self) -> dict[str, float]:
        """Flat: naming_sum_train, naming_sum_test, …, svm_train, svm_test."""
        flat = {f"naming_{r}_{part}": v for r, parts in self.naming.items() for part, v in parts.items()}
        return flat | {f"svm_{part}": v for part, v in (self.svm or {}).items()}

    def naming_thresholds(self) -> Thresholds:
        """The thresholds the name neurons used; an evaluation given features without them has none."""
        if self.thresholds is None:
            raise ValueError("this evaluation was given features without their naming thresholds")
        return self.thresholds

    def svm_accuracy(self, part: str = "test") -> float:
        """The SVM's accuracy on ``part``; an evaluation run without the SVM has none to give."""
        if self.svm is None:
            raise ValueError("this evaluation ran without the SVM (pass svm= to evaluate)")
        return self.svm[part]


def evaluate(naming: Pair | None, svm: Pair | None = None, rule: Mapping = PAPER_RULE,
             readouts: Sequence[str] = ("sum",), thresholds: Thresholds | None = None) -> Evaluation:
    """Name neurons (``rule``, one fit per readout) and the SVM, each fit on its training set and scored
    on its training and test sets."""
    scores: dict[str, dict[str, float]] = {}
    if naming is not None:
        train, test = naming
        for readout in readouts:
            model = NameNeurons(**{**rule, "readout": readout}).fit(train.potentials, train.labels)
            scores[readout] = {part: accuracy(model.predict(fs.potentials), fs.labels)
                               for part, fs in (("train", train), ("test", test))}
    svm_scores = None
    if svm is not None:
        model = SpikeSVM().fit(svm[0].potentials, svm[0].labels)
        svm_scores = {part: accuracy(model.predict(fs.potentials), fs.labels)
                      for part, fs in (("train", svm[0]), ("test", svm[1]))}
    return Evaluation(scores, svm_scores, dict(rule), thresholds)


def evaluate_corrected(bank: FeatureBank, weights: str, svm: FeatureKey | None = None, seed: int = 66,
                       readouts: Sequence[str] = ("sum",), grid: Sequence[Thresholds] = CORRECTED_THRESHOLDS,
                       folds: int = CORRECTED_FOLDS, select: Select = choose_thresholds,
                       groups: Groups | None = None) -> Evaluation:
    """Corrected mode on full data: the thresholds chosen from ``grid`` by k-fold cross-validation on the
    training set (never the test set; grouped folds with ``groups``), then :func:`evaluate` with the
    corrected rule."""
    best, scores = selecting(select, groups)({th: bank.train(weights, th) for th in grid}, CORRECTED_RULE, folds, seed)
    result = evaluate(bank.pair(weights, best), bank.pair(*svm) if svm else None, {**CORRECTED_RULE, "seed": seed},
                      readouts, best)
    result.validation_scores = scores
    result.svm_thresholds = svm[1] if svm else None
    return result


def evaluate_mode(bank: FeatureBank, weights: str, mode: str = "paper", thresholds: Choice = None,
                  svm_thresholds: Choice = SVM_THRESHOLDS, init: float | None = None, seed: int = 66,
                  readouts: Sequence[str] = READOUTS, groups: Groups | None = None) -> Evaluation:
    """``naming evaluate``: paper mode at the given, calibrated (``"auto"``) or the weight set's preset
    thresholds and init, or corrected mode (:func:`evaluate_corrected`, the grid scaled around given or
    calibrated thresholds, grouped folds with ``groups``); the SVM on the same weights at
    ``svm_thresholds`` (``"auto"``: calibrated for the SVM). TRAIN and TEST sharing groups is warned about."""
    check_mode(mode)
    svm = resolve_key(bank, (weights, svm_thresholds)) if svm_thresholds is not None else None
    if groups is not None:
        warn_shared(groups, bank.images("train")[0], bank.images("test")[0])
    if mode == "corrected":
        return evaluate_corrected(bank, weights, svm, seed, readouts, naming_grid(bank, weights, thresholds), groups=groups)
    preset = naming_preset(weights)
    chosen = resolve(bank, weights, thresholds, "naming", preset.naming)
    rule = {"mode": "paper", "init": preset.init if init is None else init, "seed": seed}
    result = evaluate(bank.pair(weights, chosen), bank.pair(*svm) if svm else None, rule, readouts, chosen)
    result.svm_thresholds = svm[1] if svm else None
    return result


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise OptionError(f"mode must be paper or corrected, not {mode!r}")


# --- one-shot / few-shot runs ---------------------------------------------------------------------
@dataclass
class ShotResult:
    """Per-run test accuracies of naming and of the SVM trained on the same images."""

    naming: list[float]
    svm: list[float]
    draws: list[np.ndarray]
    params: dict | None  # the name neurons' parameters
    weights: str | None = None
    thresholds: Thresholds | None = None
    candidates: list[Candidate] = field(default_factory=list)  # corrected mode: what the search tried …
    validation_scores: list[float] = field(default_factory=list)  # … and how each scored
    svm_thresholds: Thresholds | None = None
    tested: list[int] = field(default_factory=list)  # grouped runs: test images scored per run

    def results(self) -> dict[str, list[float]]:
        return {k: v for k, v in (("naming", self.naming), ("svm", self.svm)) if v}

    def scores_by_label(self) -> dict[str, float] | None:
        return {c.label: s for c, s in zip(self.candidates, self.validation_scores)} or None

    def chosen(self) -> tuple[Thresholds, dict]:
        """The naming thresholds and parameters the runs used; a result without naming runs has none."""
        if self.thresholds is None or self.params is None:
            raise ValueError("these shot runs had no naming configuration (naming was not run)")
        return self.thresholds, self.params


def shots(draws: Sequence[np.ndarray], naming: Pair | None, params: Mapping | None = None, svm: Pair | None = None,
          progress: Callable[[int], None] | None = None, groups: Groups | None = None) -> ShotResult:
    """Each draw (indices into the training set) trains name neurons (``params``) and the SVM (on its
    own features of the same images); both are scored on the whole test set (with ``groups``: on the
    test images sharing no group with the draw)."""
    main = naming if naming is not None else svm
    if main is None:
        raise OptionError("a shot run needs name-neuron features, SVM features or both")
    template = NameNeurons(**params) if naming is not None and params is not None else None
    train, test = main
    masks = None
    if groups is not None:
        masks = test_masks(draws, groups.of(train.paths), groups.of(test.paths), test.labels, test.classes)
    svm_train, svm_test = svm if svm is not None else (None, None)
    runs = shot_runs(train, test, draws, template, svm_train, svm_test, progress=progress, masks=masks)
    return ShotResult(runs.get("naming", []), runs.get("svm", []), list(draws),
                      template.get_params() if template else None,
                      tested=[int(m.sum()) for m in masks] if masks is not None else [])


def corrected_shots(bank: FeatureBank, candidates: Sequence[Candidate], draws: Sequence[np.ndarray],
                    svm: FeatureKey | None = None, shots_per_class: int = 1, validation_runs: int = VALIDATION_RUNS,
                    seed: int = 0, progress: Callable[[int], None] | None = None,
                    groups: Groups | None = None) -> ShotResult:
    """Corrected mode's shot protocol: the candidate whose ``shots_per_class``-shot runs inside the
    training set (``validation_runs`` draws from one half, scored on the other, seeded by ``seed``; halves
    of whole groups with ``groups``) name best is chosen, then run on ``draws`` against the test set,
    beside the SVM."""
    if not candidates:
        raise OptionError("corrected mode needs at least one candidate configuration")
    best, scores = choose_shot_config(bank, candidates, shots_per_class, validation_runs, seed, groups)
    chosen = candidates[best]
    result = shots(draws, bank.pair(chosen.weights, chosen.thresholds), chosen.params,
                   bank.pair(*svm) if svm else None, progress, groups)
    result.svm_thresholds = svm[1] if svm else None
    result.weights, result.thresholds = chosen.weights, chosen.thresholds
    result.candidates, result.validation_scores = list(candidates), scores
    return result


def shot_protocol(bank: FeatureBank, weights: Sequence[str], runs: int, shots_per_class: int = 1, seed: int = 0,
                  mode: str = "paper", params: Mapping | None = None, thresholds: Choice = None,
                  svm: tuple[str, Choice] | None = None, validation_runs: int = VALIDATION_RUNS,
                  progress: Callable[[int], None] | None = None, groups: Groups | None = None) -> ShotResult:
    """``naming shots``, ``reproduce`` and the studies: ``runs`` seeded draws of ``shots_per_class``
    training images per class, named in paper mode with one weight set (its preset thresholds and init
    unless given or ``"auto"``; λ = 65), or in corrected mode after choosing among the candidates of
    ``weights`` (:func:`~recollection.naming.presets.oneshot_candidates`; with ``"auto"``, each weight
    set's calibrated naming and SVM thresholds). ``params`` override name-neuron options. With
    ``groups``, a run is scored on the test images sharing no group with its training images."""
    check_mode(mode)
    params = dict(params or {})
    svm_key = resolve_key(bank, svm)
    if mode == "corrected":
        if isinstance(thresholds, str):
            if thresholds != AUTO:
                raise OptionError(f"thresholds are conv1,conv2 numbers or auto, not {thresholds!r}")
            candidates = auto_candidates(bank, list(weights), params)
        else:
            candidates = oneshot_candidates(list(weights), thresholds, params)
        draws = sample_shots(shot_labels(bank, candidates), shots_per_class, runs, seed)
        return corrected_shots(bank, candidates, draws, svm_key, shots_per_class, validation_runs, seed, progress, groups)
    if len(weights) != 1:
        raise OptionError(f"paper mode names with one weight set; got {len(weights)} (corrected mode searches several)")
    preset = naming_preset(weights[0])
    chosen = resolve(bank, weights[0], thresholds, "naming", preset.naming)
    rule = {"mode": "paper", "init": preset.init, "novelty": ONESHOT_NOVELTY, **params}
    pair = bank.pair(weights[0], chosen)
    draws = sample_shots(pair[0].labels, shots_per_class, runs, seed)
    result = shots(draws, pair, rule, bank.pair(*svm_key) if svm_key else None, progress, groups)
    result.weights, result.thresholds, result.svm_thresholds = weights[0], chosen, svm_key[1] if svm_key else None
    return result


def auto_candidates(bank: FeatureBank, weight_sets: Sequence[str], overrides: Mapping | None = None) -> list[Candidate]:
    """Corrected mode's shot candidates with calibrated thresholds: every weight set × its calibrated
    naming and SVM thresholds × inputs × activity threshold."""
    base = {**ONESHOT_CORRECTED, **(overrides or {})}
    return [Candidate(str(w), th, {**base, "inputs": i, "active_threshold": a}) for w in weight_sets
            for th in dict.fromkeys([bank.calibrate(w, "naming").thresholds, bank.calibrate(w, "svm").thresholds])
            for i in ONESHOT_INPUTS for a in ONESHOT_ACTIVITY]


def shot_labels(bank: FeatureBank, candidates: Sequence[Candidate]) -> np.ndarray:
    """The training labels the draws index (the same folder under every candidate)."""
    return bank.train(candidates[0].weights, candidates[0].thresholds).labels


# --- random train/test splits ---------------------------------------------------------------------
@dataclass
class SplitResult:
    """Per-split test accuracies of naming and of the SVM on the same split."""

    naming: list[float]
    svm: list[float]
    rule: dict
    chosen: list[Thresholds] = field(default_factory=list)  # corrected mode: thresholds per split

    def results(self) -> dict[str, list[float]]:
        return {k: v for k, v in (("naming", self.naming), ("svm", self.svm)) if v}


def pool(pair: Pair) -> tuple[FeatureSet, list[int]]:
    """A train/test pair as one set, class by class, with the class sizes (what splits index)."""
    return pooled(*pair)


def splits(index_pairs: Sequence[tuple[np.ndarray, np.ndarray]], naming: FeatureSet | None, rule: Mapping = PAPER_RULE,
           svm: FeatureSet | None = None) -> SplitResult:
    """Each (train, test) index pair into the pooled sets: name neurons (``rule``) and the SVM fit on
    the train part, scored on the test part."""
    names, svms = [], []
    for tr, te in index_pairs:
        if naming is not None:
            names.append(NamingScorer(NameNeurons(**rule), naming.subset(te)).run(naming.subset(tr))[1])
        if svm is not None:
            svms.append(svm_accuracy(svm.subset(tr), svm.subset(te)))
    return SplitResult(names, svms, dict(rule))


def corrected_splits(bank: FeatureBank, weights: str, index_pairs: Sequence[tuple[np.ndarray, np.ndarray]],
                     seeds: Sequence[int], svm: FeatureKey | None = None, grid: Sequence[Thresholds] = CORRECTED_THRESHOLDS,
                     folds: int = CORRECTED_FOLDS, select: Select = choose_thresholds,
                     groups: Groups | None = None) -> SplitResult:
    """Corrected mode on splits: per split, the thresholds chosen by k-fold cross-validation (seeded by
    that split's seed; grouped folds with ``groups``) on its training part only, then the corrected rule
    scored on its test part."""
    pools = {th: pool(bank.pair(weights, th))[0] for th in grid}
    svm_pool = pool(bank.pair(*svm))[0] if svm else None
    result = SplitResult([], [], dict(CORRECTED_RULE))
    choose = selecting(select, groups)
    for (tr, te), seed in zip(index_pairs, seeds, strict=True):
        best, _ = choose({th: pools[th].subset(tr) for th in grid}, CORRECTED_RULE, folds, seed)
        one = splits([(tr, te)], pools[best], CORRECTED_RULE, svm_pool)
        result.naming += one.naming
        result.svm += one.svm
        result.chosen.append(best)
    return result


def split_protocol(bank: FeatureBank, weights: str, n_splits: int, seed: int = 0, mode: str = "paper",
                   train_per_class: int = SPLIT_TRAIN_PER_CLASS, thresholds: Choice = None,
                   init: float | None = None, svm: tuple[str, Choice] | None = None,
                   groups: Groups | None = None) -> SplitResult:
    """``naming splits`` and ``reproduce``: ``n_splits`` seeded random splits of the pooled train and
    test images (``train_per_class`` per class for training; with ``groups``, whole groups, about that
    many), named in paper mode (the weight set's preset thresholds and init unless given or ``"auto"``)
    or in corrected mode (:func:`corrected_splits`, split k's thresholds chosen with seed
    ``seed + 1000 + k``, from the grid scaled around given or calibrated thresholds); the SVM on the same
    splits. Calibration (``"auto"``) reads the TRAIN folder's images, never their labels."""
    check_mode(mode)
    preset = naming_preset(weights)
    chosen = resolve(bank, weights, thresholds, "naming", preset.naming)
    svm_key = resolve_key(bank, svm)
    pooled_set, sizes = pool(bank.pair(weights, chosen))
    if any(train_per_class >= n for n in sizes):
        raise OptionError(f"{train_per_class} training images per class leave no test image (class sizes {sizes})")
    if groups is not None:
        index_pairs = grouped_random_splits(pooled_set.labels, groups.of(pooled_set.paths), train_per_class, n_splits,
                                            seed, pooled_set.classes)
    else:
        index_pairs = random_splits(sizes, [train_per_class] * len(sizes), n_splits, seed)
    if mode == "corrected":
        return corrected_splits(bank, weights, index_pairs, [seed + 1000 + k for k in range(n_splits)], svm_key,
                                naming_grid(bank, weights, thresholds), groups=groups)
    return splits(index_pairs, pooled_set, {"init": preset.init if init is None else init},
                  pool(bank.pair(*svm_key))[0] if svm_key else None)


# --- the research code's threshold search (find_params) -------------------------------------------
@dataclass
class SettingScore:
    """One (thresholds, name neurons) setting: chosen on ``validation``, reported on ``test``."""

    validation: float
    test: float
    train: float


def score_setting(pair: Pair, params: Mapping, validation: float = 0.25, seed: int = 0,
                  groups: Groups | None = None) -> SettingScore:
    """Name neurons fit on the training set minus a validation part (``validation`` of each class,
    seeded; whole groups with ``groups``) and scored on that part; fit on the whole training set and
    scored on test and train."""
    if not 0.0 < validation < 1.0:
        raise OptionError(f"validation must be a fraction in (0, 1), got {validation}")
    train, test = pair
    fit, val = validation_split(train.labels, validation, seed, groups.of(train.paths) if groups is not None else None,
                                train.classes)
    rule = NameNeurons(**params)
    model, test_acc = NamingScorer(rule, test).run(train)
    return SettingScore(NamingScorer(rule, train.subset(val)).run(train.subset(fit))[1], test_acc,
                        accuracy(model.predict(train.potentials), train.labels))


@dataclass
class ThresholdSearch:
    settings: list[tuple[Thresholds, dict]]
    scores: list[SettingScore]

    @property
    def best(self) -> int:
        """The setting with the best validation accuracy (ties: the first); its test score is reported."""
        return int(np.argmax([s.validation for s in self.scores]))


def find_params(bank: FeatureBank, weights: str, settings: Sequence[tuple[Thresholds, dict]], validation: float = 0.25,
                seed: int = 0, groups: Groups | None = None) -> ThresholdSearch:
    """Every (thresholds, name-neuron parameters) setting scored by :func:`score_setting`."""
    settings = [(th, dict(p)) for th, p in settings]
    return ThresholdSearch(settings, [score_setting(bank.pair(weights, th), p, validation, seed, groups)
                                      for th, p in settings])


# --- recall ---------------------------------------------------------------------------------------
def recall_root(dataset: str, root: str | os.PathLike | None = None, mnist_dir: str = "mnist") -> Path:
    """The data root of a recall data set (looked up as everywhere else when not given)."""
    if dataset == "caltech":
        return find_data_root(root)
    if dataset == "mnist":
        return find_data_root(root, needs=(mnist_dir,), hint=f"Pass --data DIR holding {mnist_dir}/ (MNIST idx files).")
    raise OptionError(f"dataset must be caltech or mnist, not {dataset!r}")


def recall_folders(dataset: str, root: str | os.PathLike, cache: str | os.PathLike,
                   mnist_dir: str = "mnist") -> tuple[Path, Path]:
    """(train, test) folders of a recall data set: Caltech faces/motorbikes, or MNIST 0 vs 1 (written
    once as image folders into the cache)."""
    root = Path(root)
    if dataset == "mnist":
        return mnist_folders(Path(cache) / "mnist-0-1", root / mnist_dir)
    return root / CALTECH / "TrainingSet", root / CALTECH / "TestingSet"


def recall_setup_dirs(train: str | os.PathLike, test: str | os.PathLike, weights_dir: str | os.PathLike,
                      thresholds: Choice = RUN61_NAMING, cache: str | os.PathLike | None = None) -> RecallSetup:
    """A recall set-up on a train/test folder pair; ``"auto"`` thresholds are calibrated for naming on the
    training images."""
    cache = Path(cache) if cache is not None else default_cache()
    if isinstance(thresholds, str) or thresholds is None:
        bank = FeatureBank.from_folders(train, test, lambda w: Path(weights_dir), cache)
        thresholds = resolve(bank, str(weights_dir), thresholds, "naming", RUN61_NAMING)
    return setup(train, test, weights_dir, thresholds, cache)


def recall_setup_folder(folder: str | os.PathLike, weights: str = DEFAULT_WEIGHTS, thresholds: Choice = AUTO,
                        root: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> RecallSetup:
    """A recall set-up on your own data root (TrainingSet/ and TestingSet/)."""
    from .folders import folder_pair

    train, test = folder_pair(folder)
    return recall_setup_dirs(train, test, resolve_weights(weights, root), thresholds, cache)


def recall_setup(dataset: str = "caltech", weights: str = DEFAULT_WEIGHTS, thresholds: Choice = RUN61_NAMING,
                 root: str | os.PathLike | None = None, cache: str | os.PathLike | None = None,
                 mnist_dir: str = "mnist", weights_dir: str = WEIGHTS_DIR) -> RecallSetup:
    """A recall set-up (network, features, test class-mean DoG maps) for a data set and weight set."""
    cache = Path(cache) if cache is not None else default_cache()
    root = recall_root(dataset, root, mnist_dir)
    train, test = recall_folders(dataset, root, cache, mnist_dir)
    return recall_setup_dirs(train, test, resolve_weights(weights, root, weights_dir), thresholds, cache)
