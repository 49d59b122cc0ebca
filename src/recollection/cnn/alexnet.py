"""AlexNet as torchvision defines it (same ``state_dict`` keys), and its ConvPool variant."""

from __future__ import annotations

import copy

import torch
from torch import nn


class AlexNet(nn.Module):
    """torchvision's AlexNet, with non-in-place ReLUs so that activations can be recorded."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def pool_as_conv(channels: int) -> nn.Conv2d:
    """A learnable ``Conv2d(C, C, 3, stride 2)`` that starts as a per-channel 3×3 average.

    Starting as an average pool (rather than at random) keeps the pretrained network's
    accuracy before fine-tuning, so the un-tuned ConvPool net is already meaningful.
    """
    conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[range(channels), range(channels)] = 1.0 / 9.0
        if conv.bias is not None:
            conv.bias.zero_()
    return conv


def convpool_from(alexnet: AlexNet) -> AlexNet:
    """The ConvPool variant: every max pool of ``features`` replaced by ``pool_as_conv``.

    The state-dict keys stay those of AlexNet, plus the new convs at the pools' indices
    (``features.2``, ``features.5``, ``features.12``).
    """
    net = copy.deepcopy(alexnet)
    for i, layer in enumerate(net.features):
        if isinstance(layer, nn.MaxPool2d):
            conv = net.features[i - 2]
            assert isinstance(conv, nn.Conv2d)  # (every pool of AlexNet's features follows conv, relu)
            channels = conv.out_channels
            net.features[i] = pool_as_conv(channels)
    return net


def alexnet_convpool(num_classes: int = 1000) -> AlexNet:
    return convpool_from(AlexNet(num_classes))
