"""``cnn.attend`` and ``naming.attend``: one point = one pair of components, mixed, each cued class (or
name) neuron recalled from the mix and scored against each component (attention/)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..attention.api import side_by_side
from ..attention.options import ATTEND_PARAMS, SEED, canonical
from ..cnn.registry import model_options
from ..io import save_png
from .naming_engine import NamingEngine
from .schema import Engine, Param, StudyError, register_engine

if TYPE_CHECKING:
    from ..attention.engine import Perception
    from ..attention.pairs import Pairs
    from ..cnn.models import LoadedModel
    from ..naming.recall import RecallSetup

DRAWN = "drawn-digits"
CNN_METRICS = ("selectivity", "r_own", "r_other", "pointing", "energy_in_mask", "sees_a_component", "predicted")
PERCEPTION_KEYS = ("model", "random_init", "mix")  # what the recorded forward passes depend on


@register_engine
class CnnAttend(Engine):
    name = "cnn.attend"
    data = {
        "images": Param(str, "../shared/data/mnist", help=f"a folder with MNIST's idx .gz files, or {DRAWN!r}"),
        "pairs": Param(int, 200, help="how many pairs of different digits"),
        "pair_seed": Param(int, 0, help="seed of the pair drawing"),
        "weights": Param(str, None, help="weights file for the model (default: its embedded weights)"),
        "device": Param(str, "cpu", ("cpu", "cuda")),
        "gallery": Param(int, 6, help="save the mixes and recalls of the first N pairs for the report"),
    }
    params = {
        "pair": Param(str, ""),
        **model_options("digits"),
        **ATTEND_PARAMS,
        "repeat": Param(int, 0),
        "seed": SEED,
    }
    metrics = CNN_METRICS
    metric_ranges = {"selectivity": (-2.0, 2.0), "r_own": (-1.0, 1.0), "r_other": (-1.0, 1.0), "pointing": (0.0, 1.0),
                     "energy_in_mask": (0.0, 1.0), "sees_a_component": (0.0, 1.0)}
    unit_size = 1000
    split_groups = False  # a unit's pairs share one attention run; the random-class draws span all pairs

    def check_data(self, data: dict, where: str) -> dict:
        data = super().check_data(data, where)
        if data["images"] != DRAWN and not Path(data["images"]).is_dir():
            raise StudyError(f"{where}: [data] images: {data['images']} is not a folder with MNIST's idx files "
                             f"(or write {DRAWN!r} for the embedded drawn digits)")
        if data["pairs"] < 1:
            raise StudyError(f"{where}: [data] pairs: expected at least 1, got {data['pairs']}")
        return data

    def axes(self, data: dict) -> dict[str, list]:
        return {"pair": [f"pair-{i:03d}" for i in range(data["pairs"])]}

    def complete(self, params: dict) -> dict:
        params = canonical(params)
        if params["cue"] != "random-class" and params["unpool"] != "random":
            params["seed"] = params["repeat"] = 0  # nothing random: the repeats are the same point
        return params

    def unit_key(self, params: dict) -> tuple:
        return tuple(repr(params[k]) for k in self.params if k not in ("pair", "repeat"))

    def prepare(self, data: dict, points: list[dict], progress: Callable[[int], None] | None = None) -> None:
        """Load the models and draw the pairs once here, so a missing file stops the study in one line."""
        for model, random_init in sorted({(p["model"], p["random_init"]) for p in points}):
            pairs_for(data, model, random_init)
        if any(p["method"] != "recollection" for p in points):
            from ..attention.peers import captum_attr

            captum_attr()

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..attention.engine import Attender
        from ..attention.options import attender_options

        first = points[0]
        info, pairs = pairs_for(data, first["model"], first["random_init"])
        perception = perceived(data, first["model"], first["random_init"], first["mix"])
        attender = Attender(info.model, transform=info.normalise, classes=info.classes, device=data["device"],
                            seed=first["seed"], **attender_options(first))
        result = attender.attend(perception, pairs.labels)
        out = []
        for p in points:
            i = pairs.names.index(p["pair"])
            scores = result.scores(i)
            scores["predicted"] = info.classes[int(result.predicted[i])]
            if artifacts is not None and i < data["gallery"]:
                for k, recall in enumerate(result.recalls[i]):
                    save_png(side_by_side([recall]), artifacts / f"{p['_hash']}-cue{k}.png")
            out.append(scores)
        return out

    def finalize(self, data: dict, points: list[dict], artifacts: Path) -> None:
        """The components and each mix of the gallery's pairs (as the model sees them)."""
        from ..attention.mixes import mix_components

        for model, random_init, mix in sorted({tuple(p[k] for k in PERCEPTION_KEYS) for p in points}):
            _, pairs = pairs_for(data, model, random_init)
            shown = pairs.components[: data["gallery"]]
            if not len(shown):
                continue
            mixed = mix_components(shown, mix)
            for i, name in enumerate(pairs.names[: len(shown)]):
                save_png(side_by_side([mixed.pixels[i]]), artifacts / f"mix-{mix}-{name}.png")
                for k, component in enumerate(mixed.placed[i]):
                    save_png(side_by_side([component]), artifacts / f"component-{mix}-{name}-{k}.png")


@lru_cache(maxsize=4)
def _model(name: str, random_init: bool, weights: str | None) -> LoadedModel:
    from ..cnn.models import load_model

    return load_model(name, weights, random_init=random_init, download_ok=False)


@lru_cache(maxsize=4)
def _pairs(name: str, random_init: bool, weights: str | None, images: str, n: int,
           seed: int) -> tuple[LoadedModel, Pairs]:
    from ..attention.pairs import digit_pairs
    from ..cnn.models import packaged_digits_weights

    info = _model(name, random_init, weights)
    card = Path(weights).with_suffix(".json") if weights else (packaged_digits_weights().with_suffix(".json")
                                                               if name == "digits" else None)
    return info, digit_pairs(images, n, seed, info.to_pixels, card)


def pairs_for(data: dict, model: str, random_init: bool) -> tuple[LoadedModel, Pairs]:
    from ..errors import WeightsError

    try:
        return _pairs(model, random_init, data["weights"], data["images"], data["pairs"], data["pair_seed"])
    except WeightsError as e:
        raise WeightsError(f"{e} In a study: --set data.weights='\"PATH\"', or --set params.random_init=true "
                           "for the random-weights control.") from None


_perceptions: dict[tuple, Perception] = {}


def perceived(data: dict, model: str, random_init: bool, mix: str) -> Perception:
    """The recorded forward passes of every mix, computed once per worker and model: every retrace
    option, cue and control of the study recalls from them."""
    key = (model, random_init, mix, data["weights"], data["images"], data["pairs"], data["pair_seed"], data["device"])
    if key not in _perceptions:
        from ..attention.engine import Attender
        from ..attention.mixes import mix_components

        info, pairs = pairs_for(data, model, random_init)
        if len(_perceptions) >= 2:
            _perceptions.clear()  # bounded memory
        _perceptions[key] = Attender(info.model, transform=info.normalise, device=data["device"]).perceive(
            mix_components(pairs.components, mix))
    return _perceptions[key]


# --- the spiking side -------------------------------------------------------------------------------
@register_engine
class NamingAttend(NamingEngine):
    """A face and a motorbike mixed; each name neuron recalled with the mix's switches (attention/spiking.py)."""

    name = "naming.attend"
    data = {
        **NamingEngine.data,
        "pairs": Param(int, 100, help="how many (face, motorbike) pairs of the test set"),
        "pair_seed": Param(int, 0, help="seed of the pair drawing"),
        "gallery": Param(int, 6, help="save the mix and both recalls of the first N pairs for the report"),
    }
    params = {
        "pair": Param(str, ""),
        "weights": Param(str, "run61"), "conv1": Param(float, 7.0), "conv2": Param(float, 20.25),
        "rule": Param(str, "paper", ("paper", "corrected")),
        "mix": Param(str, "max", ("max", "mean")),
        "switches": Param(str, "mix", ("mix", "own", "none"), help="mix: the mixed image's (attention); own: each "
                          "name with its own component's (a reference); none: spreading through the pools (control)"),
        "flavour": Param(str, "rate", ("rate", "spikes")),
        "keep": Param(float, 0.2, help="spikes flavour: fraction of each layer that fires"),
        "repeat": Param(int, 0), "seed": Param(int, 0),
    }
    metrics = ("selectivity", "r_own", "r_other", "closer_0", "closer_1")  # closer_k: name k's recall nearer its own
    metric_ranges = {"selectivity": (-2.0, 2.0), "r_own": (-1.0, 1.0), "r_other": (-1.0, 1.0), "closer_0": (0.0, 1.0),
                     "closer_1": (0.0, 1.0)}
    unit_size = 50

    def axes(self, data: dict) -> dict[str, list]:
        return {"pair": [f"pair-{i:03d}" for i in range(data["pairs"])]}

    def complete(self, params: dict) -> dict:
        params["seed"] = params["repeat"] = 0  # nothing random once the pairs are drawn
        return params

    def unit_key(self, params: dict) -> tuple:
        return tuple(repr(params[k]) for k in ("weights", "conv1", "conv2", "rule"))

    def weight_sets(self, points: list[dict]) -> set[tuple[str, float, float]]:
        return set()

    def prepare(self, data: dict, points: list[dict], progress: Callable[[int], None] | None = None) -> None:
        for key in sorted({(p["weights"], p["conv1"], p["conv2"]) for p in points}):
            spiking_setup(data, *key)

    def run_unit(self, data: dict, points: list[dict], artifacts: Path | None) -> list[dict[str, Any]]:
        from ..attention.spiking import attend_spiking, class_pairs, pictures
        from ..naming.recall import train_names

        p0 = points[0]
        s = spiking_setup(data, p0["weights"], p0["conv1"], p0["conv2"])
        if len(s.classes) != 2:
            raise StudyError(f"naming.attend needs a two-class test set; {data['test']} has {len(s.classes)}")
        names = train_names(s, "full", 0, p0["rule"])
        chosen = class_pairs(s.test.labels, data["pairs"], data["pair_seed"])
        out = []
        for p in points:
            i = int(p["pair"].removeprefix("pair-"))
            paths = tuple(s.test.paths[j] for j in chosen[i])
            result = attend_spiking(s, names, paths, p["mix"], p["switches"], p["flavour"], p["keep"])
            if artifacts is not None and i < data["gallery"]:
                components, mix, recalls = pictures(result)
                for k, recall in enumerate(recalls):
                    save_png(recall, artifacts / f"{p['_hash']}-cue{k}.png")
                save_png(mix, artifacts / f"mix-{p['mix']}-{p['pair']}.png")
                for k, component in enumerate(components):
                    save_png(component, artifacts / f"component-{p['mix']}-{p['pair']}-{k}.png")
            out.append(result.scores())
        return out


def spiking_setup(data: dict, weights: str, conv1: float, conv2: float) -> RecallSetup:
    return _spiking_setup(data["root"], data["train"], data["test"], data["weights_dir"], data["cache"], weights,
                          conv1, conv2)


@lru_cache(maxsize=4)
def _spiking_setup(root: str, train: str, test: str, weights_dir: str, cache: str, weights: str, conv1: float,
                   conv2: float) -> RecallSetup:
    from ..naming.recall import setup
    from ..snn.network import NEVER, Thresholds

    path = Path(weights) if Path(weights).is_dir() else Path(root) / weights_dir / weights
    return setup(Path(root) / train, Path(root) / test, path, Thresholds(conv1, conv2, NEVER), cache)
