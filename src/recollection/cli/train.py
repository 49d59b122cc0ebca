"""`recollect train digits|convpool`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app, check_writable_dir, err, out, pick_device, user_errors
from .common import Seed

train_app = typer.Typer(help="Train the models the toolkit ships or uses.", no_args_is_help=True)
app.add_typer(train_app, name="train")

@train_app.command("digits")
@user_errors
def train_digits_cmd(
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Weights file to write (a .json card goes beside it).")] = Path("digits.pt"),
    dataset: Annotated[str, typer.Option(help="sklearn: scikit-learn's bundled 8×8 digits (offline); "
                                         "mnist: the idx files in --mnist-dir.")] = "sklearn",
    mnist_dir: Annotated[Optional[Path], typer.Option(help="Folder with MNIST's t10k idx .gz files.")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 40,
    seed: Seed = 0,
) -> None:
    """Train the embedded digits model (the recipe that produced the shipped weights)."""
    from rich.progress import Progress

    from ..cnn.train import DigitsRecipe, train_digits

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
    seed: Seed = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoint.pt.")] = False,
    limit: Annotated[Optional[int], typer.Option(help="Use only N training and N validation images (smoke test).")] = None,
    random_init: Annotated[bool, typer.Option("--random-init", help="Start from random AlexNet weights.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Fine-tune the ConvPool AlexNet with the spec's schedule (80/20 split, SGD, gradual unfreezing)."""
    from rich.progress import Progress

    from ..cnn.train import STAGES, ConvPoolRecipe, train_convpool

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
