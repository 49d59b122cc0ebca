"""Spiking naming engines: one-shot / few-shot pairs, random train/test splits, and the threshold
search. Features (per image folder × weights × thresholds) are extracted once, before the points run,
and read from the on-disk cache by every worker."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any


from .schema import Engine, Param, StudyError, register_engine

NAME_NEURON_PARAMS = ("mode", "init", "init_std", "novelty", "rate", "readout", "epochs", "surprise", "inputs",
                      "active_threshold")
SVM_THRESHOLDS = (10.0, 50.0)


class NamingEngine(Engine):
    data = {
        "root": Param(str, None, help="folder holding caltech_face_motor/ and sdnn_weights/ (default ../shared/data "
                                      "or $RECOLLECTION_DATA)"),
        "train": Param(str, "caltech_face_motor/TrainingSet", help="training image folder, relative to root"),
        "test": Param(str, "caltech_face_motor/TestingSet", help="test image folder, relative to root"),
        "weights_dir": Param(str, "sdnn_weights", help="folder of weight sets (one sub-folder each), relative to root"),
        "cache": Param(str, None, help="feature cache (default ~/.cache/recollection/snn)"),
        "device": Param(str, "cpu", ("cpu", "cuda")),
    }
    common = {
        "weights": Param(str, "run61", help="a weight set in weights_dir"),
        "conv1": Param(float, 7.0), "conv2": Param(float, 20.25),
        "mode": Param(str, "paper", ("paper", "corrected")),
        "init": Param(float, 0.575), "init_std": Param(float, 0.05),
        "novelty": Param(float, 1.0), "rate": Param(float, 1.0),
        "readout": Param(str, "sum", ("sum", "weighted")),
        "epochs": Param(int, 1), "surprise": Param(float, 1.0),
        "inputs": Param(str, "neurons", ("neurons", "maps")),
        "active_threshold": Param(float, 10.0),
        "repeat": Param(int, 0), "seed": Param(int, 0),
    }

    def check_data(self, data: dict, where: str) -> dict:
        data = super().check_data(data, where)
        from ..naming.reproduce import SharedData

        if data["root"] is None:
            try:
                data["root"] = str(SharedData.find(None).root)
            except Exception:
                raise StudyError(f"{where}: [data] root: no data found at ../shared/data or $RECOLLECTION_DATA; "
                                 "set root, or fetch the images with `recollect data fetch caltech101`") from None
        for key in ("train", "test"):
            if not (Path(data["root"]) / data[key]).is_dir():
                raise StudyError(f"{where}: [data] {key}: {Path(data['root']) / data[key]} is not an image folder")
        if data["cache"] is None:
            from ..snn.features import default_cache

            data["cache"] = str(default_cache())
        return data

    def check_point(self, data: dict, params: dict) -> str | None:
        """A weight set that is not there (a typo in weights or svm_weights)."""
        names = [params[k] for k in ("weights", "svm_weights") if params.get(k) and (k == "weights" or params.get("svm"))]
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


@lru_cache(maxsize=16)
def _network(root: str, weights_dir: str, weights: str):
    from ..snn.network import SpikingNetwork, load_weights

    path = Path(weights) if Path(weights).is_dir() else Path(root) / weights_dir / weights
    return SpikingNetwork(load_weights(path))


@lru_cache(maxsize=32)
def features(root: str, part: str, weights_dir: str, weights: str, conv1: float, conv2: float, cache: str,
             device: str = "cpu", progress=None):
    """A folder's features, from the disk cache when there (shared by every worker and study)."""
    from ..snn.features import folder_features
    from ..snn.network import NEVER, Thresholds

    return folder_features(Path(root) / part, _network(root, weights_dir, weights), Thresholds(conv1, conv2, NEVER),
                           cache_dir=cache, device=device, progress=progress)


def naming_rule(p: dict):
    from ..naming.neurons import NameNeurons

    return NameNeurons(**{k: p[k] for k in NAME_NEURON_PARAMS})


def feature_pair(data: dict, weights: str, conv1: float, conv2: float):
    return tuple(features(data["root"], data[part], data["weights_dir"], weights, conv1, conv2, data["cache"],
                          data["device"]) for part in ("train", "test"))


@register_engine
class NamingShots(NamingEngine):
    """One point = one N-shot training set (N images per class): naming and the SVM on the same images."""

    name = "naming.shots"
    params = {
        **NamingEngine.common,
        "novelty": Param(float, 65.0, help="λ: learning-rate factor for novel images"),
        "shots": Param(int, 1, help="N training images per class"),
        "pick": Param(str, "random", ("random", "first"), help="random N per class (seeded), or the first N"),
        "svm": Param(bool, True, help="also score the SVM on the same training images"),
        "svm_weights": Param(str, "svm_oneshot"),
    }
    metrics = ("naming", "svm")
    metric_ranges = {"naming": (0.0, 1.0), "svm": (0.0, 1.0)}
    unit_size = 250


    def complete(self, params: dict) -> dict:
        if params["pick"] == "first":
            params["seed"] = 0  # the first N images are the same whatever the seed
        return params

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.experiments import NamingScorer, accuracy, first_shots, sample_shots
        from ..naming.svm import SpikeSVM

        p0 = points[0]
        train, test = feature_pair(data, p0["weights"], p0["conv1"], p0["conv2"])
        scorer = NamingScorer(naming_rule(p0), test)
        if p0["svm"]:
            svm_train, svm_test = feature_pair(data, p0["svm_weights"], *SVM_THRESHOLDS)
            svm_test_features = SpikeSVM.peak_features(svm_test.potentials)
        out = []
        for p in points:
            if p["pick"] == "first":
                index = first_shots(train.labels, p["shots"])
            else:
                index = sample_shots(train.labels, p["shots"], 1, p["seed"])[0]
            row = {"naming": scorer.run(train.subset(index))[1]}
            if p["svm"]:
                sub = svm_train.subset(index)
                row["svm"] = accuracy(SpikeSVM().fit(sub.potentials, sub.labels).predict(svm_test_features),
                                      svm_test.labels)
            out.append(row)
        return out


@register_engine
class NamingSplits(NamingEngine):
    """One point = one random train/test split of the pooled images: naming and the SVM on it."""

    name = "naming.splits"
    params = {
        **NamingEngine.common,
        "train_per_class": Param(int, 200),
        "svm": Param(bool, True),
        "svm_weights": Param(str, "run61"),
    }
    metrics = ("naming", "svm")
    metric_ranges = {"naming": (0.0, 1.0), "svm": (0.0, 1.0)}
    unit_size = 25


    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.experiments import NamingScorer, accuracy, pooled, random_splits
        from ..naming.svm import SpikeSVM

        p0 = points[0]
        naming_set, sizes = pooled(*feature_pair(data, p0["weights"], p0["conv1"], p0["conv2"]))
        if p0["svm"]:
            svm_set, _ = pooled(*feature_pair(data, p0["svm_weights"], *SVM_THRESHOLDS))
        out = []
        for p in points:
            if any(p["train_per_class"] >= n for n in sizes):
                raise StudyError(f"train_per_class = {p['train_per_class']} leaves no test image "
                                 f"(class sizes {sizes})")
            tr, te = random_splits(sizes, [p["train_per_class"]] * len(sizes), 1, p["seed"])[0]
            row = {"naming": NamingScorer(naming_rule(p), naming_set.subset(te)).run(naming_set.subset(tr))[1]}
            if p["svm"]:
                a, b = svm_set.subset(tr), svm_set.subset(te)
                row["svm"] = accuracy(SpikeSVM().fit(a.potentials, a.labels).predict(b.potentials), b.labels)
            out.append(row)
        return out


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
        from ..naming.experiments import NamingScorer, accuracy
        from ..naming.reproduce import validation_split

        out = []
        for p in points:
            if not 0.0 < p["validation"] < 1.0:
                raise StudyError(f"validation must be a fraction in (0, 1), got {p['validation']}")
            train, test = feature_pair(data, p["weights"], p["conv1"], p["conv2"])
            fit, val = validation_split(train.labels, p["validation"], p["seed"])
            rule = naming_rule(p)
            model, test_acc = NamingScorer(rule, test).run(train)
            out.append({"validation": NamingScorer(rule, train.subset(val)).run(train.subset(fit))[1],
                        "test": test_acc, "train": accuracy(model.predict(train.potentials), train.labels)})
        return out


@register_engine
class NamingRecall(NamingEngine):
    """Spiking recall: one point = one name recalled back to the input (naming/recall.py), scored by its
    similarity to each class's mean DoG map and by naming the recalled pattern (the recall → perception
    loop)."""

    name = "naming.recall"
    data = {
        **NamingEngine.data,
        "mnist_dir": Param(str, "mnist", help="MNIST idx files, relative to root (dataset = mnist)"),
        "gallery": Param(bool, True, help="save each recalled map (DoG | image estimate) for the report"),
    }
    params = {
        "dataset": Param(str, "caltech", ("caltech", "mnist"), help="Caltech faces/motorbikes, or MNIST 0 vs 1"),
        "weights": Param(str, "run61"), "conv1": Param(float, 7.0), "conv2": Param(float, 20.25),
        "rule": Param(str, "paper", ("paper", "corrected")),
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

    def prepare(self, data: dict, points: list[dict], progress=None) -> None:
        for key in sorted({(p["dataset"], p["weights"], p["conv1"], p["conv2"]) for p in points}):
            recall_setup(data["root"], data["mnist_dir"], data["weights_dir"], data["cache"], *key)

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..naming.recall import cue_for, recall_name, recall_picture, score, train_names
        from ..io import save_png

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
    from ..naming.recall import mnist_folders, setup
    from ..snn.network import NEVER, Thresholds

    if dataset == "caltech":
        train, test = Path(root) / "caltech_face_motor" / "TrainingSet", Path(root) / "caltech_face_motor" / "TestingSet"
    else:
        train, test = mnist_folders(Path(cache) / "mnist-0-1", Path(root) / mnist_dir)
    path = Path(weights) if Path(weights).is_dir() else Path(root) / weights_dir / weights
    return setup(train, test, path, Thresholds(conv1, conv2, NEVER), cache)
