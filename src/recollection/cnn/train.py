"""Training recipes: the embedded digits model, and the ConvPool fine-tuning of AlexNet."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from ..errors import RecollectionError
from .digits import DigitsNet
from .models import DIGITS_MEAN, DIGITS_STD, LoadedModel, fit_image

Progress = Callable[[str, int, int, dict], None]  # (stage, step, total, metrics)


def _quiet(stage: str, step: int, total: int, metrics: dict) -> None:
    pass


def atomic_save(obj, path: Path) -> None:
    """Write then rename, so a crash never leaves a half-written checkpoint."""
    from ..io import atomic_write, write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        write_json(path, obj)
    else:
        atomic_write(path, lambda fh: torch.save(obj, fh))


# --- digits ------------------------------------------------------------------------------

@dataclass
class DigitsRecipe:
    """Everything that decides the embedded digits model (written next to its weights)."""

    dataset: str = "sklearn"  # sklearn (bundled 8×8 digits) or mnist (idx files in mnist_dir)
    mnist_dir: str | None = None
    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    test_fraction: float = 0.2
    max_shift: int = 2  # random translation (pixels at 32×32) as augmentation
    seed: int = 0


def digits_pixels(images: np.ndarray) -> Tensor:
    """uint8 digit arrays to N×1×32×32 pixels in [0, 1], through the model's own transform."""
    return torch.stack([fit_image(Image.fromarray(a), 32, grey=True) for a in images])


def load_digit_arrays(recipe: DigitsRecipe) -> tuple[np.ndarray, np.ndarray]:
    from ..data.digits import mnist, sklearn_digits

    if recipe.dataset == "sklearn":
        return sklearn_digits()
    if recipe.dataset == "mnist":
        if not recipe.mnist_dir:
            raise RecollectionError("--dataset mnist needs --mnist-dir (e.g. ../shared/data/mnist)")
        return mnist(recipe.mnist_dir)
    raise RecollectionError(f"unknown digits dataset {recipe.dataset!r}; choose sklearn or mnist")


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified, seeded train/test split."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    return train_test_split(idx, test_size=test_fraction, stratify=labels, random_state=seed)


def _shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    if max_shift == 0:
        return x
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 512) -> float:
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
    return float((pred == y).float().mean())


def train_digits(recipe: DigitsRecipe, out: str | os.PathLike, progress: Progress = _quiet) -> dict:
    """Train the embedded digits model; write ``out`` (weights) and ``out``.json (recipe + scores)."""
    out = Path(out)
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    images, labels = load_digit_arrays(recipe)
    train_idx, test_idx = split_indices(labels, recipe.test_fraction, recipe.seed)
    normalise = lambda p: (p - DIGITS_MEAN[0]) / DIGITS_STD[0]  # noqa: E731
    x = normalise(digits_pixels(images))
    y = torch.from_numpy(labels)
    x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    model = DigitsNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    history = []
    started = time.perf_counter()
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total = 0.0
        for i in range(0, len(order), recipe.batch_size):
            batch = order[i:i + recipe.batch_size]
            loss = F.cross_entropy(model(_shift(x_train[batch], recipe.max_shift, generator)), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        schedule.step()
        metrics = {"epoch": epoch + 1, "loss": total / len(order), "test_accuracy": accuracy(model, x_test, y_test)}
        history.append(metrics)
        progress("digits", epoch + 1, recipe.epochs, metrics)
    card = {
        "recipe": asdict(recipe),
        "n_train": len(train_idx),
        "n_test": len(test_idx),
        "train_accuracy": accuracy(model, x_train, y_train),
        "test_accuracy": accuracy(model, x_test, y_test),
        "test_indices": [int(i) for i in test_idx],
        "seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
        "history": history,
    }
    atomic_save({"model": model.state_dict()}, out)
    atomic_save(card, out.with_suffix(".json"))
    return card


# --- ConvPool fine-tuning ------------------------------------------------------------------

STAGES = ("pool-convs", "convs", "classifier")  # gradual unfreezing, each adds to the last


@dataclass
class ConvPoolRecipe:
    """The spec's fine-tuning: 80/20 split, SGD lr 1e-5 momentum 0.9, gradual unfreezing."""

    data: str = ""
    epochs_per_stage: tuple[int, int, int] = (1, 1, 1)
    batch_size: int = 32
    lr: float = 1e-5
    momentum: float = 0.9
    val_fraction: float = 0.2
    seed: int = 0
    weights: str | None = None  # AlexNet weights to start from
    random_init: bool = False
    limit: int | None = None  # use only the first N images of the split (smoke tests)


def folder_labels(classes: list[str]) -> list[int]:
    """ImageNet index of each class folder: ImageNetV2 names them 0..999, or by class name."""
    from .classes import imagenet_classes, resolve_class

    names = imagenet_classes()
    return [int(c) if c.isdecimal() and int(c) < 1000 else resolve_class(c, names) for c in classes]


def trainable_parameters(model: nn.Module, stage: int) -> list[nn.Parameter]:
    """The new pool convs first, then every conv, then the classifier as well."""
    pool_convs = [m for m in model.features if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
                  and m.stride == (2, 2)]
    groups: list[list[nn.Module]] = [pool_convs, [m for m in model.features if isinstance(m, nn.Conv2d)],
                                     [model.classifier]]
    modules = {id(m): m for g in groups[: stage + 1] for m in g}
    return [p for m in modules.values() for p in m.parameters()]


def _load_batch(model_info: LoadedModel, files: list[Path]) -> Tensor:
    from ..data.images import load_image

    return torch.stack([model_info.normalise(model_info.to_pixels(load_image(f, shorter_side=model_info.size)))
                        for f in files])


def train_convpool(recipe: ConvPoolRecipe, out_dir: str | os.PathLike, *, resume: bool = False,
                   device: str = "cpu", progress: Progress = _quiet) -> dict:
    """Fine-tune the ConvPool AlexNet on an image folder, checkpointing after every epoch."""
    from ..data.folders import image_folder
    from .models import load_model

    out = Path(out_dir)
    checkpoint_path = out / "checkpoint.pt"
    files, labels, classes = image_folder(recipe.data)
    targets = folder_labels(classes)
    labels_t = torch.tensor([targets[label] for label in labels])
    info = load_model("alexnet-convpool", recipe.weights, random_init=recipe.random_init)
    model = info.model.to(device)
    rng = np.random.default_rng(recipe.seed)
    order = rng.permutation(len(files))
    n_val = max(1, int(round(len(files) * recipe.val_fraction)))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if recipe.limit:
        val_idx, train_idx = val_idx[: recipe.limit], train_idx[: recipe.limit]
    start_stage, start_epoch, history = 0, 0, []
    optimizer_state = None
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        start_stage, start_epoch, history = state["stage"], state["epoch"], state["history"]
        optimizer_state = state["optimizer"]
    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    for stage in range(start_stage, len(STAGES)):
        for p in model.parameters():
            p.requires_grad_(False)
        params = trainable_parameters(model, stage)
        for p in params:
            p.requires_grad_(True)
        optimizer = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum)
        if optimizer_state is not None and stage == start_stage:
            optimizer.load_state_dict(optimizer_state)
        first_epoch = start_epoch if stage == start_stage else 0
        for epoch in range(first_epoch, recipe.epochs_per_stage[stage]):
            generator.manual_seed(recipe.seed * 1000 + stage * 100 + epoch)  # resume-proof shuffling
            shuffled = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
            model.train()
            total = 0.0
            for i in range(0, len(shuffled), recipe.batch_size):
                batch = shuffled[i:i + recipe.batch_size]
                x = _load_batch(info, [files[j] for j in batch]).to(device)
                loss = F.cross_entropy(model(x), labels_t[batch].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch)
            val = _evaluate(model, info, files, labels_t, val_idx, recipe.batch_size, device)
            metrics = {"stage": STAGES[stage], "epoch": epoch + 1, "loss": total / max(1, len(shuffled)),
                       "val_accuracy": val}
            history.append(metrics)
            atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "stage": stage,
                         "epoch": epoch + 1, "history": history}, checkpoint_path)
            progress(STAGES[stage], epoch + 1, recipe.epochs_per_stage[stage], metrics)
        start_epoch, optimizer_state = 0, None
    atomic_save({"model": model.state_dict()}, out / "convpool.pt")
    card = {"recipe": asdict(recipe), "history": history, "classes": len(classes),
            "n_train": len(train_idx), "n_val": len(val_idx), "torch": torch.__version__}
    atomic_save(card, out / "convpool.json")
    return card


def _evaluate(model, info, files, labels, idx, batch_size, device) -> float:
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(idx), batch_size):
            batch = idx[i:i + batch_size]
            x = _load_batch(info, [files[j] for j in batch]).to(device)
            correct += int((model(x).argmax(1).cpu() == labels[batch]).sum())
    return correct / max(1, len(idx))
