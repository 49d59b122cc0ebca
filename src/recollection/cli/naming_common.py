"""What the naming commands share: help texts, threshold and group options, feature banks with progress
bars, and the diagnostics every command that makes features prints and records."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..naming.groups import GROUPS_HELP
from ..naming.presets import DATA_HELP, PAPER_INIT, PRESETS, RUN61_VALUES, SVM_VALUES, UPSTREAM_VALUES, thresholds_text
from .common import default_cache, err, fail, out, pick_device

NAMES = ", ".join(PRESETS)
WEIGHTS_HELP = (f"Weight set: a directory with weight_0.npy … weight_4.npy, or a published name ({NAMES}) under "
                "DATA/sdnn_weights.")
RUN61, SVM = thresholds_text(RUN61_VALUES), thresholds_text(SVM_VALUES)
NAMING_THRESHOLDS_HELP = (f"conv1,conv2 thresholds of the naming network (default: the weight set's preset: {RUN61} "
                          f"for run61 and unknown weights, {thresholds_text(UPSTREAM_VALUES)} for upstream).")
INIT_HELP = (f"Mean of the name neurons' initial weights, std 0.05 (default: the weight set's preset: {PAPER_INIT:g}, "
             f"{PRESETS['upstream'].init:g} for upstream).")
ONESHOT_CANDIDATES_HELP = "presets: " + ", ".join(
    f"{name} at " + " and ".join(thresholds_text(v).replace(",", "/") for v in p.oneshot_values) for name, p in PRESETS.items())
MODE_HELP = "paper: the research code, bug included; corrected: the bug fixed, every choice made on TRAIN (never TEST): "
Data = Annotated[Optional[Path], typer.Option(help=DATA_HELP + " Only read for published weight-set names.")]
AUTO_HELP = " auto: calibrated on TRAIN's images (never TEST's) to the layer activity the published thresholds give on theirs."
GroupsOption = Annotated[Optional[str], typer.Option("--groups", help=GROUPS_HELP)]


def summary_line(s: dict) -> str:
    """One line of a summary from ``recollection.stats``: the mean with its interval, then the spread."""
    interval = f" [{s['ci_low']:.3f}, {s['ci_high']:.3f}]" if s.get("ci_low") is not None else ""
    return (f"mean {s['mean']:.3f}{interval}  median {s['median']:.3f}  sd {s['sd']:.3f}  min {s['min']:.3f}  "
            f"max {s['max']:.3f}  (n = {s['n']})")


def print_runs(results: dict, written) -> None:
    """Each method's summary over the runs, one line each, then where the results went."""
    from ..naming.experiments import summary  # (accuracies: intervals clipped to [0, 1])

    for name, values in results.items():
        out.print(f"{name:7s} {summary_line(summary(values))}")
    out.print(f"wrote {written.json}" + (f" and {written.plot}" if written.plot else ""))


def parse_presentations(text: str) -> tuple[int, int, int]:
    """``3000,5000,6000`` → STDP presentations per conv layer (one red line otherwise)."""
    try:
        counts = tuple(int(v) for v in text.split(","))
    except ValueError:
        fail(f"--presentations takes three integers, e.g. 3000,5000,6000; got {text!r}")
    if len(counts) != 3 or min(counts) < 0:
        fail(f"--presentations takes three non-negative integers (conv1,conv2,conv3); got {text!r}")
    return counts[0], counts[1], counts[2]


def parse_thresholds(text: str | None, what: str):
    """``7,20.25`` (or ``conv1,conv2,conv3``) → Thresholds; ``auto`` stays ``"auto"`` (calibrated on the
    training images); None stays None (the preset)."""
    from ..naming.calibrate import AUTO
    from ..snn.network import NEVER, Thresholds

    if text is None:
        return None
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        fail(f"{what} must be numbers separated by commas, e.g. {RUN61}, or auto; got {text!r}")
    if len(values) not in (2, 3) or any(v <= 0 for v in values):
        fail(f"{what} takes 2 or 3 positive thresholds (conv1,conv2[,conv3]) or auto; got {text!r}")
    return Thresholds(*values) if len(values) == 3 else Thresholds(values[0], values[1], NEVER)


def bind_groups(text: str | None, bank):
    """The groups of every TRAIN and TEST image (``--groups``), or None; one red line if they cannot be read."""
    from ..naming.groups import Grouping, path_key

    if text is None:
        return None
    paths = {path_key(p): p for part in ("train", "test") for p in bank.images(part)[0]}
    return Grouping.parse(text).bind(list(paths.values()))


def groups_record(groups, bank) -> dict:
    """The ``groups`` entry of a results file."""
    from ..naming.groups import record

    return record(groups, train=bank.images("train")[0], test=bank.images("test")[0])


def report_features(bank, roles: dict, calibrated: dict | None = None) -> dict:
    """Diagnostics of the feature sets a command used ({role: (weights, thresholds) or None}): one warning
    line per set with too many all-zero images, one summary line, and the results file's entry.
    ``calibrated``: {role: the option's value}, the roles given ``auto``."""
    from ..naming.diagnostics import ZeroFeaturesWarning, diagnose_bank

    auto = [role for role, value in (calibrated or {}).items() if isinstance(value, str) and value.lower() == "auto"]
    diagnostics = diagnose_bank(bank, roles, calibrated=auto)
    for line in diagnostics.warnings():
        warnings.warn(line, ZeroFeaturesWarning, stacklevel=2)
    out.print("all-zero conv3 features: " + ", ".join(f"{d.label} {d.zero_fraction:.1%}"
                                                      for d in diagnostics.sets.values()), highlight=False)
    return diagnostics.as_dict()


def feature_progress(progress, label: str):
    def start(total: int, done: int):
        task = progress.add_task(label, total=total, completed=done)
        return lambda n: progress.advance(task, n)

    return start


@contextlib.contextmanager
def progress_bars():
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        yield progress


def feature_bank(train: Path, test: Path, data: Optional[Path], cache: Optional[Path], device: str, progress):
    """Features of TRAIN and TEST under any weight set, extracted on demand (cached on disk)."""
    from ..naming.presets import resolve_weights
    from ..naming.sources import FeatureBank

    return FeatureBank.from_folders(train, test, lambda w: resolve_weights(w, data), cache or default_cache(),
                                    pick_device(device), lambda label: feature_progress(progress, f"features {label}"))


@contextlib.contextmanager
def divergence_warnings():
    """Print each distinct DivergenceWarning once (a run fits thousands of times)."""
    from ..naming.neurons import DivergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergenceWarning)
        yield
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, DivergenceWarning)):
        err.print(f"[yellow]warning:[/] {escape(message)}")

