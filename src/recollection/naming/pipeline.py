"""Naming on a data set of your own, end to end (``recollect naming pipeline ROOT``).

1. the images: ``ROOT/LearningSet, TrainingSet, TestingSet`` or one folder split for you (seeded,
   stratified, by group when groups are given): :mod:`.folders`;
2. the network: STDP on the learning images (the training images when there is no LearningSet; never
   the test images) unless weights are given;
3. thresholds calibrated on the training images (:mod:`.calibrate`; or as given);
4. full data: naming in paper and corrected mode (corrected: its grid scaled around the calibration,
   chosen by grouped cross-validation on the training images) and the SVM, scored on the test images;
5. one-shot: ``runs`` seeded pairs, naming in paper mode (λ = 65) and corrected mode (the configuration
   chosen on shot runs inside the training images), the SVM on the same images; a run is scored on the
   test images sharing no group with its pair;
6. diagnostics of every feature set used, and one JSON with everything, plus a short Markdown and HTML
   summary (:mod:`.pipeline_report`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from ..io import write_json
from ..snn.network import Thresholds
from .calibrate import AUTO
from .diagnostics import Diagnostics, diagnose_bank
from .experiments import summary
from .folders import Layout, read_layout
from .groups import SharedGroupsWarning, record, warn_shared
from .presets import SVM_THRESHOLDS, VALIDATION_RUNS, resolve_weights
from .protocols import Choice, Evaluation, ShotResult, evaluate_mode, shot_protocol
from .sources import FeatureBank

STDP_PRESENTATIONS = (3000, 5000, 6000)  # the research code's
Step = Callable[[str], None]  # told the name of each step as it starts


@dataclass
class PipelineConfig:
    """Everything a pipeline run depends on (written into its JSON)."""

    root: str
    groups: str | None = None
    weights: str | None = None  # a directory or a published name; None: STDP on the learning images
    stdp_seed: int = 0
    presentations: tuple[int, int, int] = STDP_PRESENTATIONS
    naming_thresholds: str = AUTO  # "auto" or "conv1,conv2"
    svm_thresholds: str = AUTO
    runs: int = 100  # one-shot pairs
    validation_runs: int = VALIDATION_RUNS  # corrected one-shot: runs inside the training images per candidate
    seed: int = 0  # split, pairs and the corrected search
    test_fraction: float = 0.5  # one folder: the share of each class (by group) tested
    data: str | None = None  # where published weight names are looked up

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PipelineResult:
    config: PipelineConfig
    layout: Layout
    weights: dict
    paper: Evaluation
    corrected: Evaluation
    oneshot_paper: ShotResult
    oneshot_corrected: ShotResult
    diagnostics: Diagnostics
    calibration: dict
    groups: dict
    shared_groups: int = 0
    files: dict = field(default_factory=dict)

    def full_data(self) -> dict:
        svm = self.paper.svm or {}
        return {"naming_paper": self.paper.naming.get("sum"), "naming_corrected": self.corrected.naming.get("sum"),
                "svm": svm, "naming_paper_thresholds": _th(self.paper.thresholds),
                "naming_corrected_thresholds": _th(self.corrected.thresholds),
                "svm_thresholds": _th(self.paper.svm_thresholds),
                "corrected_validation_scores": {f"{t.conv1:g}/{t.conv2:g}": v
                                                for t, v in (self.corrected.validation_scores or {}).items()}}

    def one_shot(self) -> dict:
        chosen = self.oneshot_corrected
        return {"runs": {"naming_paper": self.oneshot_paper.naming, "naming_corrected": chosen.naming,
                         "svm": self.oneshot_paper.svm},
                "summary": {"naming_paper": summary(self.oneshot_paper.naming),
                            "naming_corrected": summary(chosen.naming), "svm": summary(self.oneshot_paper.svm)},
                "naming_paper_thresholds": _th(self.oneshot_paper.thresholds),
                "corrected_choice": {"thresholds": _th(chosen.thresholds), "params": chosen.params,
                                     "validation_scores": chosen.scores_by_label()},
                "svm_thresholds": _th(self.oneshot_paper.svm_thresholds),
                "tested_images": self.oneshot_paper.tested or None}

    def as_dict(self) -> dict:
        return {"config": self.config.as_dict(), "layout": self.layout.as_dict(), "weights": self.weights,
                "groups": self.groups, "shared_train_test_groups": self.shared_groups,
                "calibration": self.calibration, "full_data": self.full_data(), "one_shot": self.one_shot(),
                "diagnostics": self.diagnostics.as_dict()}


def _th(t: Thresholds | None) -> list[float] | None:
    return None if t is None else [t.conv1, t.conv2]


def parse_choice(text: str) -> Choice:
    """``auto`` or ``conv1,conv2`` (the options' text) → a threshold choice."""
    from ..errors import OptionError
    from .presets import thresholds

    if text.strip().lower() == AUTO:
        return AUTO
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise OptionError(f"thresholds are conv1,conv2 numbers or auto, not {text!r}") from None
    if len(values) != 2 or min(values) <= 0:
        raise OptionError(f"thresholds are two positive numbers conv1,conv2 or auto, not {text!r}")
    return thresholds(values)


def network_weights(cfg: PipelineConfig, layout: Layout, out: Path, step: Step | None = None,
                    stdp_progress: Callable[[int, int, int], None] | None = None) -> tuple[Path, dict]:
    """The weight set: given, or learnt here by STDP from the learning images (``out/stdp/weights``)."""
    from ..snn.encoding import DoGEncoder
    from ..snn.features import encode_files
    from ..snn.network import save_weights
    from ..snn.stdp import StdpConfig, train_stdp
    from .model import weights_checksum

    if cfg.weights is not None:
        directory = resolve_weights(cfg.weights, cfg.data)
        return directory, {"source": "given", "path": str(directory), "sha256": weights_checksum(directory)}
    if step:
        step(f"STDP on {len(layout.learning_files())} learning images")
    times = encode_files(layout.learning_files(), DoGEncoder())
    config = StdpConfig(presentations=tuple(cfg.presentations))
    learnt = train_stdp(times, seed=cfg.stdp_seed, config=config, checkpoint_dir=out / "stdp" / "checkpoints",
                        resume=True, progress=stdp_progress)
    directory = out / "stdp" / "weights"
    save_weights(learnt, directory)
    write_json(out / "stdp" / "stdp.json", {"images": [str(f) for f in layout.learning_files()],
                                            "seed": cfg.stdp_seed, "config": config.as_dict()})
    return directory, {"source": "stdp", "path": str(directory), "sha256": weights_checksum(directory), "seed": cfg.stdp_seed,
                       "presentations": list(cfg.presentations), "learning_images": len(layout.learning_files())}


def run_pipeline(cfg: PipelineConfig, out: str | os.PathLike, cache: str | os.PathLike | None = None,
                 device: str = "cpu", step: Step | None = None,
                 stdp_progress: Callable[[int, int, int], None] | None = None) -> PipelineResult:
    """The whole pipeline on ``cfg.root``; writes ``pipeline.json``, ``summary.md`` and ``summary.html``
    into ``out`` (and the STDP weights under ``out/stdp``)."""
    from .pipeline_report import write_summaries

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    layout = read_layout(cfg.root, cfg.groups, cfg.seed, cfg.test_fraction)
    naming_choice, svm_choice = parse_choice(cfg.naming_thresholds), parse_choice(cfg.svm_thresholds)
    directory, weights_record = network_weights(cfg, layout, out, step, stdp_progress)
    key = str(directory)
    bank = FeatureBank.from_files(layout.train, layout.test, lambda w: Path(w), cache, device)
    groups = layout.groups
    shared = warn_shared(groups, layout.train[0], layout.test[0]) if groups is not None else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=SharedGroupsWarning)  # warned about once, above
        if step:
            step("full data: naming (paper), SVM")
        paper = evaluate_mode(bank, key, "paper", naming_choice, svm_choice, readouts=("sum",), groups=groups)
        if step:
            step("full data: naming (corrected: thresholds by grouped cross-validation)")
        corrected = evaluate_mode(bank, key, "corrected", naming_choice, svm_choice, readouts=("sum",), groups=groups)
        if step:
            step(f"one-shot: {cfg.runs} pairs, naming (paper) and SVM")
        svm_key = (key, paper.svm_thresholds or SVM_THRESHOLDS)
        shots_paper = shot_protocol(bank, [key], cfg.runs, 1, cfg.seed, "paper", thresholds=naming_choice, svm=svm_key,
                                    groups=groups)
        if step:
            step(f"one-shot: {cfg.runs} pairs, naming (corrected: configuration chosen inside the training images)")
        shots_corrected = shot_protocol(bank, [key], cfg.runs, 1, cfg.seed, "corrected", thresholds=naming_choice,
                                        validation_runs=cfg.validation_runs, groups=groups)
    named = {"naming": paper.naming_thresholds(), "naming corrected": corrected.naming_thresholds(),
             "naming one-shot": shots_corrected.chosen()[0]}
    roles: dict[str, tuple[str, Thresholds] | None] = {}
    for role, th in named.items():  # each distinct set of naming features once
        if (key, th) not in roles.values():
            roles[role] = (key, th)
    roles["svm"] = svm_key
    calibrated = [r for r in roles if (cfg.svm_thresholds if r == "svm" else cfg.naming_thresholds) == AUTO]
    diagnostics = diagnose_bank(bank, roles, calibrated=calibrated)
    result = PipelineResult(cfg, layout, weights_record, paper, corrected, shots_paper, shots_corrected, diagnostics,
                            bank.calibrations(), record(groups, train=layout.train[0], test=layout.test[0]), shared)
    result.files = write_summaries(result, out)
    diagnostics.emit()
    return result
