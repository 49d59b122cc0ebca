"""Attribution methods from Captum on the same mixes and cues: the peers of the recollection retrace.

Captum is optional (``pip install 'recollection[attention]'``); asking for a peer without it is one
clear error, and the recollection method never needs it.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import OptionError, RecollectionError
from .options import PEERS


class MissingDependency(RecollectionError):
    """An optional dependency is not installed."""


def captum_attr() -> Any:
    try:
        import captum.attr  # type: ignore[import-untyped]
    except ImportError:
        raise MissingDependency("the Captum peers need captum: pip install 'recollection[attention]' "
                                "(or pip install captum)") from None
    return captum.attr


def last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise OptionError("grad-cam needs a model with a conv layer")
    return convs[-1]


class Peer:
    """One Captum method, built once per model: ``peer(inputs, targets)`` → input-shaped attributions."""

    def __init__(self, model: nn.Module, method: str) -> None:
        if method not in PEERS:
            raise OptionError(f"unknown attribution method {method!r}; choose from {', '.join(PEERS)}")
        attr = captum_attr()
        self.method, self.model = method, model.eval()
        cls = getattr(attr, PEERS[method])
        self.explainer = cls(self.model, last_conv(self.model)) if method == "grad-cam" else cls(self.model)
        self._interpolate = attr.LayerAttribution.interpolate

    def __call__(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Attributions of ``targets`` (one class per input) to the N×C×H×W ``inputs``."""
        x = inputs.detach().clone().requires_grad_(True)
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")  # removed after each call
            if self.method == "grad-cam":
                cam = self.explainer.attribute(x, target=targets, relu_attributions=True)
                out = self._interpolate(cam, tuple(inputs.shape[-2:]), interpolate_mode="bilinear")
                return out.detach().expand(-1, inputs.shape[1], -1, -1).clone()
            return self.explainer.attribute(x, target=targets).detach()
