"""`recollect reconstruct`, `demo`, `layers`, `classes`: the CNN half."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..errors import RecollectionError
from .common import app, check_writable_dir, err, fail, out, pick_device, user_errors

class ModelName(str, Enum):
    digits = "digits"
    alexnet = "alexnet"
    alexnet_convpool = "alexnet-convpool"
    vgg16 = "vgg16"
    vgg16_bn = "vgg16_bn"
    resnet18 = "resnet18"


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
    switches_overwrite = "switches-overwrite"
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
    "pass recorded (overlapping windows add up: the exact adjoint, as Captum); switches-overwrite: the same, "
    "but where windows overlap the last write wins (the research notebook's MaxUnpool2d); upsample: nearest-neighbour ×2; random: each value "
    "to a random position of its window (seeded); distribute: each value copied to its whole window."
)
VIEW_HELP = (
    "How the reconstruction is turned into the recalled PNG. rescale_std: clip(0.1·z + 0.5, 0, 1) "
    "(the figures' default); minmax: (x − min)/(max − min); std: z-score (shown min–max scaled); "
    "inverse-transform: undo the model's mean/std input normalisation."
)



@app.command()
@user_errors
def reconstruct(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for <stem>.original.png, "
                                           "<stem>.recalled.png, <stem>.npy (raw C×H×W float32) and <stem>.json.")] = Path("recollections"),
    model: Annotated[ModelName, typer.Option(help="digits: the embedded offline model; alexnet: torchvision's "
                                             "ImageNet AlexNet; alexnet-convpool: max pools replaced by strided convs; "
                                             "vgg16, vgg16_bn, resnet18: torchvision's ImageNet models.")] = ModelName.digits,
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

    from ..cnn.models import load_model
    from ..data.images import image_files, load_image
    from ..pipeline import check_writable, recollect_pixels, save_result, unique_stems
    from ..retrace.engine import Recollector
    from ..retrace.sources import Source

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
    from ..demo import run_demo

    summary = run_demo(check_writable_dir(out_dir), device=pick_device(device))
    out.print(summary["text"], highlight=False)
    out.print(f"gallery: {summary['gallery']}")


@app.command()
@user_errors
def layers(
    model: Annotated[ModelName, typer.Option(help="Which model.")] = ModelName.digits,
) -> None:
    """List the layer numbers N that layer:N and random:N accept, with their shapes."""
    import torch

    from ..cnn.models import load_model
    from ..retrace.record import record

    info = load_model(model.value, random_init=True)
    trace = record(info.model, torch.zeros(1, info.channels, info.size, info.size))
    for tap in trace.taps:
        step = trace.steps[tap.layer]
        out.print(f"{tap.number:>3}  {tap.name:<24} {'×'.join(map(str, tap.shape)):<14} {step.label} at {step.name}",
                  highlight=False, soft_wrap=True)
    out.print("\nlayer:N starts from the output map of layer N, counted back from the logits (0): every conv, "
              "linear, pool, residual join (+) and concatenation the forward pass records, taken after the "
              "BatchNorm and ReLU that directly follow it.", highlight=False)


@app.command()
@user_errors
def classes(
    query: Annotated[Optional[str], typer.Argument(help="Part of a class name; omit to list them all.")] = None,
    model: Annotated[ModelName, typer.Option(help="Which model's classes.")] = ModelName.alexnet,
) -> None:
    """Find class names and indices for --source class:NAME."""
    from ..cnn.classes import imagenet_classes

    names = [str(i) for i in range(10)] if model is ModelName.digits else imagenet_classes()
    for i, name in enumerate(names):
        if query is None or query.lower() in name.lower():
            out.print(f"{i:>4}  {name}", highlight=False)
