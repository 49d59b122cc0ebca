"""The ops a recorded forward pass may contain: how a module, function or method maps to one,
and how each runs forward (on its own, with the evaluation-mode semantics recollection uses).

Every op has a *kind*; ``backward.py`` holds the backward rule of each kind. Whatever maps
to no kind has no rule, and recording refuses it (``ModelError`` naming it and its place).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import ModelError

WEIGHTED = ("conv", "linear", "maxpool")  # the steps that normalise, rectify and appear in the cascade
TAPPED = ("conv", "linear", "maxpool", "avgpool", "add", "cat")  # ops whose output map is a layer:N source
SINGLE = ("conv", "linear", "maxpool", "avgpool", "adaptive_avgpool", "batchnorm", "relu", "dropout",
          "identity", "reshape")  # kinds with exactly one data input, their first argument
KINDS = SINGLE + ("add", "scale", "cat")

MODULES: dict[type, str] = {
    nn.Conv2d: "conv", nn.Linear: "linear", nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool",
    nn.AdaptiveAvgPool2d: "adaptive_avgpool", nn.BatchNorm1d: "batchnorm", nn.BatchNorm2d: "batchnorm",
    nn.ReLU: "relu", nn.Dropout: "dropout", nn.Dropout1d: "dropout", nn.Dropout2d: "dropout",
    nn.AlphaDropout: "dropout", nn.FeatureAlphaDropout: "dropout", nn.Identity: "identity",
    nn.Flatten: "reshape", nn.Unflatten: "reshape",
}
FUNCTIONS: dict[Callable, str] = {
    F.conv2d: "conv", F.linear: "linear", F.max_pool2d: "maxpool", torch.max_pool2d: "maxpool",
    F.avg_pool2d: "avgpool", F.adaptive_avg_pool2d: "adaptive_avgpool", F.batch_norm: "batchnorm",
    F.relu: "relu", torch.relu: "relu", torch.relu_: "relu", F.relu_: "relu",
    F.dropout: "dropout", F.dropout1d: "dropout", F.dropout2d: "dropout", F.alpha_dropout: "dropout",
    torch.flatten: "reshape", torch.reshape: "reshape", torch.squeeze: "reshape", torch.unsqueeze: "reshape",
    operator.add: "add", operator.iadd: "add", torch.add: "add", operator.sub: "add", operator.isub: "add",
    torch.sub: "add", operator.mul: "scale", operator.imul: "scale", torch.mul: "scale",
    operator.truediv: "scale", operator.itruediv: "scale", torch.div: "scale", operator.neg: "scale",
    torch.neg: "scale", torch.cat: "cat", torch.concat: "cat", torch.concatenate: "cat",
}
METHODS: dict[str, str] = {
    "relu": "relu", "relu_": "relu", "view": "reshape", "reshape": "reshape", "flatten": "reshape",
    "squeeze": "reshape", "unsqueeze": "reshape", "contiguous": "identity", "clone": "identity",
    "detach": "identity", "float": "identity", "to": "identity",
    "add": "add", "add_": "add", "__add__": "add", "__iadd__": "add", "__radd__": "add",
    "sub": "add", "sub_": "add", "__sub__": "add", "__isub__": "add",
    "mul": "scale", "mul_": "scale", "__mul__": "scale", "__imul__": "scale", "__rmul__": "scale",
    "div": "scale", "div_": "scale", "__truediv__": "scale", "__itruediv__": "scale", "neg": "scale",
    "__neg__": "scale",
}
SHAPE_METHODS = frozenset({"size", "dim", "numel", "__len__", "ndimension", "nelement", "is_contiguous"})
SHAPE_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "device", "is_cuda", "requires_grad", "layout"})
_SUBTRACT = frozenset({operator.sub, operator.isub, torch.sub, "sub", "sub_", "__sub__", "__isub__"})
_DIVIDE = frozenset({operator.truediv, operator.itruediv, torch.div, "div", "div_", "__truediv__", "__itruediv__"})
_NEGATE = frozenset({operator.neg, torch.neg, "neg", "__neg__"})

_SIGNATURES: dict[str, tuple[tuple[str, Any], ...]] = {  # the functional forms' parameters and defaults
    "conv": (("input", None), ("weight", None), ("bias", None), ("stride", 1), ("padding", 0),
             ("dilation", 1), ("groups", 1)),
    "linear": (("input", None), ("weight", None), ("bias", None)),
    "maxpool": (("input", None), ("kernel_size", None), ("stride", None), ("padding", 0), ("dilation", 1),
                ("ceil_mode", False), ("return_indices", False)),
    "avgpool": (("input", None), ("kernel_size", None), ("stride", None), ("padding", 0), ("ceil_mode", False),
                ("count_include_pad", True), ("divisor_override", None)),
    "adaptive_avgpool": (("input", None), ("output_size", None)),
    "batchnorm": (("input", None), ("running_mean", None), ("running_var", None), ("weight", None),
                  ("bias", None), ("training", False), ("momentum", 0.1), ("eps", 1e-5)),
    "dropout": (("input", None), ("p", 0.5), ("training", True), ("inplace", False)),
    "add": (("input", None), ("other", None), ("alpha", 1)),
    "cat": (("tensors", None), ("dim", 0)),
}


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


@dataclass
class FunctionalConv:
    """What ``F.conv2d(x, weight, ...)`` did, with the attribute names of ``nn.Conv2d`` (the backward reads those)."""

    weight: Tensor
    bias: Tensor | None
    stride: tuple[int, int]
    padding: tuple[int, int] | str
    dilation: tuple[int, int]
    groups: int
    padding_mode: str = "zeros"

    @property
    def kernel_size(self) -> tuple[int, int]:
        return tuple(self.weight.shape[-2:])  # type: ignore[return-value]


ConvSpec = Union[nn.Conv2d, FunctionalConv]  # what a conv step's backward reads


@dataclass
class FunctionalLinear:
    weight: Tensor
    bias: Tensor | None


@dataclass
class PoolSpec:
    """A pool's geometry, with the attribute names of ``nn.MaxPool2d`` / ``nn.AvgPool2d``."""

    kernel_size: Any
    stride: Any
    padding: Any = 0
    dilation: Any = 1
    ceil_mode: bool = False
    count_include_pad: bool = True
    divisor_override: int | None = None


MaxPoolSpec = Union[nn.MaxPool2d, PoolSpec]  # what a max pool step's backward reads
AvgPoolSpec = Union[nn.AvgPool2d, PoolSpec]


def bind(kind: str, args: Sequence, kwargs: dict) -> dict[str, Any]:
    """A functional call's arguments by name (defaults filled in)."""
    names = _SIGNATURES[kind]
    bound = {name: default for name, default in names}
    for (name, _), value in zip(names, args):
        bound[name] = value
    bound.update(kwargs)
    return bound


def method_name(fn: Any) -> str | None:
    """``'view'`` for ``Tensor.view`` (as a torch-function mode sees it), None for a plain function."""
    if getattr(fn, "__objclass__", None) in (torch._C.TensorBase, torch.Tensor):
        return fn.__name__
    qualname = getattr(fn, "__qualname__", "")
    return fn.__name__ if qualname.startswith("Tensor.") else None


def label(target: Any) -> str:
    """How the user wrote the op: ``nn.Sigmoid``, ``torch.sigmoid``, ``Tensor.view``, ``operator.add``."""
    if isinstance(target, nn.Module):
        return f"nn.{type(target).__name__}" if type(target).__module__.startswith("torch.nn") else type(target).__name__
    if isinstance(target, str):
        return f"Tensor.{target}"
    name = method_name(target)
    if name is not None:
        return f"Tensor.{name}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if module.startswith("torch.nn.functional"):
        return f"F.{name}"
    if module in ("_operator", "operator"):
        return f"operator.{name}"
    return f"torch.{name}" if not module or module.startswith("torch") else f"{module}.{name}"


def module_kind(module: nn.Module) -> str | None:
    return MODULES.get(type(module))


def call_kind(target: Any) -> str | None:
    """The kind of a function (``F.relu``) or method name (``'view'``), None when it has no rule."""
    if isinstance(target, str):
        return METHODS.get(target)
    try:
        return FUNCTIONS.get(target)
    except TypeError:  # unhashable callables
        return None


def refuse(what: str, where: str, why: str = "it has no backward rule") -> ModelError:
    kinds = "conv, linear, max/avg/adaptive pool, BatchNorm (eval), ReLU, dropout, flatten/view/reshape, +, −, ×/÷ by a constant, cat"
    return ModelError(f"cannot recollect through {what} at {where}: {why} (supported: {kinds})")


# ---------------------------------------------------------------------------- forward, per kind
@dataclass
class Ran:
    """One op's forward result and what its backward rule needs."""

    output: Tensor
    spec: Any = None
    switches: Tensor | None = None


def run(kind: str, target: Any, args: Sequence, kwargs: dict, where: str, *, mask: tuple[bool, ...] = (),
        may_reuse: bool = False) -> Ran:
    """Run one op forward in evaluation mode (dropout off, BatchNorm on its running statistics).

    ``mask`` says which operands of an add, scale or cat depend on the input (see ``operands``);
    ``may_reuse``: the op's input is a tensor of ours that nothing reads afterwards, so a ReLU
    may overwrite it.
    """
    module = target if isinstance(target, nn.Module) else None
    if kind in ("add", "scale", "cat"):
        return _RUN_MULTI[kind](target, args, kwargs, where, mask)
    x = data_input(args, kwargs)
    if not isinstance(x, Tensor):  # recording admits a single-input op only when its input is the image's lineage
        raise refuse(label(target), where, f"its input is a {type(x).__name__}, not a tensor")
    if kind == "reshape":
        out = call(target, args, kwargs)
        if out.numel() != x.numel() or out.shape[:1] != x.shape[:1]:
            raise refuse(label(target), where, f"it mixes the batch dimension ({tuple(x.shape)} -> {tuple(out.shape)})")
        return Ran(out)
    if kind == "identity":
        if isinstance(target, str) and target in ("float", "to"):
            out = call(target, args, kwargs)
            if out.dtype != x.dtype or out.device != x.device:
                raise refuse(label(target), where, "it changes the dtype or device inside the model")
        return Ran(x)
    if kind == "relu":
        return Ran(torch.relu_(x) if may_reuse else torch.relu(x))
    if kind == "dropout":
        if module is None and bind("dropout", args, kwargs)["training"]:
            raise refuse(label(target), where, "this dropout is active even in evaluation mode (training=True): "
                                               "random, with no fixed backward")
        return Ran(x)
    return _RUN_SINGLE[kind](module, args, kwargs, where)


def data_input(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """A single-input op's data input: its first argument, by position or as ``input=``."""
    return args[0] if args else kwargs.get("input")


def operands(kind: str, target: Any, args: Sequence, kwargs: dict) -> list:
    """The operands of an add, scale or cat, in the order their backward contributions come."""
    if kind == "cat":
        return list(bind("cat", args, kwargs)["tensors"])
    if kind == "add":
        b = bind("add", args, kwargs)
        return [b["input"], b["other"]]
    if target in _NEGATE:
        return [args[0] if args else kwargs["input"]]
    return [args[0] if args else kwargs["input"], args[1] if len(args) > 1 else kwargs["other"]]


def call(target: Any, args: Sequence, kwargs: dict) -> Tensor:
    if isinstance(target, str):
        return getattr(args[0], target)(*args[1:], **kwargs)
    if isinstance(target, nn.Module):
        return type(target).forward(target, *args, **kwargs)  # the module's own computation, without hooks
    return target(*args, **kwargs)


def _conv(module: nn.Conv2d | None, args: Sequence[Any], kwargs: dict[str, Any], where: str) -> Ran:
    spec: ConvSpec
    if module is None:
        b = bind("conv", args, kwargs)
        spec = FunctionalConv(b["weight"], b["bias"], _pair(b["stride"]),
                              b["padding"] if isinstance(b["padding"], str) else _pair(b["padding"]),
                              _pair(b["dilation"]), int(b["groups"]))
        x = b["input"]
    else:
        spec, x = module, args[0]
        if module.padding_mode != "zeros":
            raise refuse(label(module), where, f"padding_mode={module.padding_mode!r} has no transpose; only 'zeros'")
    return Ran(F.conv2d(x, spec.weight, spec.bias, spec.stride, spec.padding, spec.dilation, spec.groups), spec)


def _linear(module: nn.Linear | None, args: Sequence[Any], kwargs: dict[str, Any], where: str) -> Ran:
    spec: nn.Linear | FunctionalLinear
    if module is None:
        b = bind("linear", args, kwargs)
        spec, x = FunctionalLinear(b["weight"], b["bias"]), b["input"]
    else:
        spec, x = module, args[0]
    return Ran(F.linear(x, spec.weight, spec.bias), spec)


def _maxpool(module: nn.MaxPool2d | None, args: Sequence[Any], kwargs: dict[str, Any], where: str) -> Ran:
    spec: MaxPoolSpec
    if module is None:
        b = bind("maxpool", args, kwargs)
        spec = PoolSpec(b["kernel_size"], b["stride"] or b["kernel_size"], b["padding"], b["dilation"], b["ceil_mode"])
        x, indices = b["input"], b["return_indices"]
    else:
        spec, x, indices = module, args[0], module.return_indices
    if indices:
        raise refuse(label(module or F.max_pool2d), where, "return_indices=True hands the switches to the model")
    if x.dim() != 4:
        raise refuse(label(module or F.max_pool2d), where, f"only 2-D pooling of N×C×H×W maps (got {x.dim()}-D)")
    out, switches = F.max_pool2d(x, spec.kernel_size, spec.stride or spec.kernel_size, spec.padding, spec.dilation,
                                 ceil_mode=spec.ceil_mode, return_indices=True)
    return Ran(out, spec, switches)


def _avgpool(module: nn.AvgPool2d | None, args: Sequence[Any], kwargs: dict[str, Any], where: str) -> Ran:
    spec: AvgPoolSpec
    if module is None:
        b = bind("avgpool", args, kwargs)
        spec = PoolSpec(b["kernel_size"], b["stride"] or b["kernel_size"], b["padding"], 1, b["ceil_mode"],
                        b["count_include_pad"], b["divisor_override"])
        x = b["input"]
    else:
        spec, x = module, args[0]
    if x.dim() != 4:
        raise refuse(label(module or F.avg_pool2d), where, f"only 2-D pooling of N×C×H×W maps (got {x.dim()}-D)")
    return Ran(F.avg_pool2d(x, spec.kernel_size, spec.stride or spec.kernel_size, spec.padding, spec.ceil_mode,
                            spec.count_include_pad, spec.divisor_override), spec)


def _adaptive(module: nn.AdaptiveAvgPool2d | None, args: Sequence[Any], kwargs: dict[str, Any], where: str) -> Ran:
    b = bind("adaptive_avgpool", args, kwargs)
    size = module.output_size if module is not None else b["output_size"]
    x = args[0] if module is not None else b["input"]
    if x.dim() != 4:
        raise refuse(label(module or F.adaptive_avg_pool2d), where, f"only N×C×H×W maps (got {x.dim()}-D)")
    return Ran(F.adaptive_avg_pool2d(x, size))


def _batchnorm(module: _BatchNorm | None, args: Sequence[Any], kwargs: dict[str, Any], where: str) -> Ran:
    if module is None:
        b = bind("batchnorm", args, kwargs)
        x, mean, var, weight, bias, eps = (b["input"], b["running_mean"], b["running_var"], b["weight"], b["bias"],
                                           b["eps"])
        uses_batch = b["training"] or mean is None or var is None
    else:
        x, mean, var, weight, bias, eps = args[0], module.running_mean, module.running_var, module.weight, \
            module.bias, module.eps
        uses_batch = mean is None or var is None
    if uses_batch:
        raise refuse(label(module or F.batch_norm), where, "it normalises by the statistics of the batch "
                                                          "(no running statistics), so its backward is not fixed")
    out = F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)
    scale = torch.rsqrt(var + eps)
    return Ran(out, scale if weight is None else scale * weight)


def _add(target: Any, args: Sequence[Any], kwargs: dict[str, Any], where: str, mask: tuple[bool, ...]) -> Ran:
    b = bind("add", args, kwargs)
    a, c, alpha = b["input"], b["other"], b["alpha"]
    sign = -1 if target in _SUBTRACT else 1
    out = torch.sub(a, c, alpha=alpha) if sign < 0 else torch.add(a, c, alpha=alpha)
    factors = (1, sign * alpha)
    return Ran(out, tuple(f for f, data in zip(factors, mask) if data))  # the factor of each data operand


def _scale(target: Any, args: Sequence[Any], kwargs: dict[str, Any], where: str, mask: tuple[bool, ...]) -> Ran:
    values = operands("scale", target, args, kwargs)
    if target in _NEGATE:
        return Ran(torch.neg(values[0]), -1)
    a, c = values
    if target in _DIVIDE:
        return Ran(torch.div(a, c), 1 / c)
    return Ran(torch.mul(a, c), c if mask[0] else a)  # the factor: the operand that does not depend on the input


def _cat(target: Any, args: Sequence[Any], kwargs: dict[str, Any], where: str, mask: tuple[bool, ...]) -> Ran:
    b = bind("cat", args, kwargs)
    tensors, dim = list(b["tensors"]), int(b["dim"])
    out = torch.cat(tensors, dim)
    dim = dim % out.dim()
    if dim == 0:
        raise refuse(label(target), where, "it concatenates along the batch dimension")
    return Ran(out, (dim, tuple(t.shape[dim] for t in tensors), tuple(mask)))


_RUN_SINGLE: dict[str, Callable[[Any, Sequence[Any], dict[str, Any], str], Ran]] = {
    "conv": _conv, "linear": _linear, "maxpool": _maxpool, "avgpool": _avgpool, "adaptive_avgpool": _adaptive,
    "batchnorm": _batchnorm}  # (module or None, args, kwargs, where)
_RUN_MULTI: dict[str, Callable[[Any, Sequence[Any], dict[str, Any], str, tuple[bool, ...]], Ran]] = {
    "add": _add, "scale": _scale, "cat": _cat}  # (target, args, kwargs, where, data mask)


def check_operands(kind: str, target: Any, args: Sequence, kwargs: dict, is_data: Callable[[Any], bool],
                   where: str) -> tuple[bool, ...]:
    """Check that data (the input's lineage) enters the op only where its rule allows; return the
    data mask of an add, scale or cat's operands (``operands``)."""
    what = label(target)
    if kind in SINGLE:
        first = data_input(args, kwargs)
        rest = [a for a in list(args[1:]) + [v for k, v in kwargs.items() if k != "input"]]
        if not is_data(first) or any(_holds_data(a, is_data) for a in rest):
            raise refuse(what, where, "its weights or parameters depend on the input (not a fixed linear map)")
        return ()
    values = operands(kind, target, args, kwargs)
    mask = tuple(bool(is_data(v)) for v in values)
    if kind == "scale" and (sum(mask) != 1 or (target in _DIVIDE and not mask[0])):
        raise refuse(what, where, "it multiplies or divides maps that depend on the input (not linear)")
    if kind == "add" and _holds_data(kwargs.get("alpha"), is_data):
        raise refuse(what, where, "alpha depends on the input")
    if not any(mask):
        raise refuse(what, where, "none of its operands depends on the input")
    return mask


def _holds_data(value: Any, is_data: Callable[[Any], bool]) -> bool:
    if isinstance(value, (list, tuple)):
        return any(_holds_data(v, is_data) for v in value)
    return is_data(value)
