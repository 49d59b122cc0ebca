"""The attention parameters, declared once: the study engine, the CLI and the dashboard derive from them.
The retrace options are the retrace's own (retrace/options.py), with one default changed: ``normalize``.
Imports no torch, so the command line starts fast."""

from __future__ import annotations

from dataclasses import replace

from ..retrace.options import RETRACE_OPTIONS
from ..schema import Param

MIXES = ("max", "mean", "tile")  # implemented in mixes.py
MIX_HELP = ("max: pixelwise maximum (superimposed, as bright strokes overlap); mean: pixelwise mean "
            "(superimposed, each at half contrast); tile: side by side, each shrunk into its own cell "
            "of the model's input (for localisation: the pointing game)")
PEERS = {  # method name: Captum class (peers.py)
    "deconvolution": "Deconvolution",
    "guided-backprop": "GuidedBackprop",
    "saliency": "Saliency",
    "input-x-gradient": "InputXGradient",
    "grad-cam": "LayerGradCam",
}
PEER_HELP = ("Captum's Deconvolution, GuidedBackprop, Saliency (|gradient|), InputXGradient, and LayerGradCam at "
             "the last conv layer (rectified, bilinearly upsampled to the input)")
METHODS = ("recollection", *PEERS)
CUES = ("class", "zero", "random-class")
CUE_HELP = ("class: each cue's own class neuron; zero: a zero source (control: the switches alone, every cue "
            "recalls the same picture); random-class: a class in none of the components (control)")
RETRACE_KEYS = tuple(k for k in RETRACE_OPTIONS if k != "seed")  # the seed is the run's, not the retrace's
SEED = replace(RETRACE_OPTIONS["seed"], help="Seed of the random-class control and of random unpooling.")

ATTEND_PARAMS: dict[str, Param] = {
    "mix": Param(str, "max", MIXES, MIX_HELP),
    "method": Param(str, "recollection", METHODS, f"recollection: the backward retrace from the cued class neuron; "
                                                  f"the peers: {PEER_HELP}"),
    "cue": Param(str, "class", CUES, CUE_HELP),
    **{k: RETRACE_OPTIONS[k] for k in RETRACE_KEYS},
    # none, not the retrace's rescale_std: the per-step rescaling erases what the concept selects (docs/attention.md)
    "normalize": replace(RETRACE_OPTIONS["normalize"], default="none", help=RETRACE_OPTIONS["normalize"].help +
                         " (Recollection only; the default none keeps the magnitudes the concept neuron selects with.)"),
}


def canonical(params: dict) -> dict:
    """A point's parameters with what cannot matter set to its default: a peer has no retrace options
    and takes class cues (so peers pair with recollection points of the default options)."""
    if params.get("method", "recollection") != "recollection":
        params.update({k: ATTEND_PARAMS[k].default for k in ("cue", *RETRACE_KEYS)})
    return params


def retrace_defaults() -> dict:
    """The retrace options of an attention run left at their defaults (keywords of ``Recollector``)."""
    return {k: ATTEND_PARAMS[k].default for k in RETRACE_KEYS}


def attender_options(params: dict) -> dict:
    """Keyword arguments of :class:`~recollection.attention.engine.Attender` from parameter values."""
    if params["method"] != "recollection":
        return {"method": params["method"]}
    return {"method": "recollection", "cue": params["cue"], **{k: params[k] for k in RETRACE_KEYS}}
