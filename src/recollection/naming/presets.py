"""The naming half's published settings, in one place: every front end (the CLI, ``reproduce``, the
studies, the dashboard) reads them from here.

- the network thresholds the paper names with (per published weight set) and the SVM's 10/50;
- the name neurons' rules: the paper's (init per weight set, λ = 65 one-shot, λ ∈ {55, 60, 65}
  upstream) and corrected mode's (the depression bug fixed, surprise gating);
- corrected mode's search spaces: the threshold grid of full-data naming and the one-shot candidate
  set (weights × thresholds × inputs × activity threshold);
- where the shared data is (``--data``, else ``$RECOLLECTION_DATA``, else ``../shared/data``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from ..errors import RecollectionError

if TYPE_CHECKING:
    from ..snn.network import Thresholds

# --- network thresholds (conv1, conv2; conv3 integrates without firing) ---------------------------
# Plain numbers, so that reading a preset (the CLI's help, a study's defaults) costs no torch import;
# the Thresholds objects below (SVM_THRESHOLDS, RUN61_NAMING, …) are made from them on first use.
SVM_VALUES = (10.0, 50.0)  # the SVM's features (spec §4)
RUN61_VALUES = (7.0, 20.25)  # the paper's naming thresholds for run61
UPSTREAM_VALUES = (6.25, 20.75)  # … and for the upstream weights
CORRECTED_GRID = tuple((c1, c2) for c1 in (6.0, 7.0, 8.0) for c2 in (16.0, 20.25, 24.0, 28.0))  # corrected mode's


def thresholds(values: Sequence[float]) -> "Thresholds":
    """(conv1, conv2) → the network's Thresholds (conv3 never fires)."""
    from ..snn.network import NEVER, Thresholds

    return Thresholds(float(values[0]), float(values[1]), NEVER)


def thresholds_text(t: "Thresholds | Sequence[float]") -> str:
    """``7,20.25``: how the CLI writes (and parses) a threshold pair."""
    if isinstance(t, Sequence):
        c1, c2 = t[0], t[1]
    else:
        c1, c2 = t.conv1, t.conv2
    return f"{c1:g},{c2:g}"


_LAZY = {"SVM_THRESHOLDS": lambda: thresholds(SVM_VALUES), "RUN61_NAMING": lambda: thresholds(RUN61_VALUES),
         "UPSTREAM_NAMING": lambda: thresholds(UPSTREAM_VALUES),
         "CORRECTED_THRESHOLDS": lambda: tuple(thresholds(v) for v in CORRECTED_GRID)}


def __getattr__(name: str):
    """SVM_THRESHOLDS, RUN61_NAMING, UPSTREAM_NAMING, CORRECTED_THRESHOLDS: Thresholds, made once."""
    if name in _LAZY:
        globals()[name] = value = _LAZY[name]()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- name-neuron rules ----------------------------------------------------------------------------
PAPER_INIT = 0.575  # mean of the initial weights with run61 (and the name neurons' default)
ONESHOT_NOVELTY = 65.0  # λ of the paper's one-shot runs
UPSTREAM_NOVELTIES = (55.0, 60.0, 65.0)  # λ of the upstream one-shot runs (a third of the pairs each)
FEW_SHOT_RATES = (1.0, 10.0)  # α of the paper's few-shot runs
FEW_SHOT_N = (5, 10, 20, 50, 100, 200)
SPLIT_TRAIN_PER_CLASS = 200  # the multi-split protocol: 200 training images per class, the rest tested

PAPER_RULE = {"init": PAPER_INIT}
CORRECTED_RULE = {"mode": "corrected", "surprise": 10.0, "epochs": 3, "init": PAPER_INIT}
RULES: dict[str, dict] = {"paper": PAPER_RULE, "corrected": CORRECTED_RULE}
ONESHOT_SKIPS = ("surprise", "epochs")  # one-shot runs learn from λ alone: no surprise passes


def oneshot_rule(rule: str = "paper") -> dict:
    """Name-neuron parameters of a one-shot run under a rule: the rule without its passes, λ = 65."""
    return {**{k: v for k, v in RULES[rule].items() if k not in ONESHOT_SKIPS}, "novelty": ONESHOT_NOVELTY}


@dataclass(frozen=True)
class WeightPreset:
    """A published weight set: the thresholds and initial weight the paper names with, and the feature
    thresholds corrected mode's one-shot search tries with it."""

    name: str
    naming_values: tuple[float, float] | None
    init: float | None
    oneshot_values: tuple[tuple[float, float], ...]

    @property
    def naming(self) -> "Thresholds | None":
        return thresholds(self.naming_values) if self.naming_values else None

    @property
    def oneshot(self) -> "tuple[Thresholds, ...]":
        return tuple(thresholds(v) for v in self.oneshot_values)

    def rule(self) -> dict:
        if self.init is None:
            raise RecollectionError(f"the paper does not name with the {self.name} weights (no preset init)")
        return {"init": self.init}


PRESETS = {
    "run61": WeightPreset("run61", RUN61_VALUES, PAPER_INIT, (RUN61_VALUES, SVM_VALUES)),
    "upstream": WeightPreset("upstream", UPSTREAM_VALUES, 0.5, (UPSTREAM_VALUES,)),
    "svm_oneshot": WeightPreset("svm_oneshot", None, None, (SVM_VALUES,)),
}
DEFAULT_WEIGHTS = "run61"  # names with the paper's thresholds; the SVM's full-data features too
ONESHOT_SVM_WEIGHTS = "svm_oneshot"  # the paper's one-shot SVM


def naming_preset(weights: str | os.PathLike) -> WeightPreset:
    """The naming preset of a weight set: a published one's (recognised by its folder name), else
    run61's (7/20.25, init 0.575), the paper's defaults."""
    preset = PRESETS.get(Path(weights).name)
    return preset if preset is not None and preset.naming is not None else PRESETS[DEFAULT_WEIGHTS]

# --- corrected mode -------------------------------------------------------------------------------
CORRECTED_FOLDS = 4  # k of the k-fold cross-validation that picks full-data thresholds
ONESHOT_INPUTS = ("neurons", "maps")
ONESHOT_ACTIVITY = (10.0, 20.0)
ONESHOT_CORRECTED = {"init": PAPER_INIT, "init_std": 0.0, "novelty": ONESHOT_NOVELTY, "rate": 1.0, "mode": "corrected"}
VALIDATION_RUNS = 200  # one-shot runs inside the training folder that score each candidate


@dataclass(frozen=True)
class Candidate:
    """One configuration corrected mode's shot search may choose: weights, thresholds, name neurons."""

    weights: str
    thresholds: "Thresholds"
    params: dict

    @property
    def label(self) -> str:
        return (f"{Path(self.weights).name} {self.thresholds.conv1:g}/{self.thresholds.conv2:g} "
                f"{self.params['inputs']} {self.params['active_threshold']:g}")


def oneshot_thresholds(weights: str, given: "Thresholds | None" = None) -> "tuple[Thresholds, ...]":
    """The thresholds the shot search tries with a weight set: a published set's presets (recognised by
    its folder name), any other's ``given`` naming thresholds (default run61's) and the SVM's."""
    preset = PRESETS.get(Path(weights).name)
    if preset is not None and given is None:
        return preset.oneshot
    return tuple(dict.fromkeys([given or thresholds(RUN61_VALUES), thresholds(SVM_VALUES)]))


def oneshot_candidates(weight_sets: Sequence[str] = tuple(PRESETS), given: "Thresholds | None" = None,
                       overrides: dict | None = None) -> list[Candidate]:
    """Corrected mode's shot candidates: every weight set × its thresholds × inputs × activity threshold,
    in this order (ties go to the first). The default is the published 16 (run61 at 7/20.25 and 10/50,
    upstream at 6.25/20.75, svm_oneshot at 10/50, × neurons/maps × 10/20)."""
    base = {**ONESHOT_CORRECTED, **(overrides or {})}
    return [Candidate(str(w), th, {**base, "inputs": i, "active_threshold": a})
            for w in weight_sets for th in oneshot_thresholds(str(w), given)
            for i in ONESHOT_INPUTS for a in ONESHOT_ACTIVITY]


# --- the shared data ------------------------------------------------------------------------------
DATA_ENV = "RECOLLECTION_DATA"
DEFAULT_DATA = Path("../shared/data")
DATA_HELP = f"Folder with caltech_face_motor/, mnist/ and sdnn_weights/ (default: ${DATA_ENV}, else {DEFAULT_DATA})."
CALTECH = "caltech_face_motor"
WEIGHTS_DIR = "sdnn_weights"


class DataError(RecollectionError):
    """The shared data (or a part of it) is not where it was looked for."""


def data_candidates(data: str | os.PathLike | None) -> list[Path]:
    if data:
        return [Path(data)]
    env = os.environ.get(DATA_ENV)
    return ([Path(env)] if env else []) + [DEFAULT_DATA]


def find_data_root(data: str | os.PathLike | None = None, needs: Iterable[str] = (f"{CALTECH}/TrainingSet",),
                   hint: str = "Get the images with `recollect data fetch caltech101 --dest DIR` and pass --data DIR.") -> Path:
    """The one data-root lookup: ``data`` if given, else ``$RECOLLECTION_DATA``, else ``../shared/data``;
    the first of these holding any of ``needs`` (paths relative to it)."""
    needs = tuple(needs)
    for root in data_candidates(data):
        if any((root / n).exists() for n in needs):
            return root
    where = data or f"{DEFAULT_DATA} (or ${DATA_ENV})"
    raise DataError(f"no data at {where}: expected {' or '.join(needs)} there. {hint}")


@dataclass
class DataRoot:
    """Where the Caltech faces/motorbikes folders, the published weights and the reference runs are."""

    root: Path

    @classmethod
    def find(cls, data: str | os.PathLike | None = None) -> "DataRoot":
        try:
            return cls(find_data_root(data))
        except DataError:
            where = data or f"{DEFAULT_DATA} (or ${DATA_ENV})"
            raise DataError(
                f"no data at {where}: expected {CALTECH}/TrainingSet and TestingSet and {WEIGHTS_DIR}/ "
                "there. Get the images with `recollect data fetch caltech101 --dest DIR` and pass --data DIR.") from None

    def folder(self, part: str) -> Path:
        return self.root / CALTECH / part

    def weights(self, name: str | os.PathLike) -> Path:
        """A published weight set by name (under ROOT/sdnn_weights), or a directory."""
        path = self.root / WEIGHTS_DIR / name
        if path.is_dir():
            return path
        if Path(name).is_dir():
            return Path(name)
        raise DataError(f"published weights {path} are missing")

    def reference(self, name: str) -> Path | None:
        path = self.root.parent / "reference" / name
        return path if path.exists() else None


def resolve_weights(weights: str | os.PathLike, root: str | os.PathLike | None = None,
                    weights_dir: str = WEIGHTS_DIR) -> Path:
    """A weight set: a directory as given, else a name under ROOT/sdnn_weights (ROOT looked up when
    not given)."""
    path = Path(weights)
    if path.is_dir():
        return path
    if len(path.parts) != 1:
        raise DataError(f"weights {weights}: no such directory")
    base = Path(root) if root is not None else find_data_root(None, needs=(weights_dir,),
                                                              hint="Pass --data DIR, or --weights as a directory.")
    found = base / weights_dir / path
    if not found.is_dir():
        raise DataError(f"published weights {found} are missing (known names: {', '.join(PRESETS)})")
    return found
