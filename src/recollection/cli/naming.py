"""`recollect naming …`, `reproduce`, `recall`: the spiking half. Each command parses its options, calls
one protocol (``naming/protocols.py``) with the settings of ``naming/presets.py``, and prints."""

from __future__ import annotations

import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ..io import write_json
from ..naming import presets as N
from ..naming.presets import (DATA_HELP, ONESHOT_NOVELTY, ONESHOT_SVM_WEIGHTS, PAPER_INIT, PRESETS,
                              SPLIT_TRAIN_PER_CLASS, VALIDATION_RUNS)
from .common import Cache, Device, app, check_writable_dir, default_cache, err, out, pick_device, seed_option, user_errors
from .naming_common import (AUTO_HELP, INIT_HELP, MODE_HELP, NAMES, NAMING_THRESHOLDS_HELP, ONESHOT_CANDIDATES_HELP,  # noqa: F401
                            RUN61, SVM, WEIGHTS_HELP, Data, GroupsOption, bind_groups, divergence_warnings, feature_bank,
                            feature_progress, groups_record, parse_presentations, print_runs, parse_thresholds, progress_bars, report_features,
                            summary_line)

naming_app = typer.Typer(help="Naming in an STDP spiking network: features, name neurons, the SVM baseline.",
                         no_args_is_help=True)
app.add_typer(naming_app, name="naming")


@naming_app.command("features")
@user_errors
def naming_features(
    data: Annotated[Path, typer.Argument(help="Image folder: one sub-folder per class.")],
    weights: Annotated[str, typer.Option(help=WEIGHTS_HELP)],
    thresholds: Annotated[str, typer.Option(help=f"conv1,conv2[,conv3] firing thresholds (SVM features: {SVM}; "
                                            f"naming with run61: {RUN61}), or auto: calibrated on DATA's images for "
                                            "the SVM.")] = SVM,
    root: Annotated[Optional[Path], typer.Option("--data-root", help=DATA_HELP)] = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """Encode a folder (DoG, latency code) and run it through the network; cache conv3's potentials and
    report, per class, the all-zero fraction and the mean spikes per layer."""
    from ..naming.diagnostics import ZeroFeaturesWarning, diagnose
    from ..naming.protocols import resolve

    with progress_bars() as progress:
        bank = feature_bank(data, data, root, cache, device, progress)
        chosen = resolve(bank, weights, parse_thresholds(thresholds, "--thresholds"), "svm")
        features = bank.train(weights, chosen)
    peaks = features.max_features()
    out.print(f"{len(features)} images, classes {', '.join(features.classes)}; thresholds {chosen.conv1:g}/"
              f"{chosen.conv2:g}; conv3 peak potential: mean {peaks.mean():.3f}, max {peaks.max():.3f}; cached in "
              f"{cache or default_cache()}", highlight=False)
    diagnostics = diagnose({"features": (weights, chosen, {"images": features})},
                           calibrated=["features"] if thresholds.strip().lower() == "auto" else [])
    report = diagnostics.sets[next(iter(diagnostics.sets))].parts["images"]
    for cls in features.classes:
        spikes = ", ".join(f"{k} {v:.0f}" for k, v in ((report["spikes_by_class"] or {}).get(cls) or {}).items())
        out.print(f"  {cls}: {report['zero_by_class'][cls]:.1%} all-zero; mean spikes per image: {spikes}", highlight=False)
    for line in diagnostics.warnings():
        warnings.warn(line, ZeroFeaturesWarning, stacklevel=1)


@naming_app.command("evaluate")
@user_errors
def naming_evaluate(
    train: Annotated[Path, typer.Argument(help="Training image folder (one sub-folder per class).")],
    test: Annotated[Path, typer.Argument(help="Test image folder, same class folders.")],
    weights: Annotated[str, typer.Option(help=WEIGHTS_HELP)] = "run61",
    naming_thresholds: Annotated[Optional[str], typer.Option(help=NAMING_THRESHOLDS_HELP + AUTO_HELP)] = None,
    svm_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the SVM's features." + AUTO_HELP)] = SVM,
    init: Annotated[Optional[float], typer.Option(help=INIT_HELP)] = None,
    mode: Annotated[str, typer.Option(help=MODE_HELP + "depression updates the other classes' weights, misnamed "
                                      "images learn 10× (surprise) over 3 passes, and the naming thresholds are "
                                      "chosen by 4-fold cross-validation on TRAIN from a 3×4 grid (the published one, "
                                      "or scaled around --naming-thresholds, e.g. auto).")] = "paper",
    groups: GroupsOption = None,
    seed: Annotated[int, seed_option("Seed of the name neurons' initial weights (and of the CV folds).")] = 66,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for evaluate.json.")] = Path("naming-evaluate"),
    data: Data = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """Train name neurons and the SVM on TRAIN, report both accuracies on TEST."""
    from ..naming.experiments import write_results
    from ..naming.protocols import evaluate_mode, threshold_key

    check_writable_dir(out_dir)
    with progress_bars() as progress:
        bank = feature_bank(train, test, data, cache, device, progress)
        grouping = bind_groups(groups, bank)
        result = evaluate_mode(bank, weights, mode, parse_thresholds(naming_thresholds, "--naming-thresholds"),
                               parse_thresholds(svm_thresholds, "--svm-thresholds"), init, seed, groups=grouping)
    th, svm_th = result.thresholds, result.svm_thresholds
    assert th is not None  # the protocol named, so it used thresholds
    if mode == "corrected":
        out.print(f"corrected mode: thresholds {th.conv1:g}/{th.conv2:g} chosen by 4-fold cross-validation on {train}")
    scores = result.validation_scores
    config = {"train": str(train), "test": str(test), "weights": weights, "naming_thresholds": th.as_dict(),
              "svm_thresholds": svm_th.as_dict() if svm_th else None, "name_neurons": result.rule,
              "validation_scores": {threshold_key(t): v for t, v in scores.items()} if scores else None,
              "calibration": bank.calibrations(), "groups": groups_record(grouping, bank)}
    diagnostics = report_features(bank, {"naming": (weights, th), "svm": (weights, svm_th) if svm_th else None},
                                  {"naming": naming_thresholds, "svm": svm_thresholds})
    results = {k: [v] for k, v in result.accuracies().items()}
    written = write_results(out_dir, "evaluate", config, results, {"diagnostics": diagnostics}, plot=False)
    for key, value in results.items():
        out.print(f"{key:22s} {value[0]:.4f}")
    out.print(f"wrote {written.json}")


@naming_app.command("shots")
@user_errors
def naming_shots(
    train: Annotated[Path, typer.Argument(help="Training image folder; each run draws its images from it.")],
    test: Annotated[Path, typer.Argument(help="Test image folder.")],
    weights: Annotated[Optional[list[str]], typer.Option(help=WEIGHTS_HELP + " Corrected mode searches every weight "
                                                         "set given (repeat the option); default: run61 in paper "
                                                         f"mode, {NAMES} (the presets' 16 candidates) in corrected "
                                                         "mode.")] = None,
    runs: Annotated[int, typer.Option(min=1, help="Number of random training sets (pairs when --shots 1).")] = 500,
    shots: Annotated[int, typer.Option(min=1, help="Training images per class in each run.")] = 1,
    seed: Annotated[int, seed_option("Seed of the image draws (and of corrected mode's search).")] = 0,
    novelty: Annotated[float, typer.Option(help="λ: rate factor of the first 5 images (novelty); the paper's one-shot: "
                                           f"{ONESHOT_NOVELTY:g}.")] = ONESHOT_NOVELTY,
    rate: Annotated[float, typer.Option(help="α: rate factor of every image.")] = 1.0,
    naming_thresholds: Annotated[Optional[str], typer.Option(help=NAMING_THRESHOLDS_HELP + " In corrected mode: "
                                                             "replaces every weight set's candidate thresholds "
                                                             f"(with the SVM's {SVM}; auto: each weight set's "
                                                             "calibrated naming and SVM thresholds)." + AUTO_HELP)] = None,
    init: Annotated[Optional[float], typer.Option(help=INIT_HELP + f" Corrected mode: {PAPER_INIT:g} for every "
                                                  "candidate (std 0).")] = None,
    mode: Annotated[str, typer.Option(help=MODE_HELP + "the weights × thresholds × inputs (every conv3 neuron or one "
                                      f"unit per map) × activity threshold ({' or '.join(f'{a:g}' for a in N.ONESHOT_ACTIVITY)}) chosen on runs inside TRAIN "
                                      f"({ONESHOT_CANDIDATES_HELP}).")] = "paper",
    svm_weights: Annotated[Optional[str], typer.Option(help="Also run the SVM on the same images, with features of "
                                                       "these weights (at --svm-thresholds), z-scored on the run's "
                                                       f"images; e.g. {ONESHOT_SVM_WEIGHTS}.")] = None,
    svm_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the SVM's features." + AUTO_HELP)] = SVM,
    groups: GroupsOption = None,
    validation_runs: Annotated[int, typer.Option(min=1, help="Corrected mode: runs inside TRAIN that score each "
                                                 "candidate.")] = VALIDATION_RUNS,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for shots.json and shots.cdf.png.")] = Path("naming-shots"),
    data: Data = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """K one-shot (or N-shot) runs with a seed: naming, and the SVM on the same images, per-run accuracies."""
    from ..naming.experiments import write_results
    from ..naming.protocols import check_mode, shot_protocol

    check_mode(mode)
    check_writable_dir(out_dir)
    weight_sets = list(weights or (["run61"] if mode == "paper" else PRESETS))
    params = {"novelty": novelty, "rate": rate, **({"init": init} if init is not None else {})}
    with progress_bars() as progress, divergence_warnings():
        bank = feature_bank(train, test, data, cache, device, progress)
        grouping = bind_groups(groups, bank)
        task = progress.add_task(f"{runs} runs", total=runs)
        result = shot_protocol(bank, weight_sets, runs, shots, seed, mode, params,
                               parse_thresholds(naming_thresholds, "--naming-thresholds"),
                               (svm_weights, parse_thresholds(svm_thresholds, "--svm-thresholds")) if svm_weights else None,
                               validation_runs, lambda n: progress.advance(task, n), grouping)
    th, svm_th, chosen = result.thresholds, result.svm_thresholds, result.params or {}
    assert th is not None  # the protocol named, so it used thresholds
    if mode == "corrected":
        out.print(f"corrected mode: chose {result.weights} at {th.conv1:g}/{th.conv2:g}, inputs {chosen['inputs']}, "
                  f"activity threshold {chosen['active_threshold']:g} among {len(result.candidates)} candidates "
                  f"on {shots}-shot runs inside {train}", highlight=False)
    config = {"train": str(train), "test": str(test), "weights": result.weights, "svm_weights": svm_weights,
              "runs": runs, "shots": shots, "seed": seed, "mode": mode, "naming": result.params,
              "naming_thresholds": th.as_dict(), "svm_thresholds": svm_th.as_dict() if svm_th else None,
              "validation_runs": validation_runs if mode == "corrected" else None, "calibration": bank.calibrations(),
              "groups": groups_record(grouping, bank)}
    train_paths = bank.train(result.weights, th).paths
    extra = {"images": [[train_paths[i] for i in d] for d in result.draws], "validation_scores": result.scores_by_label(),
             "tested_images": result.tested or None,
             "diagnostics": report_features(bank, {"naming": (result.weights, th),
                                                   "svm": (svm_weights, svm_th) if svm_weights else None},
                                            {"naming": naming_thresholds, "svm": svm_thresholds})}
    written = write_results(out_dir, "shots", config, result.results(), extra,
                            title=f"{shots}-shot naming, {mode} mode: test accuracy of {runs} runs")
    print_runs(result.results(), written)


@naming_app.command("splits")
@user_errors
def naming_splits(
    train: Annotated[Path, typer.Argument(help="Training image folder (pooled with TEST, then split at random).")],
    test: Annotated[Path, typer.Argument(help="Test image folder, same class folders.")],
    weights: Annotated[str, typer.Option(help=WEIGHTS_HELP)] = "run61",
    splits: Annotated[int, typer.Option(min=1, help="Number of random splits.")] = 100,
    train_per_class: Annotated[int, typer.Option(min=1, help="Training images per class; the rest are tested.")] = SPLIT_TRAIN_PER_CLASS,
    seed: Annotated[int, seed_option("Seed of the splits (split k's CV folds: seed + 1000 + k).")] = 0,
    mode: Annotated[str, typer.Option(help=MODE_HELP + "the corrected, surprise-gated rule, with the thresholds "
                                      "chosen by 4-fold cross-validation on each split's training part.")] = "paper",
    naming_thresholds: Annotated[Optional[str], typer.Option(help=NAMING_THRESHOLDS_HELP + AUTO_HELP + " (Splits pool "
                                                             "TRAIN and TEST: calibration reads TRAIN's images, "
                                                             "never labels.)")] = None,
    init: Annotated[Optional[float], typer.Option(help=INIT_HELP)] = None,
    svm: Annotated[bool, typer.Option("--svm/--no-svm", help="Also the SVM (features of the same weights at "
                                      "--svm-thresholds) on the same splits.")] = True,
    svm_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the SVM's features." + AUTO_HELP)] = SVM,
    groups: GroupsOption = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for splits.json and splits.cdf.png.")] = Path("naming-splits"),
    data: Data = None,
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """Random train/test splits of the pooled images: naming and the SVM on the same splits."""
    from ..naming.experiments import write_results
    from ..naming.protocols import check_mode, split_protocol

    check_mode(mode)
    check_writable_dir(out_dir)
    from ..naming.protocols import resolve, resolve_key

    with progress_bars() as progress:
        bank = feature_bank(train, test, data, cache, device, progress)
        grouping = bind_groups(groups, bank)
        choice = parse_thresholds(naming_thresholds, "--naming-thresholds")
        svm_key = resolve_key(bank, (weights, parse_thresholds(svm_thresholds, "--svm-thresholds"))) if svm else None
        result = split_protocol(bank, weights, splits, seed, mode, train_per_class, choice, init, svm_key, grouping)
        th = resolve(bank, weights, choice, "naming", N.naming_preset(weights).naming)
    config = {"train": str(train), "test": str(test), "weights": weights, "splits": splits, "seed": seed, "mode": mode,
              "train_per_class": train_per_class, "name_neurons": result.rule, "naming_thresholds": th.as_dict(),
              "svm_thresholds": svm_key[1].as_dict() if svm_key else None,
              "chosen_thresholds": [[t.conv1, t.conv2] for t in result.chosen] or None,
              "calibration": bank.calibrations(), "groups": groups_record(grouping, bank)}
    diagnostics = report_features(bank, {"naming": (weights, th), "svm": svm_key},
                                  {"naming": naming_thresholds, "svm": svm_thresholds})
    written = write_results(out_dir, "splits", config, result.results(), {"diagnostics": diagnostics},
                            title=f"{mode}-mode naming vs SVM: test accuracy of {splits} random splits")
    print_runs(result.results(), written)


@naming_app.command("stdp")
@user_errors
def naming_stdp(
    data: Annotated[Path, typer.Argument(help="Image folder to learn from, unlabelled (the research code used "
                                         "caltech_face_motor/TrainingSet; LearningSet is what it meant).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory: weights/ (weight_0..4.npy), "
                                          "checkpoints/ and stdp.json.")] = Path("stdp-run"),
    seed: Annotated[int, seed_option("Seed of the initial weights N(0.8, 0.01).")] = 0,
    presentations: Annotated[str, typer.Option(help="Image presentations for conv1,conv2,conv3.")] = "3000,5000,6000",
    shuffle: Annotated[bool, typer.Option("--shuffle/--in-order", help="Seeded new order on every pass, or "
                                          "class by class as the research code.")] = False,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Presentations between checkpoints.")] = 500,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoints (same seed and data).")] = False,
) -> None:
    """Learn the three conv layers by STDP, layer after layer, from scratch (naming spec §3)."""
    import dataclasses

    from ..snn.network import save_weights
    from ..snn.stdp import StdpConfig, train_stdp

    counts = parse_presentations(presentations)
    check_writable_dir(out_dir)
    config = dataclasses.replace(StdpConfig(), presentations=counts, shuffle=shuffle)
    with progress_bars() as progress:
        tasks = [progress.add_task(f"conv{i + 1} STDP", total=n) for i, n in enumerate(counts)]
        weights = train_stdp(data, seed=seed, checkpoint_dir=out_dir / "checkpoints", checkpoint_every=checkpoint_every,
                             resume=resume, config=config,
                             progress=lambda layer, done, total: progress.update(tasks[layer], completed=done))
    save_weights(weights, out_dir / "weights")
    write_json(out_dir / "stdp.json", {"data": str(data), "seed": seed, "config": config.as_dict()})
    out.print(f"wrote {out_dir / 'weights'} (weight_0..4.npy); evaluate with `recollect naming evaluate TRAIN TEST "
              f"--weights {out_dir / 'weights'}`")


@app.command()
@user_errors
def reproduce(
    data: Annotated[Optional[Path], typer.Option(help=DATA_HELP)] = None,
    quick: Annotated[bool, typer.Option("--quick", help="100 pairs and 20 splits instead of the paper's counts.")] = False,
    stdp: Annotated[Optional[list[Path]], typer.Option(help="Weights trained here by `recollect naming stdp` (one "
                                                      "directory per seed; repeat the option): adds the STDP row.")] = None,
    beyond: Annotated[bool, typer.Option("--beyond/--paper-only", help="Also run the corrected-mode experiments "
                                         "that try to beat the paper (choices made on training data only).")] = True,
    seed: Annotated[int, seed_option("Seed of the pair and split draws.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for reproduce.json.")] = Path("reproduce"),
    cache: Cache = None,
    device: Device = "cpu",
) -> None:
    """Run each published naming experiment (naming spec §7) and print our figure beside the paper's."""
    from rich.table import Table

    from ..naming.presets import DataRoot
    from ..naming.reproduce import Reproduction, as_dicts, counts

    check_writable_dir(out_dir)
    shared = DataRoot.find(data)
    with progress_bars() as progress:
        rep = Reproduction(shared, cache or default_cache(), pick_device(device), feature_progress(progress, "features"))
        steps = rep.rows(quick, seed, list(stdp or []), beyond)
        task = progress.add_task("experiments", total=len(steps))
        rows = []
        for step in steps:
            rows.append(step())
            progress.advance(task)
    table = Table(title="naming: ours beside the paper")
    for column in ("experiment", "paper", "ours", "within tolerance"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.experiment, r.paper, r.ours, {True: "yes", False: "no", None: "–"}[r.ok])
    (out if out.is_terminal else Console(width=200)).print(table)
    pairs, splits = counts(quick)
    path = out_dir / "reproduce.json"
    write_json(path, {"data": str(shared.root), "quick": quick, "seed": seed, "pairs": pairs, "splits": splits,
                      "stdp": [str(p) for p in stdp or []], "rows": as_dicts(rows)})
    out.print(f"wrote {path}")


class Flavour(str, Enum):
    rate = "rate"
    spikes = "spikes"


class Training(str, Enum):
    full = "full"
    oneshot = "oneshot"


class Rule(str, Enum):
    paper = "paper"
    corrected = "corrected"


class RecallData(str, Enum):
    caltech = "caltech"
    mnist = "mnist"


@app.command()
@user_errors
def recall(
    dataset: Annotated[RecallData, typer.Option(help="caltech: faces vs motorbikes; mnist: digits 0 vs 1 "
                                                "(from DATA/mnist).")] = RecallData.caltech,
    data: Annotated[Optional[Path], typer.Option(help=DATA_HELP)] = None,
    weights: Annotated[str, typer.Option(help=WEIGHTS_HELP)] = "run61",
    flavour: Annotated[Flavour, typer.Option(help="rate: real-valued backward maps; spikes: latency-coded "
                                             "backward spikes, at most one per neuron.")] = Flavour.rate,
    cue: Annotated[bool, typer.Option("--cue/--no-cue", help="Reinstate with the switches of a perceived test "
                                      "image of each class, instead of spreading through the pools.")] = False,
    training: Annotated[Training, typer.Option(help="Name neurons from the whole training folder, or from one "
                                               f"image per class (λ = {ONESHOT_NOVELTY:g}).")] = Training.full,
    rule: Annotated[Optional[Rule], typer.Option(help="Learning rule of the name neurons (default: paper for "
                                                 "caltech, corrected for mnist and --folder).")] = None,
    folder: Annotated[Optional[Path], typer.Option(help="Your own data instead of --dataset: a folder with "
                                                   "TrainingSet/ and TestingSet/ (one sub-folder per class).")] = None,
    thresholds: Annotated[Optional[str], typer.Option(help=f"conv1,conv2 naming thresholds (default: {RUN61} for "
                                                      "--dataset, auto for --folder)." + AUTO_HELP)] = None,
    seed: Annotated[int, seed_option("Seed of the one-shot pair.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for the PNGs and recall.json.")] = Path("recall"),
    cache: Cache = None,
) -> None:
    """Recall each name back through the STDP network to the input: the recalled DoG map, an image
    estimate, and whether the network names the recalled pattern as the class it came from."""
    from ..io import save_png
    from ..naming.protocols import recall_root, recall_setup
    from ..naming.recall import cue_for, recall_name, recall_picture, score, train_names

    from ..naming.diagnostics import diagnose
    from ..naming.protocols import recall_setup_folder

    check_writable_dir(out_dir)
    rule_name = (rule.value if rule else ("paper" if dataset == RecallData.caltech and folder is None else "corrected"))
    cache = cache or default_cache()
    choice = parse_thresholds(thresholds, "--thresholds")
    with err.status("features, class means and name neurons …"):
        if folder is not None:
            root = folder
            s = recall_setup_folder(folder, weights, choice or "auto", data, cache)
        else:
            root = recall_root(dataset.value, data)
            s = recall_setup(dataset.value, weights, choice or N.RUN61_NAMING, root, cache)
        names = train_names(s, training.value, seed, rule_name)
    diagnostics = diagnose({"naming": (weights, s.thresholds, {"train": s.train, "test": s.test})},
                           calibrated=["naming"] if folder is not None and choice in (None, "auto") or choice == "auto" else [])
    diagnostics.emit()
    records = []
    for c, cls in enumerate(s.classes):
        recalled = recall_name(s, names, c, flavour.value, cue_for(s, c) if cue else None)
        scores = score(s, names, recalled, c)
        save_png(recall_picture(recalled), out_dir / f"{cls}.png")
        records.append({"name": cls, **scores, "png": f"{cls}.png"})
        out.print(f"{cls}: r with own class mean {scores['r_own']:.3f}, with the other's {scores['r_other']:.3f}; "
                  f"fed back, named {scores['named']}", highlight=False)
    config = {"dataset": "folder" if folder is not None else dataset.value, "data": str(root), "weights": weights,
              "flavour": flavour.value, "cue": cue, "training": training.value, "rule": rule_name, "seed": seed,
              "thresholds": [s.thresholds.conv1, s.thresholds.conv2]}
    path = write_json(out_dir / "recall.json", {"config": config, "recalls": records, "diagnostics": diagnostics.as_dict()})
    out.print(f"wrote {path} and one PNG per class (recalled DoG map | image estimate)")
