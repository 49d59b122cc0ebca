"""`recollect naming fit / predict / pipeline`: naming on a data set of your own. Each command parses its
options, calls one function (``naming/model.py``, ``naming/pipeline.py``) and prints."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..naming.presets import VALIDATION_RUNS
from .common import Cache, Device, check_writable_dir, default_cache, out, pick_device, seed_option, user_errors
from .naming import naming_app
from .naming_common import (AUTO_HELP, INIT_HELP, MODE_HELP, NAMING_THRESHOLDS_HELP, SVM, WEIGHTS_HELP, Data,
                            GroupsOption, parse_presentations, parse_thresholds, progress_bars, summary_line)


@naming_app.command("fit")
@user_errors
def naming_fit(
    train: Annotated[Path, typer.Argument(help="Training image folder (one sub-folder per class).")],
    weights: Annotated[str, typer.Option(help=WEIGHTS_HELP)],
    save: Annotated[Path, typer.Option(help="Where to write the model (.npz: weights reference and checksum, "
                                       "thresholds, name neurons, SVM, class names, config; no pickle).")],
    naming_thresholds: Annotated[Optional[str], typer.Option(help=NAMING_THRESHOLDS_HELP + AUTO_HELP)] = None,
    svm_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the SVM's features." + AUTO_HELP)] = SVM,
    svm: Annotated[bool, typer.Option("--svm/--no-svm", help="Also fit the SVM and save it in the model.")] = True,
    mode: Annotated[str, typer.Option(help=MODE_HELP + "thresholds chosen by 4-fold cross-validation on TRAIN from a "
                                      "grid (scaled around --naming-thresholds when given, e.g. auto).")] = "paper",
    init: Annotated[Optional[float], typer.Option(help=INIT_HELP)] = None,
    seed: Annotated[int, seed_option("Seed of the name neurons' initial weights (and of the CV folds).")] = 66,
    groups: GroupsOption = None,
    data: Data = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """Fit name neurons (and the SVM) on TRAIN and save them as a model for `naming predict`."""
    from ..naming.model import fit_model

    check_writable_dir(save.parent if str(save.parent) else Path("."))
    with out.status("features and name neurons …") if out.is_terminal else contextlib.nullcontext():
        model, diagnostics = fit_model(train, weights, data, mode, parse_thresholds(naming_thresholds, "--naming-thresholds"),
                                       parse_thresholds(svm_thresholds, "--svm-thresholds"), svm, init, seed, groups,
                                       cache or default_cache(), pick_device(device))
    diagnostics.emit()
    path = model.save(save)
    svm_text = (f", SVM at {model.svm_thresholds.conv1:g}/{model.svm_thresholds.conv2:g}"
                if model.svm is not None and model.svm_thresholds else "")
    out.print(f"fit on {train}: classes {', '.join(model.classes)}; naming thresholds {model.thresholds.conv1:g}/"
              f"{model.thresholds.conv2:g} ({mode} mode){svm_text}", highlight=False)
    out.print(f"wrote {path}; name new images with `recollect naming predict FOLDER --model {path}`", highlight=False)


@naming_app.command("predict")
@user_errors
def naming_predict(
    folder: Annotated[Path, typer.Argument(help="Images to name: a folder of images, or of class sub-folders (then "
                                           "the accuracy is printed too).")],
    model: Annotated[Path, typer.Option(help="A model saved by `recollect naming fit`.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="CSV to write: file, name, one score per class (the "
                                           "name neurons' currents), svm_name if the model has an SVM.")] = Path("predictions.csv"),
    weights: Annotated[Optional[str], typer.Option(help="The model's weight set, if it moved (checked against the "
                                                   "model's checksum).")] = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """Name every image of FOLDER with a saved model; write a CSV."""
    from ..naming.model import SavedNamer, predict_folder

    check_writable_dir(out_file.parent if str(out_file.parent) else Path("."))
    loaded = SavedNamer.load(model)
    predictions = predict_folder(loaded, folder, weights, cache or default_cache(), pick_device(device))
    path = predictions.write_csv(out_file)
    counts = {c: predictions.names.count(c) for c in loaded.classes}
    out.print(f"named {len(predictions.files)} images: " + ", ".join(f"{c} {n}" for c, n in counts.items()),
              highlight=False)
    accuracy = predictions.accuracy()
    if accuracy:
        out.print("accuracy on the class folders: " + ", ".join(f"{k} {v:.4f}" for k, v in accuracy.items()))
    out.print(f"wrote {path}")


@naming_app.command("pipeline")
@user_errors
def naming_pipeline(
    root: Annotated[Path, typer.Argument(help="Your data: a folder with TrainingSet/ and TestingSet/ (and optionally "
                                         "LearningSet/ for STDP), each with one sub-folder per class; or one folder of "
                                         "class sub-folders, split for you (seeded, by group with --groups).")],
    groups: GroupsOption = None,
    weights: Annotated[Optional[str], typer.Option(help=WEIGHTS_HELP + " Default: learn them here by STDP.")] = None,
    stdp_seed: Annotated[int, seed_option("Seed of STDP's initial weights.")] = 0,
    presentations: Annotated[str, typer.Option(help="STDP image presentations for conv1,conv2,conv3 (fewer: "
                                               "faster, rougher features).")] = "3000,5000,6000",
    naming_thresholds: Annotated[str, typer.Option(help="conv1,conv2 or auto (calibrated on the training images; "
                                                   "corrected mode's grid is scaled around it).")] = "auto",
    svm_thresholds: Annotated[str, typer.Option(help="conv1,conv2 or auto (calibrated for the SVM on the training "
                                                "images).")] = "auto",
    runs: Annotated[int, typer.Option(min=1, help="One-shot pairs (seeded).")] = 100,
    validation_runs: Annotated[int, typer.Option(min=1, help="Corrected one-shot: runs inside the training images "
                                                 "that score each candidate.")] = VALIDATION_RUNS,
    test_fraction: Annotated[float, typer.Option(min=0.05, max=0.95, help="One folder only: the share of each "
                                                 "class tested (whole groups).")] = 0.5,
    seed: Annotated[int, seed_option("Seed of the split, the one-shot pairs and the corrected search.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for pipeline.json, summary.md, summary.html "
                                          "(and stdp/).")] = Path("naming-pipeline"),
    data: Data = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """STDP (unless --weights), calibrated thresholds, naming (paper, corrected) and the SVM at full data and
    one-shot, with diagnostics: one JSON and a short summary."""
    from ..naming.pipeline import PipelineConfig, run_pipeline

    counts = parse_presentations(presentations)
    for text, what in ((naming_thresholds, "--naming-thresholds"), (svm_thresholds, "--svm-thresholds")):
        parse_thresholds(text, what)  # one red line for a malformed value, before any work
    check_writable_dir(out_dir)
    cfg = PipelineConfig(str(root), groups, weights, stdp_seed, counts, naming_thresholds, svm_thresholds,  # type: ignore[arg-type]
                         runs, validation_runs, seed, test_fraction, str(data) if data else None)
    with progress_bars() as progress:
        tasks: dict[int, int] = {}

        def stdp_progress(layer: int, done: int, total: int) -> None:
            if layer not in tasks:
                tasks[layer] = progress.add_task(f"conv{layer + 1} STDP", total=total)
            progress.update(tasks[layer], completed=done)

        result = run_pipeline(cfg, out_dir, cache or default_cache(), pick_device(device),
                              lambda text: out.print(f"· {text}", highlight=False), stdp_progress)
    full, shot = result.full_data(), result.one_shot()
    for name, key in (("naming (paper)", "naming_paper"), ("naming (corrected)", "naming_corrected"), ("SVM", "svm")):
        acc = (full[key] or {}).get("test")
        out.print(f"{name:19s} full data test {acc:.4f}   one-shot {summary_line(shot['summary'][key])}"
                  if acc is not None else f"{name}: –", highlight=False)
    out.print(f"wrote {result.files['json']}, {result.files['markdown']} and {result.files['html']}", highlight=False)
