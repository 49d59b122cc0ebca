"""The published experiments of the naming spec (§7), each run from the shared data, beside the paper."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import RecollectionError
from ..snn.features import FeatureSet, folder_features
from ..snn.network import FEATURE_THRESHOLDS, SpikingNetwork, Thresholds, load_weights
from .experiments import NamingScorer, accuracy, first_shots, pooled, random_splits, sample_shots, shot_runs, summary
from .neurons import NameNeurons
from .svm import SpikeSVM

RUN61_NAMING = Thresholds(7.0, 20.25)
UPSTREAM_NAMING = Thresholds(6.25, 20.75)
FEW_SHOT_N = (5, 10, 20, 50, 100, 200)
PAPER_FEW_SHOT = {1.0: {5: 0.735, 10: 0.826, 20: 0.871, 50: 0.904, 100: 0.927, 200: 0.957},
                  10.0: {5: 0.902, 10: 0.947, 20: 0.955, 50: 0.848, 200: 0.662}}


@dataclass
class Row:
    experiment: str
    paper: str
    ours: str
    ok: bool | None  # within the tolerance; None where there is no tolerance to meet
    detail: dict = field(default_factory=dict)


@dataclass
class SharedData:
    """Where the Caltech faces/motorbikes folders, the published weights and the reference runs are."""

    root: Path

    @classmethod
    def find(cls, data: str | os.PathLike | None) -> "SharedData":
        candidates = [Path(data)] if data else [Path(os.environ.get("RECOLLECTION_DATA", "")), Path("../shared/data")]
        for c in candidates:
            if str(c) and (c / "caltech_face_motor" / "TrainingSet").is_dir():
                return cls(c)
        where = data or "../shared/data (or $RECOLLECTION_DATA)"
        raise RecollectionError(
            f"no data at {where}: expected caltech_face_motor/TrainingSet and TestingSet and sdnn_weights/ "
            "there. Get the images with `recollect data fetch caltech101 --dest DIR` and pass --data DIR.")

    def folder(self, part: str) -> Path:
        return self.root / "caltech_face_motor" / part

    def weights(self, name: str) -> Path:
        path = self.root / "sdnn_weights" / name
        if not path.is_dir():
            raise RecollectionError(f"published weights {path} are missing")
        return path

    def reference(self, name: str) -> Path | None:
        path = self.root.parent / "reference" / name
        return path if path.exists() else None


class Reproduction:
    """Feature sets are extracted once per (weights, thresholds) and cached on disk."""

    def __init__(self, data: SharedData, cache_dir: str | os.PathLike | None, device: str = "cpu",
                 progress: Callable | None = None) -> None:
        self.data = data
        self.cache_dir = cache_dir
        self.device = device
        self.progress = progress
        self._sets: dict = {}

    def features(self, weights: str, thresholds: Thresholds, part: str) -> FeatureSet:
        key = (weights, thresholds, part)
        if key not in self._sets:
            network = SpikingNetwork(load_weights(self.data.weights(weights)))
            self._sets[key] = folder_features(self.data.folder(part), network, thresholds, cache_dir=self.cache_dir,
                                              device=self.device, progress=self.progress)
        return self._sets[key]

    def pair(self, weights: str, thresholds: Thresholds) -> tuple[FeatureSet, FeatureSet]:
        return self.features(weights, thresholds, "TrainingSet"), self.features(weights, thresholds, "TestingSet")

    # --- the experiments -------------------------------------------------------------------------
    def svm_full(self) -> Row:
        train, test = self.pair("run61", FEATURE_THRESHOLDS)
        acc = accuracy(SpikeSVM().fit(train.potentials, train.labels).predict(test.potentials), test.labels)
        return Row("SVM on run61 STDP features, full data", "0.9848", f"{acc:.4f}", abs(acc - 0.9848) < 0.001,
                   {"test": acc})

    def naming_full(self, weights: str, thresholds: Thresholds, init: float, paper_test: float,
                    paper_train: float | None) -> Row:
        train, test = self.pair(weights, thresholds)
        model = NameNeurons(init=init).fit(train.potentials, train.labels)
        test_acc = accuracy(model.predict(test.potentials), test.labels)
        train_acc = accuracy(model.predict(train.potentials), train.labels)
        paper = f"test {paper_test}" + (f", train {paper_train}" if paper_train else "")
        return Row(f"naming, {weights} weights, thresholds {thresholds.conv1:g}/{thresholds.conv2:g}, init {init:g}",
                   paper, f"test {test_acc:.4f}, train {train_acc:.4f}", abs(test_acc - paper_test) <= 0.01,
                   {"test": test_acc, "train": train_acc})

    def oneshot_run61(self, pairs: int, seed: int) -> Row:
        train, test = self.pair("run61", RUN61_NAMING)
        runs = sample_shots(train.labels, 1, pairs, seed)
        acc = shot_runs(train, test, runs, NameNeurons(init=0.575, novelty=65))["naming"]
        s = summary(acc)
        detail = {"summary": s}
        listed = self.listed_pairs(train)
        if listed:
            ours = shot_runs(train, test, [p for p, _ in listed], NameNeurons(init=0.575, novelty=65))["naming"]
            theirs = np.array([a for _, a in listed])
            detail["reference_pairs"] = {"n": len(listed), "identical": int(np.sum(np.isclose(ours, theirs))),
                                         "mean_abs_diff": float(np.mean(np.abs(np.array(ours) - theirs)))}
        ok = abs(s["mean"] - 0.718) <= 0.03 and abs(s["median"] - 0.732) <= 0.03
        return Row(f"one-shot naming, λ = 65, run61, {pairs} seeded pairs", "mean 0.718, median 0.732",
                   f"mean {s['mean']:.3f}, median {s['median']:.3f}", ok, detail)

    def listed_pairs(self, train: FeatureSet) -> list[tuple[np.ndarray, float]]:
        """The research code's own one-shot pairs (``oneshot_naming_run61_lambda.txt``) with its accuracy."""
        path = self.data.reference("oneshot_naming_run61_lambda.txt")
        if path is None:
            return []
        index = {"/".join(Path(p).parts[-3:]): i for i, p in enumerate(train.paths)}
        text = path.read_text()
        found = re.findall(r"test_score: ([\d.]+).*?\nImages: image1: (\S+) image2: (\S+)", text)
        pairs = []
        for acc, a, b in found:
            if a in index and b in index:
                pairs.append((np.array([index[a], index[b]]), float(acc)))
        return pairs

    def oneshot_upstream(self, pairs: int, seed: int) -> Row:
        train, test = self.pair("upstream", UPSTREAM_NAMING)
        acc: list[float] = []
        for k, lam in enumerate((55.0, 60.0, 65.0)):
            runs = sample_shots(train.labels, 1, pairs // 3 + (k < pairs % 3), seed + k)
            acc += shot_runs(train, test, runs, NameNeurons(init=0.5, novelty=lam))["naming"]
        s = summary(acc)
        return Row(f"one-shot naming, λ ∈ {{55, 60, 65}}, upstream, {len(acc)} pairs",
                   "mean 0.746, median 0.770, max 0.965", f"mean {s['mean']:.3f}, median {s['median']:.3f}, max {s['max']:.3f}",
                   abs(s["mean"] - 0.746) <= 0.03, {"summary": s})

    def oneshot_svm(self, pairs: int, seed: int) -> Row:
        train, test = self.pair("svm_oneshot", FEATURE_THRESHOLDS)
        runs = sample_shots(train.labels, 1, pairs, seed)
        s = summary(shot_runs(train, test, runs, None, train, test)["svm"])
        return Row(f"one-shot SVM, svm_oneshot weights, {pairs} pairs", "mean 0.768, median 0.818, max 0.866",
                   f"mean {s['mean']:.3f}, median {s['median']:.3f}, max {s['max']:.3f}",
                   abs(s["mean"] - 0.768) <= 0.03, {"summary": s})

    def few_shot(self, alpha: float) -> Row:
        train, test = self.pair("upstream", UPSTREAM_NAMING)
        scorer = NamingScorer(NameNeurons(init=0.5, rate=alpha), test)
        ours = {n: scorer.run(train.subset(first_shots(train.labels, n)))[1] for n in FEW_SHOT_N}
        paper = PAPER_FEW_SHOT[alpha]
        ok = all(abs(ours[n] - p) <= 0.05 for n, p in paper.items()) if alpha == 1.0 else None
        return Row(f"few-shot naming, first N per class, upstream, α = {alpha:g}",
                   ", ".join(f"{n}: {p}" for n, p in paper.items()),
                   ", ".join(f"{n}: {ours[n]:.3f}" for n in FEW_SHOT_N), ok, {"ours": ours, "paper": paper})

    def multi_split(self, splits: int, seed: int) -> Row:
        naming_set, sizes = pooled(*self.pair("run61", RUN61_NAMING))
        svm_set, _ = pooled(*self.pair("run61", FEATURE_THRESHOLDS))
        train_sizes = [200] * len(sizes)
        names, svms = [], []
        for tr, te in random_splits(sizes, train_sizes, splits, seed):
            scorer = NamingScorer(NameNeurons(init=0.575), naming_set.subset(te))
            names.append(scorer.run(naming_set.subset(tr))[1])
            a, b = svm_set.subset(tr), svm_set.subset(te)
            svms.append(accuracy(SpikeSVM().fit(a.potentials, a.labels).predict(b.potentials), b.labels))
        n, s = summary(names), summary(svms)
        return Row(f"multi-split, {splits} random 200/198-per-class splits, run61", "naming 0.968 vs SVM 0.976",
                   f"naming {n['mean']:.3f} vs SVM {s['mean']:.3f}", None, {"naming": n, "svm": s})


def as_dicts(rows: list[Row]) -> list[dict]:
    return [asdict(r) for r in rows]


# --- beyond the paper: corrected mode, every choice made on validation data ------------------------
CORRECTED_THRESHOLDS = tuple(Thresholds(c1, c2) for c1 in (6.0, 7.0, 8.0) for c2 in (16.0, 20.25, 24.0, 28.0))
CORRECTED_RULE = {"mode": "corrected", "surprise": 10.0, "epochs": 3, "init": 0.575}
ONESHOT_CANDIDATES = tuple(
    (weights, thresholds, {"inputs": inputs, "active_threshold": active, "init": 0.575, "init_std": 0.0,
                           "novelty": 65.0, "mode": "corrected"})
    for weights, thresholds in (("run61", RUN61_NAMING), ("run61", FEATURE_THRESHOLDS),
                                ("upstream", UPSTREAM_NAMING), ("svm_oneshot", FEATURE_THRESHOLDS))
    for inputs in ("neurons", "maps") for active in (10.0, 20.0))


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (fit, validation) indices: ``fraction`` of every class held out, seeded."""
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        k = max(1, int(round(fraction * len(members))))
        val.append(members[:k])
        fit.append(members[k:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


def cross_validation_folds(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified k-fold (fit, validation) index pairs, seeded."""
    rng = np.random.default_rng(seed)
    parts = [[] for _ in range(folds)]
    for c in np.unique(labels):
        for i, chunk in enumerate(np.array_split(rng.permutation(np.flatnonzero(labels == c)), folds)):
            parts[i].append(chunk)
    held = [np.sort(np.concatenate(p)) for p in parts]
    everything = np.arange(len(labels))
    return [(np.setdiff1d(everything, h), h) for h in held]


def choose_thresholds(train_sets: dict, rule: dict = CORRECTED_RULE, folds: int = 4, seed: int = 0) -> tuple:
    """The network thresholds whose features give corrected name neurons the best k-fold
    cross-validated accuracy on training data alone; returns (best, {thresholds: score})."""
    labels = next(iter(train_sets.values())).labels
    cv = cross_validation_folds(labels, folds, seed)
    scores = {th: float(np.mean([NamingScorer(NameNeurons(**rule), fs.subset(val)).run(fs.subset(fit))[1] for fit, val in cv]))
              for th, fs in train_sets.items()}
    return max(scores, key=scores.get), scores


def multi_split_corrected(self: Reproduction, splits: int, seed: int, folds: int = 4) -> Row:
    """Corrected name neurons, network thresholds chosen per split by k-fold cross-validation on its
    training images (never its test images), against the SVM on the same splits."""
    pools = {}
    for th in CORRECTED_THRESHOLDS:
        pools[th], sizes = pooled(*self.pair("run61", th))
    svm_set, _ = pooled(*self.pair("run61", FEATURE_THRESHOLDS))
    names, svms, chosen = [], [], []
    for k, (tr, te) in enumerate(random_splits(sizes, [200] * len(sizes), splits, seed)):
        best, _ = choose_thresholds({th: pools[th].subset(tr) for th in CORRECTED_THRESHOLDS}, CORRECTED_RULE,
                                    folds, seed + 1000 + k)
        chosen.append([best.conv1, best.conv2])
        names.append(NamingScorer(NameNeurons(**CORRECTED_RULE), pools[best].subset(te)).run(pools[best].subset(tr))[1])
        a, b = svm_set.subset(tr), svm_set.subset(te)
        svms.append(accuracy(SpikeSVM().fit(a.potentials, a.labels).predict(b.potentials), b.labels))
    n, s = summary(names), summary(svms)
    diff = np.array(names) - np.array(svms)
    return Row(f"beyond: corrected naming (surprise-gated), thresholds chosen by {folds}-fold CV on training data, {splits} splits",
               "target ≥ 0.975 (paper: naming 0.968 vs SVM 0.976)",
               f"naming {n['mean']:.4f} vs SVM {s['mean']:.4f}", n["mean"] >= 0.975,
               {"naming": n, "svm": s, "paired_difference_mean": float(diff.mean()), "chosen_thresholds": chosen,
                "rule": CORRECTED_RULE, "grid": [[t.conv1, t.conv2] for t in CORRECTED_THRESHOLDS]})


def choose_shot_config(train_sets: dict, params: list[dict], shots: int = 1, runs: int = 200, seed: int = 0) -> tuple:
    """Pick (thresholds, name-neuron parameters) by few-shot runs inside the training set only: runs
    draw their images from one half and are scored on the other half. Returns (best, scores)."""
    labels = next(iter(train_sets.values())).labels
    fit, val = validation_split(labels, 0.5, seed + 7)
    draws = [fit[r] for r in sample_shots(labels[fit], shots, runs, seed + 8)]
    scores = {}
    for th, fs in train_sets.items():
        for k, p in enumerate(params):
            scores[(th, k)] = float(np.mean(shot_runs(fs, fs.subset(val), draws, NameNeurons(**p))["naming"]))
    th, k = max(scores, key=scores.get)
    return (th, params[k]), scores


def oneshot_corrected(self: Reproduction, pairs: int, seed: int, validation_pairs: int = 200) -> Row:
    """One-shot naming whose configuration (weights, thresholds, inputs, activity threshold) is chosen on
    one-shot runs inside the training set; then compared with the one-shot SVM on the same test pairs."""
    train_labels = self.features("svm_oneshot", FEATURE_THRESHOLDS, "TrainingSet").labels
    fit, val = validation_split(train_labels, 0.5, seed + 7)
    val_runs = [fit[r] for r in sample_shots(train_labels[fit], 1, validation_pairs, seed + 8)]
    scores = []
    for weights, thresholds, params in ONESHOT_CANDIDATES:
        train = self.features(weights, thresholds, "TrainingSet")
        model = NameNeurons(**params)
        scores.append(float(np.mean(shot_runs(train, train.subset(val), val_runs, model)["naming"])))
    best = int(np.argmax(scores))
    weights, thresholds, params = ONESHOT_CANDIDATES[best]
    train, test = self.pair(weights, thresholds)
    runs = sample_shots(train.labels, 1, pairs, seed)
    naming = shot_runs(train, test, runs, NameNeurons(**params))["naming"]
    svm_train, svm_test = self.pair("svm_oneshot", FEATURE_THRESHOLDS)
    svm = shot_runs(svm_train, svm_test, runs, None, svm_train, svm_test)["svm"]
    n, s = summary(naming), summary(svm)
    return Row(f"beyond: one-shot naming, configuration chosen on validation pairs, {pairs} pairs",
               "naming mean above the one-shot SVM's (paper: 0.746 vs 0.768)",
               f"naming {n['mean']:.3f} vs SVM {s['mean']:.3f} (same pairs)", n["mean"] > s["mean"],
               {"naming": n, "svm": s, "chosen": {"weights": weights, "thresholds": thresholds.as_dict(), **params},
                "validation_scores": scores})


Reproduction.multi_split_corrected = multi_split_corrected
Reproduction.oneshot_corrected = oneshot_corrected


def stdp_svm(self: Reproduction, weight_dirs: list[Path]) -> Row:
    """SVM test accuracy on the features of networks trained here by STDP from scratch (one per seed)."""
    accs = []
    for directory in weight_dirs:
        network = SpikingNetwork(load_weights(directory))
        train, test = (folder_features(self.data.folder(part), network, FEATURE_THRESHOLDS, cache_dir=self.cache_dir,
                                       device=self.device, progress=self.progress) for part in ("TrainingSet", "TestingSet"))
        accs.append(accuracy(SpikeSVM().fit(train.potentials, train.labels).predict(test.potentials), test.labels))
    s = summary(accs)
    return Row(f"SVM on STDP features trained here, {len(accs)} seeds", "mean 0.938, median 0.950, max 0.9848 (80 seeds)",
               f"mean {s['mean']:.3f}, median {s['median']:.3f}, max {s['max']:.4f}", s["median"] >= 0.94,
               {"summary": s, "runs": dict(zip(map(str, weight_dirs), accs))})


Reproduction.stdp_svm = stdp_svm
