"""Models by name, torchvision's pattern: :func:`register_model` declares one, :func:`list_models` names
them, :func:`get_model` gives a registration and :func:`recollection.cnn.models.load_model` builds it.

The CLI's ``--model`` choices, the ``cnn.recollect`` study parameter and the dashboard's model menu
all read this registry; nothing else lists model names. A registration says how to load the network
and how to feed it (class names, input size, mean/std). This module imports no torch: the loaders
import what they need when called, so listing the models stays fast.

    @register_model("vgg16", classes=imagenet_classes, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    help="torchvision's ImageNet VGG-16")
    def _vgg16(weights, *, random_init, download_ok):
        from .vgg import load_vgg16                  # returns (the nn.Module, where its weights came from)
        return load_vgg16(weights, random_init=random_init, download_ok=download_ok)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

from ..errors import OptionError
from ..schema import Param
from .classes import imagenet_classes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DIGITS_MEAN = (0.2,)
DIGITS_STD = (0.3,)


class Built(NamedTuple):
    """What a loader returns: the network, where its weights came from, and any card found beside them."""

    model: Any  # a torch.nn.Module
    weights: str
    meta: dict | None = None  # e.g. the training config and accuracy written beside the weights


Loader = Callable[..., Built]  # loader(weights: path or None, *, random_init: bool, download_ok: bool) -> Built


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to load it and how to feed it."""

    name: str
    loader: Loader
    classes: Sequence[str] | Callable[[], Sequence[str]]  # the names, or a function reading them
    size: int  # input side: the shorter side is resized to it, then centre-cropped
    mean: tuple[float, ...]  # per input channel, on pixels in [0, 1]
    std: tuple[float, ...]
    help: str = ""  # one line, for --model's help and the dashboard
    weights_available: Callable[[], bool] = lambda: True  # are the trained weights here, without a download?

    def class_names(self) -> list[str]:
        return list(self.classes() if callable(self.classes) else self.classes)

    def load(self, weights: str | os.PathLike | None = None, *, random_init: bool = False,
             download_ok: bool = True) -> Built:
        return Built(*self.loader(weights, random_init=random_init, download_ok=download_ok))


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(name: str, *, classes: Sequence[str] | Callable[[], Sequence[str]], size: int,
                   mean: Sequence[float], std: Sequence[float], help: str = "",
                   weights_available: Callable[[], bool] | None = None) -> Callable[[Loader], Loader]:
    """Decorator: make the loader below known as model ``name`` (to the CLI, studies, dashboard, API)."""
    if len(mean) != len(std):
        raise ValueError(f"model {name!r}: mean and std need one value per input channel")

    def register(loader: Loader) -> Loader:
        if name in _REGISTRY:
            raise ValueError(f"a model named {name!r} is already registered")
        _REGISTRY[name] = ModelSpec(name, loader, classes, size, tuple(mean), tuple(std), help,
                                    weights_available or (lambda: True))
        return loader

    return register


def list_models() -> list[str]:
    """The registered model names, in registration order."""
    return list(_REGISTRY)


def get_model(name: str) -> ModelSpec:
    """The registration of model ``name`` (an OptionError naming the choices if there is none)."""
    if name not in _REGISTRY:
        raise OptionError(f"unknown model {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def model_options(default: str) -> dict[str, Param]:
    """The model choice as every front end offers it: a registered name, and random weights (a control)."""
    described = "; ".join(f"{m.name}: {m.help}" if m.help else m.name for m in _REGISTRY.values())
    return {"model": Param(str, default, tuple(_REGISTRY), help=f"Which model. {described}."),
            "random_init": Param(bool, False, help="Use random weights (control).")}


# --- the built-in models -----------------------------------------------------------------------------
def _alexnet_weights_here() -> bool:
    from .loaders import alexnet_weights_here

    return alexnet_weights_here()


@register_model("digits", classes=[str(i) for i in range(10)], size=32, mean=DIGITS_MEAN, std=DIGITS_STD,
                help="the embedded offline model")
def _digits(weights, *, random_init: bool, download_ok: bool) -> Built:
    from .loaders import load_digits

    return Built(*load_digits(weights, random_init=random_init))


@register_model("alexnet", classes=imagenet_classes, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                help="torchvision's ImageNet AlexNet", weights_available=_alexnet_weights_here)
def _alexnet(weights, *, random_init: bool, download_ok: bool) -> Built:
    from .loaders import load_alexnet

    return Built(*load_alexnet(weights, random_init=random_init, download_ok=download_ok, convpool=False))


@register_model("alexnet-convpool", classes=imagenet_classes, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                help="max pools replaced by strided convs", weights_available=_alexnet_weights_here)
def _alexnet_convpool(weights, *, random_init: bool, download_ok: bool) -> Built:
    from .loaders import load_alexnet

    return Built(*load_alexnet(weights, random_init=random_init, download_ok=download_ok, convpool=True))


def _torchvision_weights_here(name: str) -> Callable[[], bool]:
    def here() -> bool:
        from .loaders import weights_here

        return weights_here(name)
    return here


def _torchvision_layout(name: str) -> Loader:
    def load(weights, *, random_init: bool, download_ok: bool) -> Built:
        from .loaders import load_torchvision_layout

        return Built(*load_torchvision_layout(name, weights, random_init=random_init, download_ok=download_ok))
    return load


for _name, _help in (("vgg16", "torchvision's ImageNet VGG-16"),
                     ("vgg16_bn", "torchvision's ImageNet VGG-16 with BatchNorm"),
                     ("resnet18", "torchvision's ImageNet ResNet-18 (residual joins, BatchNorm)")):
    register_model(_name, classes=imagenet_classes, size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, help=_help,
                   weights_available=_torchvision_weights_here(_name))(_torchvision_layout(_name))


__all__ = ["Built", "ModelSpec", "get_model", "list_models", "model_options", "register_model"]
