"""Cue-based attention: show a CNN several things at once, then recall each cued class neuron from the
*same* recorded forward pass (the same pool switches) and score each recall against every component.

>>> attender = Attender.for_model(rc.load_model("digits"))          # normalize="none" by default
>>> result = attender(components, cues, mix="max")    # components N×K×C×H×W, cues N×K class indices
>>> result.selectivity.mean()                          # > 0: each concept neuron recalls its own thing

``method`` picks the recollection retrace or a Captum peer (``deconvolution``, ``guided-backprop``,
``saliency``, ``input-x-gradient``, ``grad-cam``), scored on the same mixes with the same measures.
The controls are cues of kind ``zero`` (the switches alone: every cue recalls the same picture) and
``random-class`` (a class that is in none of the components), and the retrace options themselves
(``unpool="upsample"``/``"distribute"`` recall without switches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import OptionError
from ..retrace.engine import Recollector
from ..retrace.record import Trace
from ..retrace.sources import Source
from .measure import correlations, localisation, own_and_other
from .mixes import Mixed, mix_components
from .options import CUES, METHODS, retrace_defaults
from .peers import Peer

if TYPE_CHECKING:
    from ..cnn.models import LoadedModel

RECALL_BUDGET = 1 << 27  # floats of the largest backward map held at once, over all recalled samples


@dataclass
class Attention:
    """What an attention run returns: the mixes, each cue's recall and the scores per mix."""

    mixed: Mixed
    cues: Tensor  # N×K: the class cued for each component
    recalled: Tensor | None  # N×K: the class neuron each recall started from (None for a zero source)
    recalls: Tensor  # N×K×C×H×W: raw recalls (attributions for a peer)
    predicted: Tensor  # N: what the network sees in each mix
    r: np.ndarray  # N×K×K: r[i, a, b] = Pearson r(recall of cue a, component b)
    selectivity: np.ndarray  # N
    r_own: np.ndarray  # N
    r_other: np.ndarray  # N
    pointing: np.ndarray | None  # N, tiled mixes only
    energy_in_mask: np.ndarray | None  # N, tiled mixes only

    def scores(self, i: int) -> dict:
        """Mix ``i``'s scores as plain numbers (None where a measure does not apply)."""
        cues = self.cues[i].tolist()
        return {
            "selectivity": float(self.selectivity[i]), "r_own": float(self.r_own[i]), "r_other": float(self.r_other[i]),
            "pointing": None if self.pointing is None else float(self.pointing[i]),
            "energy_in_mask": None if self.energy_in_mask is None else float(self.energy_in_mask[i]),
            "sees_a_component": float(int(self.predicted[i]) in cues),
        }

    def summary(self) -> dict:
        """Means over the mixes (and how many mixes were selective at all)."""
        mean = lambda v: None if v is None else float(np.mean(v))  # noqa: E731
        return {"mixes": int(self.selectivity.size), "selectivity": mean(self.selectivity),
                "selective_mixes": int((self.selectivity > 0).sum()), "r_own": mean(self.r_own),
                "r_other": mean(self.r_other), "pointing": mean(self.pointing),
                "energy_in_mask": mean(self.energy_in_mask)}


@dataclass
class Perception:
    """The recorded forward passes of a batch of mixes, in chunks (one forward per mix), reusable by
    every Attender of the same model: each retrace option and cue recalls from these traces."""

    mixed: Mixed
    chunks: list[tuple[slice, Trace]]
    predicted: Tensor


class Attender:
    """Build once per model, method and options; call on components and cues (Captum-style). The retrace
    options default to the attention defaults (ATTEND_PARAMS: ``normalize=None``), not the retrace's."""

    def __init__(self, model: nn.Module, *, method: str = "recollection", transform: Callable[[Tensor], Tensor] | None = None,
                 classes: Sequence[str] | None = None, device: str | torch.device = "cpu", cue: str = "class",
                 seed: int = 0, **retrace_options: Any) -> None:
        if method not in METHODS:
            raise OptionError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        if cue not in CUES:
            raise OptionError(f"unknown cue kind {cue!r}; choose from {', '.join(CUES)}")
        if method != "recollection" and (cue != "class" or retrace_options):
            raise OptionError(f"{method} takes class cues and no retrace options (those are the recollection's)")
        self.method, self.cue, self.seed = method, cue, seed
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.transform = transform or (lambda pixels: pixels)
        self.recollector = Recollector(self.model, classes=classes, device=self.device, seed=seed,
                                       **{**retrace_defaults(), **retrace_options}) if method == "recollection" else None
        self.peer = Peer(self.model, method) if method != "recollection" else None

    @classmethod
    def for_model(cls, info: LoadedModel, **options: Any) -> "Attender":
        """An Attender for a :class:`~recollection.cnn.models.LoadedModel` (its input transform and classes)."""
        return cls(info.model, transform=info.normalise, classes=info.classes, **options)

    def __call__(self, components: Tensor, cues: Tensor | Sequence[Sequence[int]], mix: str = "max") -> Attention:
        mixed = mix_components(components, mix)
        return self.attend(self.perceive(mixed), cues)

    def perceive(self, mixed: Mixed) -> Perception:
        """One recorded forward pass per mix (chunked so that the recalls of a chunk fit in memory)."""
        inputs = self.transform(mixed.pixels).to(self.device)
        probe = Recollector(self.model, device=self.device).perceive(inputs[:1])
        chunk = chunk_size(probe, mixed.placed.shape[1], inputs.shape[0])
        chunks = [(slice(i, i + chunk), Recollector(self.model, device=self.device).perceive(inputs[i:i + chunk]))
                  for i in range(0, inputs.shape[0], chunk)]
        return Perception(mixed, chunks, torch.cat([t.predicted for _, t in chunks]).cpu())

    def attend(self, perception: Perception, cues: Tensor | Sequence[Sequence[int]]) -> Attention:
        """Recall every cue of every mix from the perceived traces and score the recalls."""
        mixed = perception.mixed
        cues = check_cues(torch.as_tensor(cues, dtype=torch.long), mixed, perception.chunks[0][1].output.shape[1])
        recalled: Tensor | None
        if self.peer is not None:
            inputs = self.transform(mixed.pixels).to(self.device)
            recalls = torch.stack([self.peer(inputs, cues[:, a].to(self.device)) for a in range(cues.shape[1])], dim=1)
            recalled = cues
        else:
            recalled = self.recalled_classes(cues, perception.chunks[0][1].output.shape[1])
            recalls = torch.cat([self.recall(trace, None if recalled is None else recalled[part], cues.shape[1])
                                 for part, trace in perception.chunks])
        recalls = recalls.float().cpu()
        r = correlations(recalls, mixed.placed)
        own, other = own_and_other(r)
        pointing = energy = None
        if mixed.masks is not None:
            pointing, energy = localisation(recalls, mixed.masks)
        return Attention(mixed, cues, recalled, recalls, perception.predicted, r, own - other, own, other, pointing, energy)

    def recalled_classes(self, cues: Tensor, n_classes: int) -> Tensor | None:
        """The class neuron each recall starts from: the cue, a class in none of the components, or none."""
        if self.cue == "zero":
            return None
        if self.cue == "class":
            return cues
        return random_other_classes(cues, n_classes, self.seed)

    def recall(self, trace: Trace, classes: Tensor | None, k: int) -> Tensor:
        """N×K×C×H×W recalls of one chunk: one backward pass per cue slot, each mix from its own class neuron."""
        rec = self.recollector
        assert rec is not None, "recall is the recollection method's"
        if classes is None:
            image = rec.recall(trace, Source("zero")).image
            return image[:, None].expand(-1, k, *image.shape[1:])
        return torch.stack([rec.recall(trace, Source("class"), target=classes[:, a]).image for a in range(k)], dim=1)


def chunk_size(probe: Trace, k: int, n: int) -> int:
    """Mixes per chunk so that the K cue slots' backward maps of a chunk fit RECALL_BUDGET floats."""
    largest = max(math.prod(s.input_shape[1:]) for s in probe.steps)
    samples = max(1, RECALL_BUDGET // largest)  # recalls held at once
    return max(1, min(n, samples // k))


def check_cues(cues: Tensor, mixed: Mixed, n_classes: int) -> Tensor:
    n, k = mixed.placed.shape[:2]
    if cues.shape != (n, k):
        raise OptionError(f"expected one cue per component ({n}×{k}), got shape {tuple(cues.shape)}")
    if bool(((cues < 0) | (cues >= n_classes)).any()):
        raise OptionError(f"cues must be class indices 0..{n_classes - 1}")
    if bool((cues.sort(dim=1).values.diff(dim=1) == 0).any()):
        raise OptionError("two components of a mix are cued with the same class: selectivity needs different cues")
    return cues


def random_other_classes(cues: Tensor, n_classes: int, seed: int) -> Tensor:
    """For every cue a uniformly random class that is in none of its mix's cues (seeded)."""
    n, k = cues.shape
    if n_classes <= k:
        raise OptionError(f"random-class needs a class outside the {k} cued ones; the model has {n_classes}")
    generator = torch.Generator().manual_seed(seed)
    allowed = torch.ones(n, n_classes).scatter_(1, cues, 0.0)
    return torch.multinomial(allowed.repeat_interleave(k, dim=0), 1, generator=generator).view(n, k)


__all__ = ["Attender", "Attention", "Perception", "METHODS", "CUES"]
