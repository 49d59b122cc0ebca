"""The models the CLI knows by name, with their weights, class names and input transform."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from ..errors import OptionError, WeightsError
from .alexnet import AlexNet, convpool_from
from .digits import DigitsNet

MODELS = ("digits", "alexnet", "alexnet-convpool", "vgg16", "vgg16_bn", "resnet18")
TORCHVISION_MODELS = ("vgg16", "vgg16_bn", "resnet18")  # built here with torchvision's layout and weight files
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DIGITS_MEAN = (0.2,)
DIGITS_STD = (0.3,)
OFFLINE_HINT = "The embedded `--model digits` works offline."


def fit_image(image: Image.Image, size: int, grey: bool = False) -> Tensor:
    """Resize the shorter side to ``size``, centre-crop, to a C×H×W tensor in [0, 1]."""
    image = image.convert("L" if grey else "RGB")
    w, h = image.size
    scale = size / min(w, h)
    new = (max(size, round(w * scale)), max(size, round(h * scale)))
    image = image.resize(new, Image.Resampling.BILINEAR, reducing_gap=3.0)
    left, top = (new[0] - size) // 2, (new[1] - size) // 2
    array = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


@dataclass
class LoadedModel:
    """A model ready for recollection: the network plus how to feed it."""

    name: str
    model: nn.Module
    classes: list[str]
    size: int  # input side: shorter side resized to it, then centre-cropped
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: str  # where the weights came from
    meta: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return len(self.mean)

    def to_pixels(self, image: Image.Image) -> Tensor:
        return fit_image(image, self.size, grey=self.channels == 1)

    def normalise(self, pixels: Tensor) -> Tensor:
        """Pixels in [0, 1] (C×H×W or N×C×H×W) to the network's input scale."""
        shape = (-1, 1, 1)
        return (pixels - torch.tensor(self.mean).view(shape)) / torch.tensor(self.std).view(shape)

    def mean_std(self) -> tuple[Tensor, Tensor]:
        return torch.tensor(self.mean), torch.tensor(self.std)


def packaged_digits_weights() -> Path:
    return Path(str(resources.files("recollection.cnn") / "pretrained" / "digits.pt"))


def _load_digits(weights: str | os.PathLike | None, random_init: bool) -> LoadedModel:
    from .weights import load_into, load_state_dict

    model = DigitsNet()
    source = "random initialisation"
    meta: dict = {}
    if not random_init:
        path = Path(weights) if weights else packaged_digits_weights()
        if not path.exists():
            raise WeightsError(f"digits weights not found at {path}; train them with `recollect train digits`")
        load_into(model, load_state_dict(path), str(path))
        card = path.with_suffix(".json")  # the training config and accuracy, written beside the weights
        meta = json.loads(card.read_text()) if card.exists() else {}
        source = str(path) if weights else "embedded (trained by `recollect train digits`)"
    return LoadedModel("digits", model.eval(), [str(i) for i in range(10)], 32, DIGITS_MEAN, DIGITS_STD, source, meta)


def _alexnet_state(weights: str | os.PathLike | None, download_ok: bool) -> tuple[dict, str]:
    from .weights import ALEXNET_URL, load_state_dict, resolve_weights

    path = resolve_weights(ALEXNET_URL, weights, download_ok=download_ok, offline_hint=OFFLINE_HINT)
    return load_state_dict(path), str(path)


def _load_alexnet(weights, random_init: bool, download_ok: bool, convpool: bool) -> LoadedModel:
    from .classes import imagenet_classes
    from .weights import load_into

    torch.manual_seed(0)
    model: nn.Module = AlexNet()
    source = "random initialisation (seed 0)"
    if convpool:
        model = convpool_from(model)
    if not random_init:
        state, source = _alexnet_state(weights, download_ok)
        if convpool and "features.2.weight" in state:
            load_into(model, state, source)  # a fine-tuned ConvPool checkpoint
        else:
            base = AlexNet()
            load_into(base, state, source)
            model = convpool_from(base) if convpool else base
    name = "alexnet-convpool" if convpool else "alexnet"
    return LoadedModel(name, model.eval(), imagenet_classes(), 224, IMAGENET_MEAN, IMAGENET_STD, source)


def imagenet_weights_url(name: str) -> str:
    """The torchvision file of a model's ImageNet weights (found in the torch hub cache, or downloaded)."""
    from . import weights as W

    return {"alexnet": W.ALEXNET_URL, "alexnet-convpool": W.ALEXNET_URL, "vgg16": W.VGG16_URL,
            "vgg16_bn": W.VGG16_BN_URL, "resnet18": W.RESNET18_URL}[name]


def build_imagenet(name: str) -> nn.Module:
    """A torchvision-layout model with torchvision's random initialisation."""
    from .resnet import resnet18
    from .vgg import vgg16, vgg16_bn

    return {"vgg16": vgg16, "vgg16_bn": vgg16_bn, "resnet18": resnet18}[name]()


def _load_torchvision_layout(name: str, weights, random_init: bool, download_ok: bool) -> LoadedModel:
    from .classes import imagenet_classes
    from .weights import load_into, load_state_dict, resolve_weights

    torch.manual_seed(0)
    model = build_imagenet(name)
    source = "random initialisation (seed 0)"
    if not random_init:
        path = resolve_weights(imagenet_weights_url(name), weights, download_ok=download_ok, offline_hint=OFFLINE_HINT)
        load_into(model, load_state_dict(path), str(path))
        source = str(path)
    return LoadedModel(name, model.eval(), imagenet_classes(), 224, IMAGENET_MEAN, IMAGENET_STD, source)


def load_model(name: str, weights: str | os.PathLike | None = None, *, random_init: bool = False,
               download_ok: bool = True) -> LoadedModel:
    """Build a named model and load its weights (``random_init`` gives the random-weights control)."""
    if name == "digits":
        return _load_digits(weights, random_init)
    if name in ("alexnet", "alexnet-convpool"):
        return _load_alexnet(weights, random_init, download_ok, convpool=name == "alexnet-convpool")
    if name in TORCHVISION_MODELS:
        return _load_torchvision_layout(name, weights, random_init, download_ok)
    raise OptionError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
