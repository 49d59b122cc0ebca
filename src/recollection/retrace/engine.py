"""The recollection engine: record a forward pass, then walk back from a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn

from . import steps as S
from .normalize import VIEWS, normalize, view, winner_take_all
from .options import RetraceOptions
from .record import Step, Trace, record
from .sources import Source, build_source

WEIGHTED = (nn.Linear, nn.Conv2d, nn.MaxPool2d)  # the steps that normalise and rectify


@dataclass
class BackwardMap:
    """The backward signal after retracing layer ``name`` (the first map is the source)."""

    name: str
    value: Tensor


@dataclass
class Recollection:
    """What a recollection returns: the input-shaped reconstruction and every step to it."""

    image: Tensor  # N×C×H×W raw reconstruction (before any view)
    cascade: list[BackwardMap]  # from the source down to the input
    source: Source
    start: str  # name of the layer the source sits at
    predicted: Tensor  # N predicted classes
    targets: Tensor | None = None  # N class neurons used, for class sources
    options: RetraceOptions = field(default_factory=RetraceOptions)

    def view(self, name: str = "rescale_std", mean: Tensor | None = None, std: Tensor | None = None) -> Tensor:
        return view(self.image, name, mean, std)


class Recollector:
    """Backward retrace of a CNN, Captum-style: build it once, call it on inputs.

    >>> rec = Recollector(model, normalize="rescale_std")
    >>> result = rec(images, source="class")       # or Source("layer", layer=3, top=1)
    >>> result.image.shape == images.shape
    True

    Args:
        model: the CNN (its leaf modules in order: Conv2d, ReLU, MaxPool2d, AdaptiveAvgPool2d, Flatten,
            Dropout, Linear); it is moved to ``device`` and put in eval mode.
        classes: class names, so that sources can name a class (``"class:tabby cat"``).
        device: where the forward and backward passes run (``"cpu"``, ``"cuda"``, ...).
        normalize: the normalisation after every backward step: ``"rescale_std"``, ``"std"``,
            ``"std_global"``, ``"rescale_std_local"``, ``"minmax"``, ``"minmax_local"``,
            ``"minmax_rescale"``, ``"minmax_01_05_rescale"``, or ``"none"`` / None for none.
        positivise: set negatives to 0 after dense (linear) steps.
        positivise_conv: set negatives to 0 after conv and unpool steps.
        rectify_input: rectify after the last step too (the reconstructed input); with
            ``normalize="none"`` and False, the result equals Captum's ``Deconvolution``.
        wta: winner-take-all across channels before each transposed conv.
        unpool: how max pools are undone: ``"switches"`` (the recorded argmax positions),
            ``"upsample"``, ``"random"`` (seeded) or ``"distribute"``.
        seed: seed for everything random (``random-class``, ``random:N``, random unpooling).

    The options are declared, with their help, in :class:`~recollection.retrace.options.RetraceOptions`;
    they are checked there (an unknown value raises :class:`~recollection.errors.OptionError`).
    """

    def __init__(self, model: nn.Module, *, classes: Sequence[str] | None = None,
                 device: str | torch.device = "cpu", normalize: str | None = "rescale_std",
                 positivise: bool = True, positivise_conv: bool = True, rectify_input: bool = True,
                 wta: bool = False, unpool: str = "switches", seed: int = 0) -> None:
        self.options = RetraceOptions(normalize=normalize, positivise=positivise, positivise_conv=positivise_conv,
                                      rectify_input=rectify_input, wta=wta, unpool=unpool, seed=seed)
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.classes = classes

    def perceive(self, inputs: Tensor) -> Trace:
        """Forward pass, recorded (reuse the trace to recall from several sources)."""
        return record(self.model, inputs.to(self.device))

    def recall(self, trace: Trace, source: Source | str = "class") -> Recollection:
        """Walk back from ``source`` to the input through the recorded trace."""
        if isinstance(source, str):
            source = Source.parse(source)
        generator = torch.Generator(device=self.device).manual_seed(self.options.seed)
        tap_number, signal, targets = build_source(source, trace, self.classes, generator)
        tap = trace.taps[tap_number]
        with torch.inference_mode():
            cascade = self._walk_back(trace, tap.step, signal, generator)
        return Recollection(cascade[-1].value, cascade, source, tap.name, trace.predicted,
                            targets, self.options)

    def recall_many(self, trace: Trace, sources: Sequence[Source | str]) -> list[Recollection]:
        """Recall from several sources at once: the sources that start at the same layer share one
        backward pass over their stacked signals (k·N samples), so each weight matrix is read once.
        Every sample is normalised on its own, so each result equals ``recall(trace, source)`` up to
        float rounding; with ``unpool="random"`` the sources run one by one to keep their draws."""
        sources = [Source.parse(s) if isinstance(s, str) else s for s in sources]
        if self.options.unpool == "random" or len(sources) < 2:
            return [self.recall(trace, s) for s in sources]
        built = []
        for s in sources:
            generator = torch.Generator(device=self.device).manual_seed(self.options.seed)
            built.append(build_source(s, trace, self.classes, generator))
        results: list[Recollection | None] = [None] * len(sources)
        for tap_number in dict.fromkeys(b[0] for b in built):
            members = [i for i, b in enumerate(built) if b[0] == tap_number]
            tap = trace.taps[tap_number]
            signal = torch.cat([built[i][1] for i in members])
            generator = torch.Generator(device=self.device).manual_seed(self.options.seed)
            with torch.inference_mode():
                cascade = self._walk_back(tiled(trace, len(members)), tap.step, signal, generator)
            for k, i in enumerate(members):
                n = trace.inputs.shape[0]
                own = [BackwardMap(m.name, m.value[k * n : (k + 1) * n]) for m in cascade]
                results[i] = Recollection(own[-1].value, own, sources[i], tap.name, trace.predicted, built[i][2],
                                          self.options)
        return results  # type: ignore[return-value]

    def __call__(self, inputs: Tensor, source: Source | str = "class") -> Recollection:
        return self.recall(self.perceive(inputs), source)

    def _walk_back(self, trace: Trace, start: int, x: Tensor, generator: torch.Generator) -> list[BackwardMap]:
        o = self.options
        weighted = [i for i, s in enumerate(trace.steps) if isinstance(s.module, WEIGHTED)]
        first = weighted[0]
        before = dict(zip(weighted[1:], weighted[:-1]))  # the weighted step retraced next
        layer_names = {t.layer: t.name for t in trace.taps}
        cascade = [BackwardMap("source", x)]
        deferred = False  # a rectification waiting for the unpool (see below)
        for i in range(start, -1, -1):
            step = trace.steps[i]
            m = step.module
            if isinstance(m, nn.Linear):
                x = S.linear_backward(x.reshape(x.shape[0], -1), m.weight, step.input_shape)
                rectify = o.positivise
            elif isinstance(m, nn.Conv2d):
                if o.wta:
                    x = winner_take_all(x)
                x = S.conv_backward(x, m, step.input_shape)
                rectify = o.positivise_conv
            elif isinstance(m, nn.MaxPool2d):
                x = self._unpool(x, step, generator)
                rectify, deferred = o.positivise_conv or deferred, False
            else:
                if isinstance(m, nn.AdaptiveAvgPool2d):
                    x = S.adaptive_avgpool_backward(x, step.input_shape)
                elif isinstance(m, nn.Flatten):
                    x = x.reshape(step.input_shape)
                continue  # ReLU, dropout, flatten: reshape only
            x = normalize(x, o.normalize)
            # The forward ReLU of a "ReLU -> max pool -> layer" block sits below the pool, so the
            # rectification waits until the unpool. The research code's unpool overwrote
            # overlapping windows, where the order made no difference; the exact (summing)
            # transpose makes it matter, and this placement equals Captum's Deconvolution.
            if rectify and isinstance(trace.steps[before.get(i, i)].module, nn.MaxPool2d) and i != first:
                deferred, rectify = True, False
            if rectify and (i != first or o.rectify_input):
                x = x.clamp_min(0.0)
            cascade.append(BackwardMap(layer_names.get(i, step.name), x))
        return cascade

    def _unpool(self, x: Tensor, step, generator: torch.Generator) -> Tensor:
        mode = self.options.unpool
        if mode == "switches":
            return S.unpool_switches(x, step.switches, step.input_shape)
        if mode == "upsample":
            return S.unpool_upsample(x, step.input_shape)
        if mode == "random":
            return S.unpool_random(x, step.module, step.input_shape, generator)
        return S.unpool_distribute(x, step.module, step.input_shape)


def tiled(trace: Trace, k: int) -> Trace:
    """The trace of ``k`` copies of the batch, one after another (what the backward pass reads of it)."""
    if k == 1:
        return trace
    steps = [Step(s.name, s.module, torch.Size([s.input_shape[0] * k, *s.input_shape[1:]]), s.output,
                  None if s.switches is None else s.switches.repeat(k, *([1] * (s.switches.dim() - 1))))
             for s in trace.steps]
    return Trace(trace.inputs, steps, trace.taps)


__all__ = ["Recollector", "Recollection", "RetraceOptions", "BackwardMap", "Source", "VIEWS"]
