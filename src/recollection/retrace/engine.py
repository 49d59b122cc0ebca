"""The recollection engine: record a forward pass, then walk back from a source."""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn

from . import backward as B
from . import steps as S
from .normalize import VIEWS, normalize, view, winner_take_all
from .ops import WEIGHTED
from .options import RetraceOptions
from .record import INPUT, Trace, record
from .sources import Source, Targets, build_source


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
    >>> result = rec(images, source="class")               # or Source("layer", layer=3, top=1)
    >>> result = rec(images, "class", target=[281, 1])     # a class neuron per image, as Captum's target=
    >>> result.image.shape == images.shape
    True

    Args:
        model: any CNN (``nn.Module``) whose forward pass is made of ops with a backward rule — conv,
            linear, max/average pools, BatchNorm, ReLU, dropout, flatten/view, ``+``, ``cat`` (see
            ``retrace/ops.py``) — however ``forward()`` calls them (``F.relu``, a module used twice);
            anything else is refused with one line. The model is not changed: it runs in evaluation
            mode for the call only, and a model that is not on ``device`` is copied there (once, and
            again when its parameters change).
        classes: class names, so that sources can name a class (``"class:tabby cat"``).
        device: where the forward and backward passes run (``"cpu"``, ``"cuda"``, ...).
        normalize: the normalisation after every backward step: ``"rescale_std"``, ``"std"``,
            ``"std_global"``, ``"rescale_std_local"``, ``"minmax"``, ``"minmax_local"``,
            ``"minmax_rescale"``, ``"minmax_01_05_rescale"``, or ``"none"`` / None for none.
        positivise: rectify where linear steps ask for it (see backward.py: at forward ReLUs).
        positivise_conv: rectify where conv and pool steps ask for it.
        rectify_input: rectify the reconstructed input too; with ``normalize="none"`` and False, the
            result equals Captum's ``Deconvolution``.
        wta: winner-take-all across channels before each transposed conv.
        unpool: how max pools are undone: ``"switches"`` (the recorded argmax positions, overlaps add),
            ``"switches-overwrite"`` (the same, last write wins: MaxUnpool2d), ``"upsample"``,
            ``"random"`` (seeded) or ``"distribute"``.
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
        self.model = model
        self.classes = classes
        self._copy: tuple[tuple, nn.Module] | None = None

    def perceive(self, inputs: Tensor) -> Trace:
        """Forward pass, recorded (reuse the trace to recall from several sources)."""
        return record(self._model_on_device(), inputs.to(self.device))

    def recall(self, trace: Trace, source: Source | str = "class", *, target: Targets = None) -> Recollection:
        """Walk back from ``source`` to the input through the recorded trace.

        ``target``: the class neuron of each image for the ``class`` source (an int for all, or
        one per image: a list or tensor), as Captum's ``target=``.
        """
        source = _parsed(source)
        generator = torch.Generator(device=self.device).manual_seed(self.options.seed)
        tap_number, signal, targets = build_source(source, trace, self.classes, generator, target)
        tap = trace.taps[tap_number]
        with torch.inference_mode():
            cascade = self._walk_back(trace, tap.step, signal, generator)
        return Recollection(cascade[-1].value, cascade, source, tap.name, trace.predicted,
                            targets, self.options)

    def recall_many(self, trace: Trace, sources: Sequence[Source | str], *, target: Targets = None
                    ) -> list[Recollection]:
        """Recall from several sources at once: the sources that start at the same layer share one
        backward pass over their stacked signals (k·N samples), so each weight matrix is read once.
        Every sample is normalised on its own, so each result equals ``recall(trace, source)`` up to
        float rounding; with ``unpool="random"`` the sources run one by one to keep their draws.
        ``target`` applies to the ``class`` sources (without a class of their own) among them."""
        parsed = [_parsed(s) for s in sources]
        own = [target if _takes_target(s) else None for s in parsed]
        if self.options.unpool == "random" or len(parsed) < 2:
            return [self.recall(trace, s, target=t) for s, t in zip(parsed, own)]
        built = []
        for s, t in zip(parsed, own):
            generator = torch.Generator(device=self.device).manual_seed(self.options.seed)
            built.append(build_source(s, trace, self.classes, generator, t))
        results: list[Recollection | None] = [None] * len(parsed)
        for tap_number in dict.fromkeys(b[0] for b in built):
            members = [i for i, b in enumerate(built) if b[0] == tap_number]
            tap = trace.taps[tap_number]
            signal = torch.cat([built[i][1] for i in members])
            generator = torch.Generator(device=self.device).manual_seed(self.options.seed)
            with torch.inference_mode():
                cascade = self._walk_back(tiled(trace, len(members)), tap.step, signal, generator)
            for k, i in enumerate(members):
                n = trace.inputs.shape[0]
                own_maps = [BackwardMap(m.name, m.value[k * n : (k + 1) * n]) for m in cascade]
                results[i] = Recollection(own_maps[-1].value, own_maps, parsed[i], tap.name, trace.predicted,
                                          built[i][2], self.options)
        return results  # type: ignore[return-value]

    def __call__(self, inputs: Tensor, source: Source | str = "class", *, target: Targets = None) -> Recollection:
        return self.recall(self.perceive(inputs), source, target=target)

    def _model_on_device(self) -> nn.Module:
        """The caller's model if it is on ``device``, else a copy there (kept while its parameters stay)."""
        model = self.model
        first = next(itertools.chain(model.parameters(), model.buffers()), None)
        if first is None or _same_device(first.device, self.device):
            return model  # (a model spread over devices fails in its first op, with a one-line ModelError)
        tensors = list(model.parameters()) + list(model.buffers())
        key = tuple((id(t), t.data_ptr(), t._version) for t in tensors)
        if self._copy is None or self._copy[0] != key:
            self._copy = (key, copy.deepcopy(model).to(self.device))
        return self._copy[1]

    def _walk_back(self, trace: Trace, start: int, x: Tensor, generator: torch.Generator) -> list[BackwardMap]:
        """From the signal ``x`` at step ``start``'s output back to the input (see backward.py for the places)."""
        o = self.options
        plan = trace.plan = trace.plan or B.make_plan(trace)
        signal = {start: x}
        asked: dict[int, bool] = {}  # tensor -> rectify it (asked by the weighted steps retraced so far)
        reports: dict[int, str] = {}  # tensor -> the cascade name of the weighted step whose result it is
        cascade = [BackwardMap("source", x)]

        def arrived(at: int, y: Tensor) -> Tensor:
            """All paths into tensor ``at`` have added up: rectify and report it."""
            if at != start:
                rectify = asked.get(at)
                if rectify is None and at in plan.relus:
                    rectify = o.positivise if y.dim() == 2 else o.positivise_conv
                if rectify and (at != INPUT or o.rectify_input):
                    y = y.clamp_min(0.0)
            if at in reports:
                cascade.append(BackwardMap(reports.pop(at), y))
            return y

        unpool = functools.partial(self._unpool, generator=generator)
        for i in range(start, -1, -1):
            y = signal.pop(i, None)
            if y is None:
                continue  # no path from the source reaches this op
            y = arrived(i, y)
            step = trace.steps[i]
            if step.kind == "conv" and o.wta:
                y = winner_take_all(y)
            parts = B.backward(step, y, unpool)
            if step.kind in WEIGHTED:
                target = plan.target[i]
                seen = B.tensor_shape(trace, target, y.shape[0])
                part = parts[0]
                parts = [normalize(part.reshape(seen), o.normalize, inplace=_fresh(part, y)).reshape(part.shape)]
                flag = o.positivise if step.kind == "linear" else o.positivise_conv
                asked[plan.anchor[i]] = asked.get(plan.anchor[i], False) or flag
                reports[target] = plan.names[i]
            for at, part in zip(step.inputs, parts):
                B.accumulate(signal, at, part)
        image = arrived(INPUT, signal.pop(INPUT) if INPUT in signal else B.zeros_at(trace, INPUT, x))
        if cascade[-1].value is not image:
            cascade.append(BackwardMap("input", image))
        return cascade

    def _unpool(self, x: Tensor, step, generator: torch.Generator) -> Tensor:
        mode = self.options.unpool
        shape = (x.shape[0], *step.input_shape[1:])
        if mode == "switches":
            return S.unpool_switches(x, step.switches, shape)
        if mode == "switches-overwrite":
            return S.unpool_overwrite(x, step.switches, shape)
        if mode == "upsample":
            return S.unpool_upsample(x, shape)
        if mode == "random":
            return S.unpool_random(x, step.spec, shape, generator)
        return S.unpool_distribute(x, step.spec, shape)


def _fresh(part: Tensor, y: Tensor) -> bool:
    """Whether a backward step returned a tensor of its own (not a view, not sharing ``y``'s memory),
    which normalisation may then overwrite instead of copying."""
    return part._base is None and part.untyped_storage().data_ptr() != y.untyped_storage().data_ptr()


def _parsed(source: Source | str) -> Source:
    return Source.parse(source) if isinstance(source, str) else source


def _takes_target(source: Source) -> bool:
    return source.kind == "class" and source.target is None


def _same_device(a: torch.device, b: torch.device) -> bool:
    return a.type == b.type and (a.index is None or b.index is None or a.index == b.index)


def tiled(trace: Trace, k: int) -> Trace:
    """The trace of ``k`` copies of the batch, one after another (what the backward pass reads of it)."""
    if k == 1:
        return trace
    steps = [dataclasses.replace(s, switches=None if s.switches is None
                                 else s.switches.repeat(k, *([1] * (s.switches.dim() - 1))))
             for s in trace.steps]
    return Trace(trace.inputs, steps, trace.taps, trace.output_step, trace.source, trace.plan)


__all__ = ["Recollector", "Recollection", "RetraceOptions", "BackwardMap", "Source", "VIEWS"]
