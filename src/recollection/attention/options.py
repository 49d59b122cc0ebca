"""The attention parameters, declared once: the study engine, the CLI and the dashboard derive from them."""

from __future__ import annotations

from ..retrace.engine import RetraceOptions
from ..retrace.normalize import NORMALIZATIONS
from ..retrace.steps import UNPOOL_MODES
from ..schema import Param
from .mixes import MIX_HELP, MIXES
from .peers import PEER_HELP, PEERS

METHODS = ("recollection", *PEERS)
CUES = ("class", "zero", "random-class")
CUE_HELP = ("class: each cue's own class neuron; zero: a zero source (control: the switches alone, every cue "
            "recalls the same picture); random-class: a class in none of the components (control)")

RETRACE_KEYS = ("normalize", "positivise", "positivise_conv", "rectify_input", "wta", "unpool")
_defaults = RetraceOptions()

ATTEND_PARAMS: dict[str, Param] = {
    "mix": Param(str, "max", MIXES, MIX_HELP),
    "method": Param(str, "recollection", METHODS, f"recollection: the backward retrace from the cued class neuron; "
                                                  f"the peers: {PEER_HELP}"),
    "cue": Param(str, "class", CUES, CUE_HELP),
    # none, not the retrace's rescale_std: the per-step rescaling erases what the concept selects (notes/attend.md)
    "normalize": Param(str, "none", ("none", *NORMALIZATIONS), "normalisation after every backward step "
                       "(recollection only); none keeps the magnitudes the concept neuron selects with"),
    "positivise": Param(bool, _defaults.positivise, help="rectify after dense steps (recollection only)"),
    "positivise_conv": Param(bool, _defaults.positivise_conv, help="rectify after conv and unpool steps"),
    "rectify_input": Param(bool, _defaults.rectify_input, help="rectify the recalled input too"),
    "wta": Param(bool, _defaults.wta, help="winner-take-all across channels before each transposed conv"),
    "unpool": Param(str, _defaults.unpool, UNPOOL_MODES, "how max pools are undone; upsample and distribute "
                    "use no switches (controls)"),
}


def canonical(params: dict) -> dict:
    """A point's parameters with what cannot matter set to its default: a peer has no retrace options
    and takes class cues (so peers pair with recollection points of the default options)."""
    if params.get("method", "recollection") != "recollection":
        params.update({k: ATTEND_PARAMS[k].default for k in ("cue", *RETRACE_KEYS)})
    return params


def retrace_defaults() -> dict:
    """The retrace options of an attention run left at their defaults (keywords of ``Recollector``)."""
    options = {k: ATTEND_PARAMS[k].default for k in RETRACE_KEYS}
    options["normalize"] = None if options["normalize"] == "none" else options["normalize"]
    return options


def attender_options(params: dict) -> dict:
    """Keyword arguments of :class:`~recollection.attention.engine.Attender` from parameter values."""
    if params["method"] != "recollection":
        return {"method": params["method"]}
    options = {k: params[k] for k in RETRACE_KEYS}
    options["normalize"] = None if options["normalize"] == "none" else options["normalize"]
    return {"method": "recollection", "cue": params["cue"], **options}
