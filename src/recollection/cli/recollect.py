"""`recollect reconstruct`, `demo`, `layers`, `classes`: the CNN half."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from ..cnn.registry import get_model, model_options
from ..errors import RecollectionError
from ..retrace.options import RECOLLECTION_OPTIONS, retrace_options, source_of
from .common import (Device, Model, app, check_writable_dir, err, fail, out, pick_device, plain, schema_options,
                     user_errors)

RECONSTRUCT_OPTIONS = {**model_options("digits"), **RECOLLECTION_OPTIONS}  # every option, from the schema


@app.command()
@user_errors
@schema_options(RECONSTRUCT_OPTIONS)
def reconstruct(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for <stem>.original.png, "
                                           "<stem>.recalled.png, <stem>.npy (raw C×H×W float32) and <stem>.json.")] = Path("recollections"),
    *,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file (else the torch hub cache, else a download).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images recollected together.")] = 16,
    device: Device = "cpu",
    **options,
) -> None:
    """Reconstruct IMAGES by walking back from a source to the input layer."""
    from rich.progress import Progress

    from ..cnn.models import load_model
    from ..data.images import image_files, load_image
    from ..pipeline import check_writable, recollect_pixels, save_result, unique_stems
    from ..retrace.engine import Recollector

    import torch

    device = pick_device(device)
    spec = source_of(options)
    files = image_files(images)
    if not files:
        fail("no images given (folders were empty)")
    out_path = check_writable(out_dir)
    info = load_model(options["model"], weights, random_init=options["random_init"])
    rec = Recollector(info.model, classes=info.classes, device=device, **retrace_options(options))
    view = options["view"]
    config = {"model": info.name, "weights": info.weights, "source": str(spec), "top": spec.top,
              "per_channel": spec.per_channel, **rec.options.to_dict(), "view": view, "device": device}
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
            results, _ = recollect_pixels(rec, info, torch.stack(pixels), [str(p) for p, _ in good], spec, view)
            for (path, stem), result in zip(good, results):
                save_result(result, out_path, stem, config)
                s = result.scores
                out.print(f"{path}: predicted {result.predicted_name!r} ({result.predicted}); "
                          f"r={s['pearson']:.3f} ssim={s['ssim']:.3f} psnr={s['psnr']:.1f} "
                          f"edge-r={s['edge_pearson']:.3f}" + (f" → {stem}.*" if stem != path.stem else ""),
                          highlight=False, soft_wrap=True)
                done += 1
    out.print(f"wrote {done} recollection(s) to {out_path}" + (f"; {failed} image(s) skipped" if failed else ""))
    if failed:
        raise typer.Exit(1)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Where to write the gallery.")] = Path("recollect-demo"),
    device: Device = "cpu",
) -> None:
    """Offline, in seconds: recollect one digit of each class with the embedded model."""
    from ..demo import run_demo

    summary = run_demo(check_writable_dir(out_dir), device=pick_device(device))
    out.print(summary["text"], highlight=False)
    out.print(f"gallery: {summary['gallery']}")


@app.command()
@user_errors
def layers(
    model: Model = "digits",
) -> None:
    """List the layer numbers N that layer:N and random:N accept, with their shapes."""
    import torch

    from ..cnn.models import load_model
    from ..retrace.record import record

    info = load_model(plain(model), random_init=True)
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
    model: Model = "alexnet",
) -> None:
    """Find class names and indices for --source class:NAME."""
    names = get_model(plain(model)).class_names()
    for i, name in enumerate(names):
        if query is None or query.lower() in name.lower():
            out.print(f"{i:>4}  {name}", highlight=False)
