"""Spiking naming engines: one-shot / few-shot pairs (as given, or corrected mode's searched
configuration), random train/test splits, the threshold search and recall. Each runs a protocol of
``naming/protocols.py`` with the defaults of ``naming/presets.py``. Features (per image folder × weights
× thresholds) are extracted once, before the points run, and read from the on-disk cache by every
worker. Every engine writes the diagnostics of the feature sets its points read (all-zero fraction,
spikes per layer: ``artifacts/diagnostics.json``, a section of the report) and warns about sets with too
many all-zero images; ``[data] groups`` (a regex or CSV, as ``--groups``) makes the splits, draws and
folds keep each object's images on one side."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..naming import presets as N
from .schema import Engine, Param, StudyError, register_engine

NAME_NEURON_PARAMS = ("mode", "init", "init_std", "novelty", "rate", "readout", "epochs", "surprise", "inputs",
                      "active_threshold")
SVM_THRESHOLDS = N.SVM_VALUES
PICK_HELP = ("random: one seeded draw per point; sequence: draw number `repeat` of the sequence seeded by the "
             "study seed, i.e. the draws of `recollect naming shots --seed SEED --runs REPEATS` and of `reproduce`")


class NamingEngine(Engine):
    data = {
        "root": Param(str, None, help=f"folder holding {N.CALTECH}/ and {N.WEIGHTS_DIR}/ (default ${N.DATA_ENV}, "
                                      f"else {N.DEFAULT_DATA})"),
        "train": Param(str, f"{N.CALTECH}/TrainingSet", help="training image folder, relative to root"),
        "test": Param(str, f"{N.CALTECH}/TestingSet", help="test image folder, relative to root"),
        "weights_dir": Param(str, N.WEIGHTS_DIR, help="folder of weight sets (one sub-folder each), relative to root"),
        "cache": Param(str, None, help="feature cache (default ~/.cache/recollection/snn)"),
        "device": Param(str, "cpu", ("cpu", "cuda")),
        "groups": Param(str, None, help="which images show one object: a regex whose first capture group, searched "
                                        "in the file name, names it, or a CSV of file,group; splits, draws and folds "
                                        "keep each group on one side"),
    }
    common = {
        "weights": Param(str, N.DEFAULT_WEIGHTS, help="a weight set in weights_dir"),
        "conv1": Param(float, N.RUN61_VALUES[0]), "conv2": Param(float, N.RUN61_VALUES[1]),
        "mode": Param(str, "paper", ("paper", "corrected"), help="the name neurons' rule (the depression bug, or fixed)"),
        "init": Param(float, N.PAPER_INIT), "init_std": Param(float, 0.05),
        "novelty": Param(float, 1.0), "rate": Param(float, 1.0),
        "readout": Param(str, "sum", ("sum", "weighted")),
        "epochs": Param(int, 1), "surprise": Param(float, 1.0),
        "inputs": Param(str, "neurons", ("neurons", "maps")),
        "active_threshold": Param(float, 10.0),
        "repeat": Param(int, 0), "seed": Param(int, 0),
    }

    def check_data(self, data: dict, where: str) -> dict:
        data = super().check_data(data, where)
        if data["root"] is None:
            try:
                data["root"] = str(N.find_data_root(None))
            except N.DataError:
                raise StudyError(f"{where}: [data] root: no data found at ${N.DATA_ENV} or {N.DEFAULT_DATA}; "
                                 "set root, or fetch the images with `recollect data fetch caltech101`") from None
        for key in ("train", "test"):
            if not (Path(data["root"]) / data[key]).is_dir():
                raise StudyError(f"{where}: [data] {key}: {Path(data['root']) / data[key]} is not an image folder")
        if data["cache"] is None:
            from ..snn.features import default_cache

            data["cache"] = str(default_cache())
        if data.get("groups") is not None:
            from ..errors import RecollectionError

            try:
                study_groups(data["root"], data["train"], data["test"], data["groups"])
            except RecollectionError as e:
                raise StudyError(f"{where}: [data] groups: {e}") from None
        return data

    def check_point(self, data: dict, params: dict) -> str | None:
        """A weight set that is not there (a typo in weights or svm_weights)."""
        names = [params[k] for k in ("weights", "svm_weights") if params.get(k) and (k == "weights" or params.get("svm"))]
        names = [n.strip() for name in names for n in name.split(",") if n.strip()]  # corrected shots: a list
        for name in names:
            path = Path(name) if Path(name).is_dir() else Path(data["root"]) / data["weights_dir"] / name
            if not path.is_dir():
                return f"weight set {name!r}: no folder {path}"
        return None

    def weight_sets(self, points: list[dict]) -> set[tuple[str, float, float]]:
        """(weights, conv1, conv2) of every feature set the points read, the SVM's included."""
        sets = {(p["weights"], p["conv1"], p["conv2"]) for p in points}
        return sets | {(p["svm_weights"], *SVM_THRESHOLDS) for p in points if p.get("svm")}

    def prepare(self, data: dict, points: list[dict], progress=None) -> None:
        for weights, c1, c2 in sorted(self.weight_sets(points)):
            for part in ("train", "test"):
                features(data["root"], data[part], data["weights_dir"], weights, c1, c2, data["cache"], data["device"],
                         progress)

    def finalize(self, data: dict, points: list[dict], artifacts: Path) -> None:
        """The diagnostics of every feature set the points read, for the report; one warning per set with
        too many all-zero images."""
        from ..io import write_json
        from ..naming.diagnostics import diagnose
        from ..snn.network import NEVER, Thresholds

        sets = {f"{Path(w).name} {c1:g}/{c2:g}": (w, Thresholds(c1, c2, NEVER),
                                                  dict(zip(("train", "test"), feature_pair(data, w, c1, c2))))
                for w, c1, c2 in sorted(self.weight_sets(points))}
        if not sets:
            return
        diagnostics = diagnose(sets)
        write_json(artifacts / DIAGNOSTICS, diagnostics.as_dict())
        diagnostics.emit()


DIAGNOSTICS = "diagnostics.json"  # in the study's artifacts: read by the report (report_naming.py)


@lru_cache(maxsize=8)
def study_groups(root: str, train: str, test: str, groups: str):
    """The groups of a study's training and test images (read once per worker)."""
    from ..data.folders import image_folder
    from ..naming.groups import Grouping

    files = image_folder(Path(root) / train)[0] + image_folder(Path(root) / test)[0]
    return Grouping.parse(groups).bind(files)


def grouping(data: dict):
    """The study's Groups, or None."""
    return study_groups(data["root"], data["train"], data["test"], data["groups"]) if data.get("groups") else None


@lru_cache(maxsize=16)
def _network(root: str, weights_dir: str, weights: str):
    from ..snn.network import SpikingNetwork, load_weights

    return SpikingNetwork(load_weights(N.resolve_weights(weights, root, weights_dir)))


@lru_cache(maxsize=32)
def features(root: str, part: str, weights_dir: str, weights: str, conv1: float, conv2: float, cache: str,
             device: str = "cpu", progress=None):
    """A folder's features, from the disk cache when there (shared by every worker and study)."""
    from ..snn.features import folder_features
    from ..snn.network import NEVER, Thresholds

    return folder_features(Path(root) / part, _network(root, weights_dir, weights), Thresholds(conv1, conv2, NEVER),
                           cache_dir=cache, device=device, progress=progress)


def bank(data: dict):
    """The study's feature sets as a FeatureBank (what the protocols read), through the cached loader."""
    from ..naming.sources import FeatureBank

    def load(weights: str, thresholds, part: str):
        return features(data["root"], data[part], data["weights_dir"], weights, thresholds.conv1, thresholds.conv2,
                        data["cache"], data["device"])

    return FeatureBank(load, memo=False)


def thresholds(p: dict):
    from ..snn.network import NEVER, Thresholds

    return Thresholds(p["conv1"], p["conv2"], NEVER)


def rule(p: dict) -> dict:
    return {k: p[k] for k in NAME_NEURON_PARAMS}


def feature_pair(data: dict, weights: str, conv1: float, conv2: float):
    return tuple(features(data["root"], data[part], data["weights_dir"], weights, conv1, conv2, data["cache"],
                          data["device"]) for part in ("train", "test"))


def draws(labels, p: dict, index: list[dict]):
    """Each point's training indices: seeded per point, the repeat-th of the study's sequence, or the
    first N per class."""
    from ..naming.experiments import first_shots, sample_shots

    if p["pick"] == "first":
        return [first_shots(labels, q["shots"]) for q in index]
    if p["pick"] == "sequence":
        stream = sample_shots(labels, p["shots"], max(q["repeat"] for q in index) + 1, p["seed"] - p["repeat"])
        return [stream[q["repeat"]] for q in index]
    return [sample_shots(labels, q["shots"], 1, q["seed"])[0] for q in index]


def split_draws(sizes: list[int], p: dict, index: list[dict], pooled=None, groups=None):
    """Each point's (train, test) indices into the pooled images: seeded per point, or the repeat-th of
    the study's sequence (whole groups, given the pooled set and its groups)."""
    from ..naming.experiments import random_splits

    if any(p["train_per_class"] >= n for n in sizes):
        raise StudyError(f"train_per_class = {p['train_per_class']} leaves no test image (class sizes {sizes})")
    if groups is not None and pooled is not None:
        from ..naming.groups import grouped_random_splits

        ids = groups.of(pooled.paths)
        split = lambda n, seed: grouped_random_splits(pooled.labels, ids, p["train_per_class"], n, seed, pooled.classes)  # noqa: E731
        if p["pick"] == "sequence":
            stream = split(max(q["repeat"] for q in index) + 1, p["seed"] - p["repeat"])
            return [stream[q["repeat"]] for q in index]
        return [split(1, q["seed"])[0] for q in index]
    train_sizes = [p["train_per_class"]] * len(sizes)
    if p["pick"] == "sequence":
        stream = random_splits(sizes, train_sizes, max(q["repeat"] for q in index) + 1, p["seed"] - p["repeat"])
        return [stream[q["repeat"]] for q in index]
    return [random_splits(sizes, train_sizes, 1, q["seed"])[0] for q in index]


@register_engine
class NamingShots(NamingEngine):
    """One point = one N-shot training set (N images per class): naming and the SVM on the same images."""

    name = "naming.shots"
    params = {
        **NamingEngine.common,
        "novelty": Param(float, N.ONESHOT_NOVELTY, help="λ: learning-rate factor for novel images"),
        "shots": Param(int, 1, help="N training images per class"),
        "pick": Param(str, "random", ("random", "sequence", "first"), help=PICK_HELP + "; first: the first N"),
        "svm": Param(bool, True, help="also score the SVM on the same training images"),
        "svm_weights": Param(str, N.ONESHOT_SVM_WEIGHTS),
    }
    metrics = ("naming", "svm")
    metric_ranges = {"naming": (0.0, 1.0), "svm": (0.0, 1.0)}
    unit_size = 250

    def complete(self, params: dict) -> dict:
        if params["pick"] == "first":
            params["seed"] = 0  # the first N images are the same whatever the seed
        return params

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.protocols import shots

        p0 = points[0]
        pair = feature_pair(data, p0["weights"], p0["conv1"], p0["conv2"])
        svm = feature_pair(data, p0["svm_weights"], *SVM_THRESHOLDS) if p0["svm"] else None
        result = shots(draws(pair[0].labels, p0, points), pair, rule(p0), svm, groups=grouping(data))
        return [{"naming": result.naming[k], **({"svm": result.svm[k]} if svm else {})} for k in range(len(points))]


@register_engine
class NamingCorrectedShots(NamingEngine):
    """Corrected mode's shot protocol, as `recollect naming shots --mode corrected` and `reproduce` run it:
    one point = one N-shot training set, named by the candidate configuration (weights × thresholds ×
    inputs × activity threshold, from the presets) that named best on shot runs inside the training
    folder (searched once per unit, seeded by the study seed)."""

    name = "naming.corrected_shots"
    params = {
        "weights": Param(str, ",".join(N.PRESETS), help="comma-separated weight sets whose candidates are searched "
                                                        "(a published one brings its preset thresholds)"),
        "init": Param(float, N.PAPER_INIT), "novelty": Param(float, N.ONESHOT_NOVELTY), "rate": Param(float, 1.0),
        "shots": Param(int, 1, help="N training images per class"),
        "pick": Param(str, "sequence", ("sequence", "random"), help=PICK_HELP),
        "validation_runs": Param(int, N.VALIDATION_RUNS, help="runs inside the training folder scoring each candidate"),
        "svm": Param(bool, True, help="also score the SVM on the same training images"),
        "svm_weights": Param(str, N.ONESHOT_SVM_WEIGHTS),
        "repeat": Param(int, 0), "seed": Param(int, 0),
    }
    metrics = ("naming", "svm", "validation")
    unit_size = 500

    def candidates(self, p: dict):
        weights = [w.strip() for w in p["weights"].split(",") if w.strip()]
        if not weights:
            raise StudyError("weights: name at least one weight set")
        return N.oneshot_candidates(weights, None, {k: p[k] for k in ("init", "novelty", "rate")})

    def weight_sets(self, points: list[dict]) -> set[tuple[str, float, float]]:
        sets = {(c.weights, c.thresholds.conv1, c.thresholds.conv2) for p in points for c in self.candidates(p)}
        return sets | {(p["svm_weights"], *SVM_THRESHOLDS) for p in points if p["svm"]}

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.protocols import corrected_shots, shot_labels

        p0 = points[0]
        candidates = self.candidates(p0)
        features = bank(data)
        index = draws(shot_labels(features, candidates), p0, points)
        svm = (p0["svm_weights"], N.SVM_THRESHOLDS) if p0["svm"] else None
        result = corrected_shots(features, candidates, index, svm, p0["shots"], p0["validation_runs"],
                                 p0["seed"] - p0["repeat"], groups=grouping(data))
        best = max(result.validation_scores)
        return [{"naming": result.naming[k], **({"svm": result.svm[k]} if svm else {}), "validation": best}
                for k in range(len(points))]


@register_engine
class NamingSplits(NamingEngine):
    """One point = one random train/test split of the pooled images: naming and the SVM on it."""

    name = "naming.splits"
    params = {
        **NamingEngine.common,
        "train_per_class": Param(int, N.SPLIT_TRAIN_PER_CLASS),
        "pick": Param(str, "random", ("random", "sequence"), help=PICK_HELP.replace("naming shots", "naming splits")
                      .replace("--runs", "--splits")),
        "svm": Param(bool, True),
        "svm_weights": Param(str, N.DEFAULT_WEIGHTS),
    }
    metrics = ("naming", "svm")
    metric_ranges = {"naming": (0.0, 1.0), "svm": (0.0, 1.0)}
    unit_size = 25

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.protocols import pool, splits

        p0 = points[0]
        naming, sizes = pool(feature_pair(data, p0["weights"], p0["conv1"], p0["conv2"]))
        svm = pool(feature_pair(data, p0["svm_weights"], *SVM_THRESHOLDS))[0] if p0["svm"] else None
        result = splits(split_draws(sizes, p0, points, naming, grouping(data)), naming, rule(p0), svm)
        return [{"naming": result.naming[k], **({"svm": result.svm[k]} if svm is not None else {})}
                for k in range(len(points))]


@register_engine
class NamingCorrectedSplits(NamingEngine):
    """Corrected mode on random splits, as `recollect naming splits --mode corrected` and `reproduce` run
    it: one point = one split, the thresholds chosen by k-fold cross-validation on its training part
    (seeded by the point's seed + 1000), the corrected rule scored on its test part, the SVM beside."""

    name = "naming.corrected_splits"
    params = {
        "weights": Param(str, N.DEFAULT_WEIGHTS, help="the weight set whose threshold grid is searched"),
        "train_per_class": Param(int, N.SPLIT_TRAIN_PER_CLASS),
        "pick": Param(str, "sequence", ("sequence", "random"), help=NamingSplits.params["pick"].help),
        "svm": Param(bool, True), "svm_weights": Param(str, N.DEFAULT_WEIGHTS),
        "repeat": Param(int, 0), "seed": Param(int, 0),
    }
    metrics = ("naming", "svm")
    unit_size = 5

    def weight_sets(self, points: list[dict]) -> set[tuple[str, float, float]]:
        sets = {(p["weights"], th.conv1, th.conv2) for p in points for th in N.CORRECTED_THRESHOLDS}
        return sets | {(p["svm_weights"], *SVM_THRESHOLDS) for p in points if p["svm"]}

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.protocols import corrected_splits, pool

        p0 = points[0]
        pooled, sizes = pool(feature_pair(data, p0["weights"], *N.RUN61_VALUES))
        index_pairs = split_draws(sizes, p0, points, pooled, grouping(data))
        svm = (p0["svm_weights"], N.SVM_THRESHOLDS) if p0["svm"] else None
        result = corrected_splits(bank(data), p0["weights"], index_pairs, [p["seed"] + 1000 for p in points], svm,
                                  groups=grouping(data))
        return [{"naming": result.naming[k], **({"svm": result.svm[k]} if svm else {})} for k in range(len(points))]


@register_engine
class NamingThresholds(NamingEngine):
    """The research code's ``find_params``: network thresholds and init, scored on a validation part
    of the training folder (for choosing) and on the test folder (for reporting the choice)."""

    name = "naming.thresholds"
    params = {
        **NamingEngine.common,
        "validation": Param(float, 0.25, help="fraction of each training class held out for validation"),
    }
    metrics = ("validation", "test", "train")
    metric_ranges = {"validation": (0.0, 1.0), "test": (0.0, 1.0), "train": (0.0, 1.0)}
    unit_size = 16

    def check_point(self, data: dict, params: dict) -> str | None:
        if not 0.0 < params["validation"] < 1.0:
            return f"validation must be a fraction in (0, 1), got {params['validation']}"
        return super().check_point(data, params)

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from dataclasses import asdict

        from ..naming.protocols import score_setting

        out = []
        for p in points:
            if not 0.0 < p["validation"] < 1.0:
                raise StudyError(f"validation must be a fraction in (0, 1), got {p['validation']}")
            pair = feature_pair(data, p["weights"], p["conv1"], p["conv2"])
            out.append(asdict(score_setting(pair, rule(p), p["validation"], p["seed"], grouping(data))))
        return out


@register_engine
class NamingRecall(NamingEngine):
    """Spiking recall: one point = one name recalled back to the input (naming/recall.py), scored by its
    similarity to each class's mean DoG map and by naming the recalled pattern (the recall → perception
    loop)."""

    name = "naming.recall"
    data = {
        **{k: v for k, v in NamingEngine.data.items() if k != "groups"},  # one name at a time: nothing is split
        "mnist_dir": Param(str, "mnist", help="MNIST idx files, relative to root (dataset = mnist)"),
        "gallery": Param(bool, True, help="save each recalled map (DoG | image estimate) for the report"),
    }
    params = {
        "dataset": Param(str, "caltech", ("caltech", "mnist"), help="Caltech faces/motorbikes, or MNIST 0 vs 1"),
        "weights": Param(str, N.DEFAULT_WEIGHTS),
        "conv1": Param(float, N.RUN61_VALUES[0]), "conv2": Param(float, N.RUN61_VALUES[1]),
        "rule": Param(str, "paper", tuple(N.RULES)),
        "training": Param(str, "full", ("full", "oneshot")),
        "flavour": Param(str, "rate", ("rate", "spikes")),
        "cue": Param(bool, False, help="reinstate with the switches of a perceived test image of the class"),
        "name": Param(int, 0, help="the class whose name neuron is recalled"),
        "keep": Param(float, 0.2, help="spikes flavour: fraction of each layer that fires"),
        "repeat": Param(int, 0), "seed": Param(int, 0),
    }
    metrics = ("r_own", "r_other", "margin", "closer_to_own", "named_correctly", "named")
    metric_ranges = {"r_own": (-1.0, 1.0), "r_other": (-1.0, 1.0), "margin": (-2.0, 2.0), "closer_to_own": (0.0, 1.0),
                     "named_correctly": (0.0, 1.0)}
    unit_size = 64

    def weight_sets(self, points):
        return set()  # prepare() builds the recall set-ups (features and class means) itself

    def complete(self, params: dict) -> dict:
        if params["training"] == "full":
            params["seed"] = params["repeat"] = 0  # nothing random: the repeats are the same point
        return params

    def unit_key(self, params: dict) -> tuple:
        return tuple(repr(params[k]) for k in ("dataset", "weights", "conv1", "conv2", "rule", "training", "seed"))

    def finalize(self, data: dict, points: list[dict], artifacts: Path) -> None:
        """The diagnostics of the recall set-ups' features (train and test, per data set and weights)."""
        from ..io import write_json
        from ..naming.diagnostics import diagnose

        sets = {}
        for key in sorted({(p["dataset"], p["weights"], p["conv1"], p["conv2"]) for p in points}):
            s = recall_setup(data["root"], data["mnist_dir"], data["weights_dir"], data["cache"], *key)
            sets[f"{key[0]} {Path(key[1]).name} {key[2]:g}/{key[3]:g}"] = (key[1], s.thresholds,
                                                                          {"train": s.train, "test": s.test})
        if sets:
            diagnostics = diagnose(sets)
            write_json(artifacts / DIAGNOSTICS, diagnostics.as_dict())
            diagnostics.emit()

    def prepare(self, data: dict, points: list[dict], progress=None) -> None:
        for key in sorted({(p["dataset"], p["weights"], p["conv1"], p["conv2"]) for p in points}):
            recall_setup(data["root"], data["mnist_dir"], data["weights_dir"], data["cache"], *key)

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..io import save_png
        from ..naming.recall import cue_for, recall_name, recall_picture, score, train_names

        p0 = points[0]
        s = recall_setup(data["root"], data["mnist_dir"], data["weights_dir"], data["cache"], p0["dataset"], p0["weights"],
                         p0["conv1"], p0["conv2"])
        names = train_names(s, p0["training"], p0["seed"], p0["rule"])
        out = []
        for p in points:
            if not 0 <= p["name"] < len(s.classes):
                raise StudyError(f"name = {p['name']}: the data set has classes 0..{len(s.classes) - 1}")
            recalled = recall_name(s, names, p["name"], p["flavour"], cue_for(s, p["name"]) if p["cue"] else None,
                                   keep=p["keep"])
            if artifacts is not None and data["gallery"]:
                save_png(recall_picture(recalled), artifacts / f"{p['_hash']}.png")
            out.append(score(s, names, recalled, p["name"]))
        return out


@lru_cache(maxsize=4)
def recall_setup(root: str, mnist_dir: str, weights_dir: str, cache: str, dataset: str, weights: str, conv1: float,
                 conv2: float):
    """:func:`recollection.naming.protocols.recall_setup`, kept per worker (its features and class means)."""
    from ..naming.protocols import recall_setup as setup
    from ..snn.network import NEVER, Thresholds

    return setup(dataset, weights, Thresholds(conv1, conv2, NEVER), root, cache, mnist_dir, weights_dir)
