"""The built-in models' loaders (registered by name in ``registry.py``): build the network, load its weights.

Each returns the network, where its weights came from, and the card found beside them (or {}).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ..errors import RecollectionError, WeightsError
from .alexnet import AlexNet, convpool_from
from .digits import DigitsNet
from .weights import ALEXNET_URL, RESNET18_URL, VGG16_BN_URL, VGG16_URL, load_into, load_state_dict, resolve_weights

OFFLINE_HINT = "The embedded `--model digits` works offline."


def packaged_digits_weights() -> Path:
    return Path(str(resources.files("recollection.cnn") / "pretrained" / "digits.pt"))


def load_digits(weights: str | os.PathLike | None, *, random_init: bool) -> tuple[nn.Module, str, dict]:
    with torch.random.fork_rng(devices=[]):  # a seeded control that leaves the caller's RNG alone
        torch.manual_seed(0)
        model = DigitsNet()
    if random_init:
        return model, "random initialisation (seed 0)", {}
    path = Path(weights) if weights else packaged_digits_weights()
    if not path.exists():
        raise WeightsError(f"digits weights not found at {path}; train them with `recollect train digits`")
    load_into(model, load_state_dict(path), str(path))
    card = path.with_suffix(".json")  # the training config and accuracy, written beside the weights
    meta = json.loads(card.read_text()) if card.exists() else {}
    return model, str(path) if weights else "embedded (trained by `recollect train digits`)", meta


def load_alexnet(weights: str | os.PathLike | None, *, random_init: bool, download_ok: bool,
                 convpool: bool) -> tuple[nn.Module, str, dict]:
    with torch.random.fork_rng(devices=[]):  # a seeded control that leaves the caller's RNG alone
        torch.manual_seed(0)
        base = AlexNet()
        model: nn.Module = convpool_from(base) if convpool else base
    source = "random initialisation (seed 0)"
    if not random_init:
        path = resolve_weights(ALEXNET_URL, weights, download_ok=download_ok, offline_hint=OFFLINE_HINT)
        state, source = load_state_dict(path), str(path)
        if convpool and "features.2.weight" in state:
            load_into(model, state, source)  # a fine-tuned ConvPool checkpoint
        else:
            base = AlexNet()
            load_into(base, state, source)
            model = convpool_from(base) if convpool else base
    return model, source, {}


def alexnet_weights_here() -> bool:
    """Are torchvision's AlexNet weights in the torch hub cache (no download needed)?"""
    try:
        resolve_weights(ALEXNET_URL, None, download_ok=False)
        return True
    except RecollectionError:
        return False


TORCHVISION_WEIGHTS = {"vgg16": VGG16_URL, "vgg16_bn": VGG16_BN_URL, "resnet18": RESNET18_URL}  # torchvision's files


def build_imagenet(name: str) -> nn.Module:
    """VGG-16, VGG-16-BN or ResNet-18 with torchvision's layout and random initialisation (global RNG)."""
    from .resnet import resnet18
    from .vgg import vgg16, vgg16_bn

    return {"vgg16": vgg16, "vgg16_bn": vgg16_bn, "resnet18": resnet18}[name]()


def load_torchvision_layout(name: str, weights: str | os.PathLike | None, *, random_init: bool,
                            download_ok: bool) -> tuple[nn.Module, str, dict]:
    """One of TORCHVISION_WEIGHTS' models with torchvision's ImageNet weights (hub cache, ``weights``, download)."""
    if random_init:
        with torch.random.fork_rng(devices=[]):  # a seeded control that leaves the caller's RNG alone
            torch.manual_seed(0)
            return build_imagenet(name), "random initialisation (seed 0)", {}
    path = resolve_weights(TORCHVISION_WEIGHTS[name], weights, download_ok=download_ok, offline_hint=OFFLINE_HINT)
    state = load_state_dict(path)
    with torch.random.fork_rng(devices=[]):
        model = build_imagenet(name)
    load_into(model, state, str(path))
    return model, str(path), {}


def weights_here(name: str) -> bool:
    """Are a model's torchvision weights in the torch hub cache (no download needed)?"""
    try:
        resolve_weights(TORCHVISION_WEIGHTS[name], None, download_ok=False)
        return True
    except RecollectionError:
        return False
