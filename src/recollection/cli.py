"""The ``recollect`` command line: reconstruct images by retracing a CNN backward."""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .errors import RecollectionError

app = typer.Typer(
    help="Recollection: run an image forward through a CNN, then walk back from a concept "
    "neuron (or a layer's top activations, or a control) to reconstruct it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
train_app = typer.Typer(help="Train the models the toolkit ships or uses.", no_args_is_help=True)
app.add_typer(train_app, name="train")
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


class ModelName(str, Enum):
    digits = "digits"
    alexnet = "alexnet"
    alexnet_convpool = "alexnet-convpool"


class Norm(str, Enum):
    none = "none"
    std = "std"
    std_global = "std_global"
    rescale_std = "rescale_std"
    rescale_std_local = "rescale_std_local"
    minmax = "minmax"
    minmax_local = "minmax_local"
    minmax_rescale = "minmax_rescale"
    minmax_01_05_rescale = "minmax_01_05_rescale"


class Unpool(str, Enum):
    switches = "switches"
    upsample = "upsample"
    random = "random"
    distribute = "distribute"


class View(str, Enum):
    rescale_std = "rescale_std"
    minmax = "minmax"
    std = "std"
    inverse_transform = "inverse-transform"


SOURCE_HELP = (
    "Where recall starts. class: one-hot on the predicted class neuron (the 'concept cell'); "
    "class:INDEX or class:NAME (e.g. class:\"tabby cat\"): any class; last-layer: the actual "
    "last-layer activations; random-class: a random class other than the predicted one (control); "
    "zero: all zeros (control: what do the switches alone give?); layer:N: the recorded activations "
    "of layer N, counted back from the last layer (AlexNet: 1 = fc7 ... 10 = conv1; see `recollect "
    "layers`); random:N: Gaussian noise at layer N (control)."
)
NORM_HELP = (
    "Normalisation after every backward step. std: z-score per sample over features (dense) or per "
    "channel over H×W (conv); std_global: z-score over the whole tensor; rescale_std: clip(0.1·z + 0.5, "
    "0, 1), global; rescale_std_local: the same per axis; minmax: (x − min)/(max − min), global; "
    "minmax_local: per axis; minmax_rescale: minmax mapped to [−1, 1]; minmax_01_05_rescale: "
    "clip(0.1·minmax + 0.5, 0, 1); none: no normalisation."
)
UNPOOL_HELP = (
    "How max pools are undone. switches: each value goes back to the argmax position the forward "
    "pass recorded (overlapping windows add up); upsample: nearest-neighbour ×2; random: each value "
    "to a random position of its window (seeded); distribute: each value copied to its whole window."
)
VIEW_HELP = (
    "How the reconstruction is turned into the recalled PNG. rescale_std: clip(0.1·z + 0.5, 0, 1) "
    "(the figures' default); minmax: (x − min)/(max − min); std: z-score (shown min–max scaled); "
    "inverse-transform: undo the model's mean/std input normalisation."
)


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn a RecollectionError raised by ``command`` into one red line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RecollectionError as e:
            fail(str(e))

    return wrapper


def pick_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        fail("--device cuda asked for, but CUDA is not available on this machine (use --device cpu)")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        fail(f"unknown device {device!r}; use cpu or cuda (e.g. cuda:0)")
    return device


@app.command()
@user_errors
def reconstruct(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for <stem>.original.png, "
                                           "<stem>.recalled.png, <stem>.npy (raw C×H×W float32) and <stem>.json.")] = Path("recollections"),
    model: Annotated[ModelName, typer.Option(help="digits: the embedded offline model; alexnet: torchvision's "
                                             "ImageNet AlexNet; alexnet-convpool: max pools replaced by strided convs.")] = ModelName.digits,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file (else the torch hub cache, else a download).")] = None,
    random_init: Annotated[bool, typer.Option("--random-init", help="Use random weights (control).")] = False,
    source: Annotated[str, typer.Option(help=SOURCE_HELP)] = "class",
    top: Annotated[float, typer.Option(help="For layer:N, keep the top P %% activations, 0 < P ≤ 100.")] = 100.0,
    per_channel: Annotated[bool, typer.Option("--per-channel", help="For layer:N with --top: the top P %% "
                                              "of each channel over H×W, instead of over the whole C×H×W.")] = False,
    normalize: Annotated[Norm, typer.Option(help=NORM_HELP)] = Norm.rescale_std,
    positivise: Annotated[bool, typer.Option(help="Set negatives to 0 after dense (linear) steps.")] = True,
    positivise_conv: Annotated[bool, typer.Option(help="Set negatives to 0 after conv and unpool steps.")] = True,
    rectify_input: Annotated[bool, typer.Option(help="Rectify after the last step too (the reconstructed input).")] = True,
    wta: Annotated[bool, typer.Option("--wta", help="Winner-take-all across channels before each transposed "
                                      "conv: at every position keep only the largest channel.")] = False,
    unpool: Annotated[Unpool, typer.Option(help=UNPOOL_HELP)] = Unpool.switches,
    view: Annotated[View, typer.Option(help=VIEW_HELP)] = View.rescale_std,
    seed: Annotated[int, typer.Option(help="Seed for everything random (random-class, random:N, random unpool).")] = 0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images recollected together.")] = 16,
    device: Annotated[str, typer.Option(help="cpu, or cuda to run on a GPU.")] = "cpu",
) -> None:
    """Reconstruct IMAGES by walking back from a source to the input layer."""
    from rich.progress import Progress

    from .cnn.models import load_model
    from .data.images import image_files, load_image
    from .pipeline import check_writable, recollect_pixels, save_result, unique_stems
    from .retrace.engine import Recollector
    from .retrace.sources import Source

    import torch

    device = pick_device(device)
    spec = Source.parse(source, top=top, per_channel=per_channel)
    files = image_files(images)
    if not files:
        fail("no images given (folders were empty)")
    out_path = check_writable(out_dir)
    info = load_model(model.value, weights, random_init=random_init)
    options = dict(normalize=None if normalize is Norm.none else normalize.value, positivise=positivise,
                   positivise_conv=positivise_conv, rectify_input=rectify_input, wta=wta,
                   unpool=unpool.value, seed=seed)
    rec = Recollector(info.model, classes=info.classes, device=device, **options)
    config = {"model": info.name, "weights": info.weights, "source": str(spec), "top": spec.top,
              "per_channel": spec.per_channel, **options, "view": view.value, "device": device}
    stems = unique_stems(files)
    failed = 0
    done = 0
    with Progress(console=err, transient=True, disable=len(files) < 2) as progress:
        task = progress.add_task("recollecting", total=len(files))
        for start in range(0, len(files), batch_size):
            batch = list(zip(files[start:start + batch_size], stems[start:start + batch_size]))
            good, pixels = [], []
            for path, stem in batch:
                try:
                    pixels.append(info.to_pixels(load_image(path, shorter_side=info.size)))
                    good.append((path, stem))
                except RecollectionError as e:
                    err.print(f"[yellow]skipped[/] {escape(str(e))}", highlight=False, soft_wrap=True)
                    failed += 1
                progress.advance(task)
            if not good:
                continue
            results, _ = recollect_pixels(rec, info, torch.stack(pixels), [str(p) for p, _ in good], spec, view.value)
            for (path, stem), result in zip(good, results):
                save_result(result, out_path, stem, config)
                s = result.scores
                out.print(f"{path}: predicted {result.predicted_name!r} ({result.predicted}); "
                          f"r={s['pearson']:.3f} ssim={s['ssim']:.3f} psnr={s['psnr']:.1f} "
                          f"edge-r={s['edge_pearson']:.3f}", highlight=False, soft_wrap=True)
                done += 1
    out.print(f"wrote {done} recollection(s) to {out_path}" + (f"; {failed} image(s) skipped" if failed else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where to write the gallery.")] = Path("recollect-demo"),
    device: Annotated[str, typer.Option(help="cpu, or cuda.")] = "cpu",
) -> None:
    """Offline, in seconds: recollect one digit of each class with the embedded model."""
    from .demo import run_demo

    summary = run_demo(check_writable_dir(out_dir), device=pick_device(device))
    out.print(summary["text"], highlight=False)
    out.print(f"gallery: {summary['gallery']}")


def check_writable_dir(path: Path) -> Path:
    from .pipeline import check_writable

    return check_writable(path)


@app.command()
@user_errors
def layers(
    model: Annotated[ModelName, typer.Option(help="Which model.")] = ModelName.digits,
) -> None:
    """List the layer numbers N that layer:N and random:N accept, with their shapes."""
    import torch

    from .cnn.models import load_model
    from .retrace.record import record

    info = load_model(model.value, random_init=True)
    trace = record(info.model, torch.zeros(1, info.channels, info.size, info.size))
    for tap in trace.taps:
        out.print(f"{tap.number:>3}  {tap.name:<10} {'×'.join(map(str, tap.shape))}")


@app.command()
@user_errors
def classes(
    query: Annotated[Optional[str], typer.Argument(help="Part of a class name; omit to list them all.")] = None,
    model: Annotated[ModelName, typer.Option(help="Which model's classes.")] = ModelName.alexnet,
) -> None:
    """Find class names and indices for --source class:NAME."""
    from .cnn.classes import imagenet_classes

    names = [str(i) for i in range(10)] if model is ModelName.digits else imagenet_classes()
    for i, name in enumerate(names):
        if query is None or query.lower() in name.lower():
            out.print(f"{i:>4}  {name}", highlight=False)


@train_app.command("digits")
@user_errors
def train_digits_cmd(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Weights file to write (a .json card goes beside it).")] = Path("digits.pt"),
    dataset: Annotated[str, typer.Option(help="sklearn: scikit-learn's bundled 8×8 digits (offline); "
                                         "mnist: the idx files in --mnist-dir.")] = "sklearn",
    mnist_dir: Annotated[Optional[Path], typer.Option(help="Folder with MNIST's t10k idx .gz files.")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the embedded digits model (the recipe that produced the shipped weights)."""
    from rich.progress import Progress

    from .cnn.train import DigitsRecipe, train_digits

    recipe = DigitsRecipe(dataset=dataset, mnist_dir=str(mnist_dir) if mnist_dir else None, epochs=epochs, seed=seed)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("training digits", total=epochs)

        def show(stage: str, step: int, total: int, metrics: dict) -> None:
            progress.update(task, completed=step,
                            description=f"epoch {step}/{total} loss {metrics['loss']:.3f} test acc {metrics['test_accuracy']:.3f}")

        card = train_digits(recipe, out_path, progress=show)
    out.print(f"test accuracy {card['test_accuracy']:.4f} on {card['n_test']} held-out digits; wrote {out_path}")


@train_app.command("convpool")
@user_errors
def train_convpool_cmd(
    data: Annotated[Path, typer.Argument(help="Image folder: one sub-folder per class, named by ImageNet index "
                                        "(ImageNetV2's layout: 0..999) or by class name.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for checkpoint.pt, convpool.pt and convpool.json.")] = Path("convpool-run"),
    weights: Annotated[Optional[Path], typer.Option(help="AlexNet weights to start from.")] = None,
    epochs: Annotated[tuple[int, int, int], typer.Option(help="Epochs for each unfreezing stage: the new pool convs, "
                                                         "then all convs, then the classifier too.")] = (1, 1, 1),
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(help="SGD learning rate (momentum 0.9).")] = 1e-5,
    seed: Annotated[int, typer.Option()] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="Use only N training and N validation images (smoke test).")] = None,
    random_init: Annotated[bool, typer.Option("--random-init", help="Start from random AlexNet weights.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Fine-tune the ConvPool AlexNet with the spec's schedule (80/20 split, SGD, gradual unfreezing)."""
    from rich.progress import Progress

    from .cnn.train import STAGES, ConvPoolRecipe, train_convpool

    recipe = ConvPoolRecipe(data=str(data), epochs_per_stage=epochs, batch_size=batch_size, lr=lr, seed=seed,
                            weights=str(weights) if weights else None, random_init=random_init, limit=limit)
    check_writable_dir(out_dir)
    with Progress(console=err, transient=True) as progress:
        task = progress.add_task("fine-tuning", total=sum(epochs))

        def show(stage: str, step: int, total: int, metrics: dict) -> None:
            progress.advance(task)
            out.print(f"{stage} epoch {step}/{total}: loss {metrics['loss']:.4f} val acc {metrics['val_accuracy']:.4f}")

        card = train_convpool(recipe, out_dir, resume=resume, device=pick_device(device), progress=show)
    out.print(f"wrote {out_dir / 'convpool.pt'} ({len(card['history'])} epochs in all; stages {', '.join(STAGES)})")


# --- naming in the spiking network ------------------------------------------------------------
naming_app = typer.Typer(help="Naming in an STDP spiking network: features, name neurons, the SVM baseline.",
                         no_args_is_help=True)
app.add_typer(naming_app, name="naming")

WEIGHTS_HELP = "Directory with weight_0.npy … weight_4.npy (research layout), e.g. ../shared/data/sdnn_weights/run61."
CACHE_HELP = "Where extracted features are cached (keyed by weights, thresholds and image files)."


def default_cache() -> Path:
    from .snn.features import default_cache as cache_home

    return cache_home()


def parse_thresholds(text: str, what: str):
    from .snn.network import NEVER, Thresholds

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        fail(f"{what} must be numbers separated by commas, e.g. 7.0,20.25; got {text!r}")
    if len(values) not in (2, 3) or any(v <= 0 for v in values):
        fail(f"{what} takes 2 or 3 positive thresholds (conv1,conv2[,conv3]); got {text!r}")
    return Thresholds(*values) if len(values) == 3 else Thresholds(values[0], values[1], NEVER)


def feature_progress(progress, label: str):
    def start(total: int, done: int):
        task = progress.add_task(label, total=total, completed=done)
        return lambda n: progress.advance(task, n)

    return start


def load_features(folder: Path, weights: Path, thresholds, cache: Path, device: str, label: str):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .snn.features import folder_features
    from .snn.network import SpikingNetwork, load_weights

    network = SpikingNetwork(load_weights(weights))
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        return folder_features(folder, network, thresholds, cache_dir=cache, device=pick_device(device),
                               progress=feature_progress(progress, label))


@naming_app.command("features")
@user_errors
def naming_features(
    data: Annotated[Path, typer.Argument(help="Image folder: one sub-folder per class.")],
    weights: Annotated[Path, typer.Option(help=WEIGHTS_HELP)],
    thresholds: Annotated[str, typer.Option(help="conv1,conv2[,conv3] firing thresholds (SVM features: 10,50; "
                                            "naming with run61: 7.0,20.25).")] = "10,50",
    cache: Annotated[Path, typer.Option(help=CACHE_HELP)] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Encode a folder (DoG, latency code) and run it through the network; cache conv3's potentials."""
    features = load_features(data, weights, parse_thresholds(thresholds, "--thresholds"), cache or default_cache(),
                             device, f"features of {data.name}")
    peaks = features.max_features()
    out.print(f"{len(features)} images, classes {', '.join(features.classes)}; conv3 peak potential: mean "
              f"{peaks.mean():.3f}, max {peaks.max():.3f}; cached in {cache or default_cache()}")


@naming_app.command("evaluate")
@user_errors
def naming_evaluate(
    train: Annotated[Path, typer.Argument(help="Training image folder (one sub-folder per class).")],
    test: Annotated[Path, typer.Argument(help="Test image folder, same class folders.")],
    weights: Annotated[Path, typer.Option(help=WEIGHTS_HELP)],
    naming_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the naming network.")] = "7.0,20.25",
    svm_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the SVM's features.")] = "10,50",
    init: Annotated[float, typer.Option(help="Mean of the name neurons' initial weights (std 0.05).")] = 0.575,
    mode: Annotated[str, typer.Option(help="paper: the research code, bug included, thresholds as given; corrected: "
                                      "depression updates the other classes' weights, misnamed images learn 10× "
                                      "(surprise) over 3 passes, and the naming thresholds are chosen by 4-fold "
                                      "cross-validation on TRAIN from a 3×4 grid (never on TEST).")] = "paper",
    seed: Annotated[int, typer.Option(help="Seed of the name neurons' initial weights.")] = 66,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for evaluate.json.")] = Path("naming-evaluate"),
    cache: Annotated[Path, typer.Option(help=CACHE_HELP)] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Train name neurons and the SVM on TRAIN, report both accuracies on TEST."""
    from .naming import NameNeurons, SpikeSVM
    from .naming.experiments import accuracy, write_results

    check_writable_dir(out_dir)
    cache = cache or default_cache()
    nth, sth = parse_thresholds(naming_thresholds, "--naming-thresholds"), parse_thresholds(svm_thresholds, "--svm-thresholds")
    rule = {"mode": mode, "init": init, "seed": seed}
    chosen = None
    if mode == "corrected":
        from .naming.reproduce import CORRECTED_RULE, CORRECTED_THRESHOLDS, choose_thresholds

        grid = {th: load_features(train, weights, th, cache, device, f"validation grid {th.conv1:g}/{th.conv2:g}")
                for th in CORRECTED_THRESHOLDS}
        nth, chosen = choose_thresholds(grid, CORRECTED_RULE, seed=seed)
        rule = {**CORRECTED_RULE, "seed": seed}
        out.print(f"corrected mode: thresholds {nth.conv1:g}/{nth.conv2:g} chosen by 4-fold cross-validation on {train}")
    elif mode != "paper":
        fail(f"--mode must be paper or corrected, not {mode!r}")
    sets = {(name, part): load_features(folder, weights, th, cache, device, f"{name} features of {folder.name}")
            for name, th in (("naming", nth), ("svm", sth)) for part, folder in (("train", train), ("test", test))}
    results = {}
    for score in ("sum", "weighted"):
        model = NameNeurons(**rule, readout=score).fit(sets["naming", "train"].potentials,
                                                                             sets["naming", "train"].labels)
        for part in ("train", "test"):
            results[f"naming_{score}_{part}"] = [accuracy(model.predict(sets["naming", part].potentials), sets["naming", part].labels)]
    svm = SpikeSVM().fit(sets["svm", "train"].potentials, sets["svm", "train"].labels)
    for part in ("train", "test"):
        results[f"svm_{part}"] = [accuracy(svm.predict(sets["svm", part].potentials), sets["svm", part].labels)]
    config = {"train": str(train), "test": str(test), "weights": str(weights), "naming_thresholds": nth.as_dict(),
              "svm_thresholds": sth.as_dict(), "name_neurons": rule,
              "validation_scores": {f"{t.conv1:g}/{t.conv2:g}": v for t, v in chosen.items()} if chosen else None}
    written = write_results(out_dir, "evaluate", config, results, plot=False)
    for key, value in results.items():
        out.print(f"{key:22s} {value[0]:.4f}")
    out.print(f"wrote {written.json}")


@naming_app.command("shots")
@user_errors
def naming_shots(
    train: Annotated[Path, typer.Argument(help="Training image folder; each run draws its images from it.")],
    test: Annotated[Path, typer.Argument(help="Test image folder.")],
    weights: Annotated[Path, typer.Option(help=WEIGHTS_HELP)],
    runs: Annotated[int, typer.Option(min=1, help="Number of random training sets (pairs when --shots 1).")] = 500,
    shots: Annotated[int, typer.Option(min=1, help="Training images per class in each run.")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the image draws.")] = 0,
    novelty: Annotated[float, typer.Option(help="λ: rate factor of the first 5 images (novelty); the paper's one-shot: 65.")] = 65.0,
    rate: Annotated[float, typer.Option(help="α: rate factor of every image.")] = 1.0,
    naming_thresholds: Annotated[str, typer.Option(help="conv1,conv2 thresholds of the naming network.")] = "7.0,20.25",
    init: Annotated[float, typer.Option(help="Mean of the name neurons' initial weights.")] = 0.575,
    mode: Annotated[str, typer.Option(help="paper: as given; corrected: the bug fixed, and the thresholds (these "
                                      "or the SVM's 10,50), the inputs (every conv3 neuron or one unit per map) and "
                                      "the activity threshold (10 or 20) chosen on runs inside TRAIN.")] = "paper",
    svm_weights: Annotated[Optional[Path], typer.Option(help="Also run the SVM on the same images, with features "
                                                        "of these weights (thresholds 10,50), z-scored on the run's images.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for shots.json and shots.cdf.png.")] = Path("naming-shots"),
    cache: Annotated[Path, typer.Option(help=CACHE_HELP)] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """K one-shot (or N-shot) runs with a seed: naming, and the SVM on the same images, per-run accuracies."""
    import warnings

    from rich.progress import Progress

    from .naming import NameNeurons
    from .naming.experiments import sample_shots, shot_runs, write_results
    from .naming.neurons import DivergenceWarning
    from .snn.network import FEATURE_THRESHOLDS

    check_writable_dir(out_dir)
    cache = cache or default_cache()
    nth = parse_thresholds(naming_thresholds, "--naming-thresholds")
    params = {"mode": mode, "init": init, "novelty": novelty, "rate": rate}
    chosen = None
    if mode == "corrected":
        from .naming.reproduce import choose_shot_config

        grid = {th: load_features(train, weights, th, cache, device, f"validation grid {th.conv1:g}/{th.conv2:g}")
                for th in dict.fromkeys([nth, FEATURE_THRESHOLDS])}
        candidates = [{**params, "init_std": 0.0, "inputs": i, "active_threshold": a}
                      for i in ("neurons", "maps") for a in (10.0, 20.0)]
        (nth, params), scores = choose_shot_config(grid, candidates, shots=shots, seed=seed)
        chosen = {f"{t.conv1:g}/{t.conv2:g} {candidates[k]['inputs']} {candidates[k]['active_threshold']:g}": v
                  for (t, k), v in scores.items()}
        out.print(f"corrected mode: chose thresholds {nth.conv1:g}/{nth.conv2:g}, inputs {params['inputs']}, activity "
                  f"threshold {params['active_threshold']:g} on {shots}-shot runs inside {train}")
    elif mode != "paper":
        fail(f"--mode must be paper or corrected, not {mode!r}")
    tr = load_features(train, weights, nth, cache, device, f"features of {train.name}")
    te = load_features(test, weights, nth, cache, device, f"features of {test.name}")
    svm_tr = svm_te = None
    if svm_weights is not None:
        svm_tr = load_features(train, svm_weights, FEATURE_THRESHOLDS, cache, device, "SVM features (train)")
        svm_te = load_features(test, svm_weights, FEATURE_THRESHOLDS, cache, device, "SVM features (test)")
    draws = sample_shots(tr.labels, shots, runs, seed)
    template = NameNeurons(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DivergenceWarning)
        template._check_options()
    for w in caught:
        err.print(f"[yellow]warning:[/] {escape(str(w.message))}")
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress, warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        task = progress.add_task(f"{runs} runs", total=runs)
        results = shot_runs(tr, te, draws, template, svm_tr, svm_te, progress=lambda n: progress.advance(task, n))
    config = {"train": str(train), "test": str(test), "weights": str(weights), "svm_weights": str(svm_weights) if svm_weights else None,
              "runs": runs, "shots": shots, "seed": seed, "naming": template.get_params(), "naming_thresholds": nth.as_dict()}
    extra = {"images": [[tr.paths[i] for i in d] for d in draws], "validation_scores": chosen}
    written = write_results(out_dir, "shots", config, results, extra)
    from .naming.experiments import summary

    for name, values in results.items():
        s = summary(values)
        out.print(f"{name:7s} mean {s['mean']:.3f}  median {s['median']:.3f}  sd {s['sd']:.3f}  min {s['min']:.3f}  max {s['max']:.3f}")
    out.print(f"wrote {written.json}" + (f" and {written.plot}" if written.plot else ""))


@naming_app.command("stdp")
@user_errors
def naming_stdp(
    data: Annotated[Path, typer.Argument(help="Image folder to learn from, unlabelled (the research code used "
                                         "caltech_face_motor/TrainingSet; LearningSet is what it meant).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory: weights/ (weight_0..4.npy), "
                                          "checkpoints/ and stdp.json.")] = Path("stdp-run"),
    seed: Annotated[int, typer.Option(help="Seed of the initial weights N(0.8, 0.01).")] = 0,
    presentations: Annotated[str, typer.Option(help="Image presentations for conv1,conv2,conv3.")] = "3000,5000,6000",
    shuffle: Annotated[bool, typer.Option("--shuffle/--in-order", help="Seeded new order on every pass, or "
                                          "class by class as the research code.")] = False,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Presentations between checkpoints.")] = 500,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoints (same seed and data).")] = False,
) -> None:
    """Learn the three conv layers by STDP, layer after layer, from scratch (naming spec §3)."""
    import dataclasses
    import json

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .snn.network import save_weights
    from .snn.stdp import StdpConfig, train_stdp

    try:
        counts = tuple(int(v) for v in presentations.split(","))
    except ValueError:
        fail(f"--presentations takes three integers, e.g. 3000,5000,6000; got {presentations!r}")
    if len(counts) != 3 or min(counts) < 0:
        fail(f"--presentations takes three non-negative integers (conv1,conv2,conv3); got {presentations!r}")
    check_writable_dir(out_dir)
    config = dataclasses.replace(StdpConfig(), presentations=counts, shuffle=shuffle)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal) as progress:
        tasks = [progress.add_task(f"conv{i + 1} STDP", total=n) for i, n in enumerate(counts)]
        weights = train_stdp(data, seed=seed, checkpoint_dir=out_dir / "checkpoints", checkpoint_every=checkpoint_every,
                             resume=resume, config=config,
                             progress=lambda layer, done, total: progress.update(tasks[layer], completed=done))
    save_weights(weights, out_dir / "weights")
    (out_dir / "stdp.json").write_text(json.dumps({"data": str(data), "seed": seed, "config": config.as_dict()}, indent=2))
    out.print(f"wrote {out_dir / 'weights'} (weight_0..4.npy); evaluate with `recollect naming evaluate TRAIN TEST "
              f"--weights {out_dir / 'weights'}`")


@app.command()
@user_errors
def reproduce(
    data: Annotated[Optional[Path], typer.Option(help="Folder with caltech_face_motor/ and sdnn_weights/ "
                                                 "(default: ../shared/data or $RECOLLECTION_DATA).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="100 pairs and 20 splits instead of the paper's counts.")] = False,
    stdp: Annotated[Optional[list[Path]], typer.Option(help="Weights trained here by `recollect naming stdp` (one "
                                                      "directory per seed; repeat the option): adds the STDP row.")] = None,
    beyond: Annotated[bool, typer.Option("--beyond/--paper-only", help="Also run the corrected-mode experiments "
                                         "that try to beat the paper (choices made on training data only).")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the pair and split draws.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for reproduce.json.")] = Path("reproduce"),
    cache: Annotated[Path, typer.Option(help=CACHE_HELP)] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Run each published naming experiment (naming spec §7) and print our figure beside the paper's."""
    import json

    from rich.progress import Progress
    from rich.table import Table

    from .naming.reproduce import RUN61_NAMING, UPSTREAM_NAMING, Reproduction, SharedData, as_dicts

    check_writable_dir(out_dir)
    shared = SharedData.find(data)
    pairs, splits = (100, 20) if quick else (500, 100)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:
        rep = Reproduction(shared, cache or default_cache(), pick_device(device), feature_progress(progress, "features"))
        steps = [
            rep.svm_full,
            lambda: rep.naming_full("run61", RUN61_NAMING, 0.575, 0.9848, 0.958),
            lambda: rep.naming_full("upstream", UPSTREAM_NAMING, 0.5, 0.957, None),
            lambda: rep.oneshot_run61(pairs, seed),
            lambda: rep.oneshot_upstream(1760 if not quick else 300, seed),
            lambda: rep.oneshot_svm(1536 if not quick else 300, seed),
            lambda: rep.few_shot(1.0),
            lambda: rep.few_shot(10.0),
            lambda: rep.multi_split(splits, seed),
        ]
        if stdp:
            steps.append(lambda: rep.stdp_svm(list(stdp)))
        if beyond:
            steps += [lambda: rep.multi_split_corrected(max(20, splits // 5), seed),
                      lambda: rep.oneshot_corrected(pairs, seed)]
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
    path = out_dir / "reproduce.json"
    path.write_text(json.dumps({"data": str(shared.root), "quick": quick, "seed": seed, "pairs": pairs, "splits": splits,
                                "stdp": [str(p) for p in stdp or []], "rows": as_dicts(rows)}, indent=2))
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
    data: Annotated[Optional[Path], typer.Option(help="Folder with caltech_face_motor/, mnist/ and sdnn_weights/ "
                                                 "(default: ../shared/data or $RECOLLECTION_DATA).")] = None,
    weights: Annotated[str, typer.Option(help="A weight set in DATA/sdnn_weights, or a directory.")] = "run61",
    flavour: Annotated[Flavour, typer.Option(help="rate: real-valued backward maps; spikes: latency-coded "
                                             "backward spikes, at most one per neuron.")] = Flavour.rate,
    cue: Annotated[bool, typer.Option("--cue/--no-cue", help="Reinstate with the switches of a perceived test "
                                      "image of each class, instead of spreading through the pools.")] = False,
    training: Annotated[Training, typer.Option(help="Name neurons from the whole training folder, or from one "
                                               "image per class (λ = 65).")] = Training.full,
    rule: Annotated[Optional[Rule], typer.Option(help="Learning rule of the name neurons (default: paper for "
                                                 "caltech, corrected for mnist).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the one-shot pair.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for the PNGs and recall.json.")] = Path("recall"),
    cache: Annotated[Optional[Path], typer.Option(help=CACHE_HELP)] = None,
) -> None:
    """Recall each name back through the STDP network to the input: the recalled DoG map, an image
    estimate, and whether the network names the recalled pattern as the class it came from."""
    import json

    import numpy as np
    from PIL import Image

    from .experiments.naming_engine import recall_setup
    from .naming.recall import cue_for, recall_name, recall_picture, score, train_names
    from .naming.reproduce import SharedData

    check_writable_dir(out_dir)
    shared = SharedData.find(data) if dataset == RecallData.caltech else None
    root = shared.root if shared else (data or Path(os.environ.get("RECOLLECTION_DATA") or "../shared/data"))
    if dataset == RecallData.mnist and not (Path(root) / "mnist").is_dir():
        fail(f"no MNIST idx files in {Path(root) / 'mnist'}; pass --data DIR holding mnist/")
    rule_name = (rule.value if rule else ("paper" if dataset == RecallData.caltech else "corrected"))
    with err.status("features, class means and name neurons …"):
        s = recall_setup(str(root), "mnist", "sdnn_weights", str(cache or default_cache()), dataset.value, weights, 7.0, 20.25)
        names = train_names(s, training.value, seed, rule_name)
    records = []
    for c, cls in enumerate(s.classes):
        recalled = recall_name(s, names, c, flavour.value, cue_for(s, c) if cue else None)
        scores = score(s, names, recalled, c)
        picture = recall_picture(recalled)
        Image.fromarray((picture * 255 + 0.5).astype(np.uint8)).save(out_dir / f"{cls}.png")
        records.append({"name": cls, **scores, "png": f"{cls}.png"})
        out.print(f"{cls}: r with own class mean {scores['r_own']:.3f}, with the other's {scores['r_other']:.3f}; "
                  f"fed back, named {scores['named']}", highlight=False)
    config = {"dataset": dataset.value, "data": str(root), "weights": weights, "flavour": flavour.value, "cue": cue,
              "training": training.value, "rule": rule_name, "seed": seed, "thresholds": [7.0, 20.25]}
    path = out_dir / "recall.json"
    tmp = path.with_name(".tmp-recall.json")
    tmp.write_text(json.dumps({"config": config, "recalls": records}, indent=2, default=float))
    os.replace(tmp, path)
    out.print(f"wrote {path} and one PNG per class (recalled DoG map | image estimate)")


# --- experiment studies -------------------------------------------------------------------------
@app.command("run")
@user_errors
def run_cmd(
    study_file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="The experiment file (see experiments/*.toml).",
                                               show_default=False)],
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results directory (default results/<study name>); "
                                                    "rerunning into it resumes the study.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel worker processes (default: one per CPU; 1 runs "
                                                   "in this process).", min=1)] = None,
    ray: Annotated[Optional[str], typer.Option(help="Run on Ray: local (start one here), auto (join the running "
                                               "cluster), or HOST:PORT. Needs the ray extra.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one entry, e.g. --set params.model="
                                                      "'\"digits\"' or --set grid.source='[\"class\"]' (repeatable).")] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Only say how many points the study has and how many are done.")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html and report.md at the end.")] = True,
) -> None:
    """Run a study: every point of its grid, in parallel, resumably (a rerun skips finished points)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from .experiments.runner import LOG, ResultLog, check_results_dir, hashed_points, run_study
    from .experiments.study import load_study

    study = load_study(study_file, set_ or [])
    target = out_dir or Path("results") / study.name
    if plan:
        check_results_dir(target, study)
        records = ResultLog(target / LOG).read()
        done = sum(1 for p in hashed_points(study) if p["_hash"] in records and not records[p["_hash"]]["error"])
        out.print(f"{study.name}: {len(study.points)} points ({done} done in {target}); varying: "
                  f"{', '.join(study.varying()) or 'nothing'}", highlight=False)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("ETA"), TimeRemainingColumn(), console=err) as progress:
        task = progress.add_task(study.name, total=None)

        def on_start(total: int, pending: int) -> None:
            progress.update(task, total=pending, description=f"{study.name} ({total - pending} of {total} already done)")

        start = time.perf_counter()
        summary = run_study(study, target, workers=workers, ray=ray, overrides=set_ or [],
                            progress=lambda n: progress.advance(task, n), on_start=on_start)
    elapsed = time.perf_counter() - start
    out.print(f"{study.name}: {summary.done} points run, {summary.skipped} already done, {len(summary.failures)} failed "
              f"({elapsed:.1f} s, {summary.backend}); results in {target / 'results.csv'}", highlight=False)
    if report:
        from .experiments.report import write_report

        page, _ = write_report(target)
        out.print(f"report: {page}", highlight=False)
    if summary.failures:
        for r in summary.failures[:10]:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items() if k in study.varying())
            err.print(f"[red]failed[/] {escape(params or r['hash'])}: {escape(r['error'])}", highlight=False)
        if len(summary.failures) > 10:
            err.print(f"… and {len(summary.failures) - 10} more (column error of results.csv)")
        err.print(f"{len(summary.failures)} of {summary.total} points failed; rerun the same command to retry them")
        raise typer.Exit(1)


@app.command("report")
@user_errors
def report_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="A directory written by `recollect run`.",
                                                show_default=False)],
) -> None:
    """Write report.html (self-contained, figures embedded) and report.md for a study's results."""
    from .experiments.report import write_report

    page, summary = write_report(results_dir)
    out.print(f"wrote {page} and {summary}", highlight=False)


# --- dashboard ----------------------------------------------------------------------------------
@app.command()
@user_errors
def dashboard(
    host: Annotated[str, typer.Option(help="Address to listen on; the default serves this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    data: Annotated[Optional[Path], typer.Option(help="Folder with images/, caltech_face_motor/ and sdnn_weights/ "
                                                 "(default: ../shared/data or $RECOLLECTION_DATA).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Serve the web dashboard: recollect, compare two configurations, and name images interactively."""
    from .dashboard.app import Dashboard
    from .dashboard.server import make_server

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/] listening on {escape(host)}: anyone who can reach this machine can use the "
                  "dashboard (there is no login)")
    try:
        server = make_server(host, port, Dashboard(data, pick_device(device)))
    except OSError as e:
        fail(f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --port")
    out.print(f"dashboard on http://{host}:{port}/  (Ctrl-C to stop)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.print("stopped")
    finally:
        server.server_close()


# --- data sets ----------------------------------------------------------------------------------
data_app = typer.Typer(help="Fetch and prepare the data sets the experiments use.", no_args_is_help=True)
fetch_app = typer.Typer(help="Download a data set and build the layout the experiments read.", no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(fetch_app, name="fetch")


@fetch_app.command("caltech101")
@user_errors
def fetch_caltech101_cmd(
    dest: Annotated[Path, typer.Option("--dest", help="Folder for caltech-101.zip and the caltech_face_motor/ layout.",
                                       show_default=False)],
    seed: Annotated[int, typer.Option(help="Seed of the random split.")] = 0,
    archive: Annotated[Optional[Path], typer.Option(help="caltech-101.zip (or the 101_ObjectCategories.tar.gz inside it) "
                                                    "downloaded by hand from https://data.caltech.edu/records/mzrjq-6wc02.")] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never download: use --archive or an archive already in DEST.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing DEST/caltech_face_motor built with another split.")] = False,
) -> None:
    """Caltech-101 Faces and Motorbikes split as the naming experiments use them: TrainingSet 200+200,
    TestingSet 198+198, LearningSet 237+237 (training plus 37 per class), in DEST/caltech_face_motor."""
    from .data.caltech import fetch_caltech101

    result = fetch_caltech101(dest, seed=seed, archive=archive, download_ok=not no_download, overwrite=overwrite,
                              progress=lambda message: err.print(message, highlight=False))
    sizes = ", ".join(f"{part} {n}+{n}" for part, n in result["sizes"].items())
    out.print(f"{result['root']}: {sizes} (seed {result['seed']}; split.json lists the files)", highlight=False)


def main() -> None:
    """Entry point: user errors become one red line and exit status 2, never a traceback."""
    try:
        app()
    except RecollectionError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
