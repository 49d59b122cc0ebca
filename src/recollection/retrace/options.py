"""What a user chooses for one recollection, declared once: where recall starts (:class:`Source`), how
each backward step is treated (:class:`RetraceOptions`) and how the result is shown (the view).

Every field carries a :class:`~recollection.schema.Param` (type, default, choices, one-line help), and
every front end derives its form from :data:`RECOLLECTION_OPTIONS`: the CLI's ``reconstruct``
options, the ``cnn.recollect`` study parameters, the dashboard's ``/api/options`` and so its page.
To add an option, add a field here (and use it in ``engine.py``); nothing else lists them.

This module imports no torch, so the command line starts fast; the implementations sit in
``normalize.py`` (normalisations, views), ``steps.py`` (unpooling) and ``sources.py`` (the signals).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import OptionError
from ..limits import MAX_SEED
from ..schema import Param

NORMALIZE_CHOICES = {  # name: what it does after each backward step (implemented in normalize.py)
    "std": "z-score per sample over features (dense) or per channel over H×W (conv)",
    "std_global": "z-score over the whole tensor",
    "rescale_std": "clip(0.1·z + 0.5, 0, 1), global",
    "rescale_std_local": "the same per axis",
    "minmax": "(x − min)/(max − min), global",
    "minmax_local": "per axis",
    "minmax_rescale": "minmax mapped to [−1, 1]",
    "minmax_01_05_rescale": "clip(0.1·minmax + 0.5, 0, 1)",
    "none": "no normalisation",
}
UNPOOL_CHOICES = {  # implemented in steps.py
    "switches": "each value goes back to the argmax position the forward pass recorded (overlapping windows add "
                "up: the exact adjoint, as Captum's Deconvolution)",
    "switches-overwrite": "the same, but where windows overlap the last write wins (the research notebook's "
                          "MaxUnpool2d; r ≈ 0.996 with switches on AlexNet)",
    "upsample": "nearest-neighbour ×2",
    "random": "each value to a random position of its window (seeded)",
    "distribute": "each value copied to its whole window",
}
VIEW_CHOICES = {  # implemented in normalize.py
    "rescale_std": "clip(0.1·z + 0.5, 0, 1) (the figures' default)",
    "minmax": "(x − min)/(max − min)",
    "std": "z-score (shown min–max scaled)",
    "inverse-transform": "undo the model's mean/std input normalisation",
}


def described(intro: str, choices: dict[str, str]) -> str:
    """One line of help: the intro, then every choice with what it means."""
    return f"{intro} " + "; ".join(f"{name}: {text}" for name, text in choices.items()) + "."


def option(param: Param) -> Any:
    """A dataclass field whose default, type, choices and help are ``param``'s."""
    return field(default=param.default, metadata={"param": param})


def params_of(cls: type) -> dict[str, Param]:
    """The :class:`Param` of every option field of a dataclass, in declaration order."""
    return {f.name: f.metadata["param"] for f in fields(cls) if "param" in f.metadata}


def check_fields(instance: Any) -> None:
    """Check every option field of a frozen dataclass against its Param (ints become floats where due)."""
    for name, param in params_of(type(instance)).items():
        object.__setattr__(instance, name, param.check(getattr(instance, name), name, OptionError))


# --- where recall starts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceKind:
    """One kind of source: how it is written, what it is, a short label, and what it takes besides."""

    form: str
    help: str
    label: str
    takes: tuple[str, ...] = ()  # among "target", "layer", "top", "per_channel"


KINDS = {
    "class": SourceKind("class", "one-hot on the predicted class neuron (the 'concept cell'); class:INDEX or "
                        "class:NAME (e.g. class:\"tabby cat\"): any class", "class neuron", ("target",)),
    "last-layer": SourceKind("last-layer", "the actual last-layer activations", "last layer"),
    "random-class": SourceKind("random-class", "a random class other than the predicted one (control)",
                               "random class (control)"),
    "zero": SourceKind("zero", "all zeros (control: what do the switches alone give?)", "zero (control)"),
    "layer": SourceKind("layer:N", "the recorded activations of layer N, counted back from the last layer "
                        "(AlexNet: 1 = fc7 ... 10 = conv1; see `recollect layers`)", "layer N, top P %",
                        ("layer", "top", "per_channel")),
    "random": SourceKind("random:N", "Gaussian noise at layer N (control)", "noise at layer N (control)", ("layer",)),
}
SOURCE_HELP = described("Where recall starts.", {k.form: k.help for k in KINDS.values()})
SOURCE = Param(str, "class", help=SOURCE_HELP)  # the written form, parsed by Source.parse
TOP = Param(float, 100.0, help="For layer:N, keep the top P % activations, 0 < P ≤ 100.")
PER_CHANNEL = Param(bool, False, help="For layer:N with --top: the top P % of each channel over H×W, "
                    "instead of over the whole C×H×W.")


@dataclass(frozen=True)
class Source:
    """A source specification; ``Source.parse("class:tabby cat")`` reads the written form."""

    kind: str = "class"
    target: int | str | None = None  # class index or name, for kind == "class"
    layer: int = 0  # tap number, for "layer" and "random"
    top: float = option(TOP)  # keep the top P % of a layer source's activations
    per_channel: bool = option(PER_CHANNEL)  # ... per channel over H×W instead of over the whole C×H×W

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OptionError(f"unknown source kind {self.kind!r}; choose from {', '.join(KINDS)}")
        check_fields(self)
        if not (0.0 < self.top <= 100.0) or math.isnan(self.top):
            raise OptionError(f"top percentage must be in (0, 100], got {self.top:g}")
        if "top" not in KINDS[self.kind].takes and (self.top != TOP.default or self.per_channel):
            sparse = ", ".join(k.form for k in KINDS.values() if "top" in k.takes)
            raise OptionError(f"top-P% sparsification applies to {sparse} sources only")
        if "layer" in KINDS[self.kind].takes and self.layer < 0:
            raise OptionError(f"layer number must be >= 0, got {self.layer}")

    @classmethod
    def parse(cls, spec: str, *, top: float = TOP.default, per_channel: bool = PER_CHANNEL.default) -> "Source":
        kind, _, arg = spec.strip().partition(":")
        kind = kind.strip().lower()
        arg = arg.strip().strip("'\"")
        takes = KINDS[kind].takes if kind in KINDS else ()
        if "target" in takes:
            target: int | str | None = None
            if arg:
                target = int(arg) if arg.lstrip("-").isdecimal() else arg
            return cls(kind, target=target, top=top, per_channel=per_channel)
        if "layer" in takes:
            if not arg.isdecimal():
                raise OptionError(f"source {spec!r}: expected {kind}:N with N a layer number, e.g. {kind}:3")
            return cls(kind, layer=int(arg), top=top, per_channel=per_channel)
        if arg:
            raise OptionError(f"source {spec!r}: {kind} takes no argument")
        if kind not in KINDS:
            raise OptionError(f"unknown source {spec!r}; sources are: {SOURCE_HELP}")
        return cls(kind, top=top, per_channel=per_channel)

    def __str__(self) -> str:
        if self.kind == "class":
            return "class" if self.target is None else f"class:{self.target}"
        if "layer" in KINDS[self.kind].takes:
            return f"{self.kind}:{self.layer}"
        return self.kind

    @property
    def is_class(self) -> bool:
        return self.kind in ("class", "random-class")


# --- how each backward step is treated -----------------------------------------------------------------
@dataclass(frozen=True)
class RetraceOptions:
    """How the backward pass treats each step (the spec's §2 options); ``normalize="none"`` is stored as None."""

    normalize: str | None = option(Param(str, "rescale_std", tuple(NORMALIZE_CHOICES), described(
        "Normalisation after every backward step.", NORMALIZE_CHOICES)))
    positivise: bool = option(Param(bool, True, help="Set negatives to 0 after dense (linear) steps (where the "
                                    "forward ReLU before them stood, once all paths have added up)."))
    positivise_conv: bool = option(Param(bool, True, help="Set negatives to 0 after conv and unpool steps (where "
                                         "the forward ReLU before them stood)."))
    rectify_input: bool = option(Param(bool, True, help="Rectify after the last step too (the reconstructed input)."))
    wta: bool = option(Param(bool, False, help="Winner-take-all across channels before each transposed conv: "
                             "at every position keep only the largest channel."))
    unpool: str = option(Param(str, "switches", tuple(UNPOOL_CHOICES), described(
        "How max pools are undone.", UNPOOL_CHOICES)))
    seed: int = option(Param(int, 0, help="Seed for everything random (random-class, random:N, random unpool).",
                             bounds=(0, MAX_SEED)))

    def __post_init__(self) -> None:
        object.__setattr__(self, "normalize", "none" if self.normalize is None else self.normalize)
        check_fields(self)
        object.__setattr__(self, "normalize", no_normalisation_as_none(self.normalize))

    def to_dict(self) -> dict:
        return asdict(self)


def no_normalisation_as_none(normalize: str | None) -> str | None:
    """The one place where the written ``"none"`` becomes None (what normalize.normalize takes)."""
    return None if normalize in (None, "none") else normalize


# --- every option of a recollection, as the front ends show them -----------------------------------------
VIEW = Param(str, "rescale_std", tuple(VIEW_CHOICES), described(
    "How the reconstruction is turned into the recalled PNG.", VIEW_CHOICES))
SOURCE_OPTIONS = {"source": SOURCE, **params_of(Source)}
RETRACE_OPTIONS = params_of(RetraceOptions)
RECOLLECTION_OPTIONS: dict[str, Param] = {**SOURCE_OPTIONS, **RETRACE_OPTIONS, "view": VIEW}


def source_of(values: dict) -> Source:
    """The Source that ``values`` (a front end's options by name) describe."""
    return Source.parse(values["source"], top=values["top"], per_channel=values["per_channel"])


def retrace_options(values: dict) -> dict:
    """The RetraceOptions among ``values``, as keyword arguments of ``Recollector``."""
    return {name: values[name] for name in RETRACE_OPTIONS}

__all__ = ["KINDS", "RECOLLECTION_OPTIONS", "RETRACE_OPTIONS", "SOURCE_OPTIONS", "VIEW", "RetraceOptions", "Source",
           "SourceKind", "no_normalisation_as_none", "params_of", "retrace_options", "source_of"]
