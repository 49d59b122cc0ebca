"""The fallback recorder, for models ``torch.fx`` cannot trace (control flow on shapes or values).

It runs the model once on the real batch under a ``TorchFunctionMode`` that sees every torch
function and tensor method called on the input's lineage, and temporary hooks that see every
module call: modules with a rule become one op each (``features.0``), everything else is
recorded at the function level. The graph is the pass that this batch took, so it is valid
for this batch only; ``record`` replays it and compares with the model's own output.
"""

from __future__ import annotations

from types import GetSetDescriptorType
from typing import Any, Callable, Collection, Sequence

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..errors import ModelError
from . import ops
from .graph import INPUT, Graph, Node, Ref, _refs, unsupported

VALUE_READS = frozenset({"__bool__", "item", "tolist", "__int__", "__float__", "__index__", "numpy", "__array__"})


class _Recorder(TorchFunctionMode):
    def __init__(self, inputs: Tensor, root: str) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self.ids: dict[int, int] = {id(inputs): INPUT}  # id of a tensor of the input's lineage -> its node
        self.alive: list[Tensor] = [inputs]  # holds them, so that their ids stay unique
        self.stack: list[str] = [""]
        self.root = root
        self.counts: dict[str, int] = {}
        self.inside = 0  # > 0 while inside a module recorded as one op
        self.pending: list[tuple[str, Any, str] | None] = []  # per open module call: (kind, args, where) if recorded as one op

    # -- helpers
    def ref(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            index = self.ids.get(id(value))
            return value if index is None else Ref(index)
        if isinstance(value, list):
            return [self.ref(v) for v in value]
        if isinstance(value, tuple) and not isinstance(value, torch.Size):
            items = [self.ref(v) for v in value]
            return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
        if isinstance(value, dict):
            return {k: self.ref(v) for k, v in value.items()}
        return value

    def where(self, op: str, module_call: bool = False) -> str:
        here = self.stack[-1]
        path = here if module_call else (f"{here}.{op}" if here else f"{self.root}.forward:{op}")
        self.counts[path] = self.counts.get(path, 0) + 1
        return path if self.counts[path] == 1 else f"{path}#{self.counts[path]}"

    def add(self, node: Node, output: Any) -> None:
        tensors = [output] if isinstance(output, Tensor) else [
            t for t in (output if isinstance(output, (list, tuple)) else ()) if isinstance(t, Tensor)]
        if node.kind != "unsupported" and not isinstance(output, Tensor):
            raise ops.refuse(ops.label(node.target), node.where, f"it returns a {type(output).__name__}")
        for t in tensors:  # (the parts an unsupported op returns depend on the input too)
            self.ids[id(t)] = len(self.nodes)
            self.alive.append(t)
        self.nodes.append(node)

    # -- functions and methods
    def __torch_function__(self, func: Callable[..., Any], types: Collection[type], args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        if self.inside:
            return func(*args, **kwargs)
        cargs, ckwargs = self.ref(tuple(args)), self.ref(kwargs)
        if not any(True for _ in _refs((cargs, ckwargs))):
            return func(*args, **kwargs)  # does not touch the input: a constant or a shape
        attribute = _attribute_name(func)
        if attribute is not None:
            if attribute in ops.SHAPE_ATTRIBUTES:
                return func(*args, **kwargs)
            raise ops.refuse(f"Tensor.{attribute}", self.where(attribute))
        name = ops.method_name(func)
        target = name if name is not None else func
        if name in ops.SHAPE_METHODS:
            return func(*args, **kwargs)
        op: str = name if name is not None else getattr(func, "__name__", "op")
        where = self.where(op)
        if name in VALUE_READS:
            raise ops.refuse(ops.label(target), where, "forward() reads values of the input in Python (a branch "
                                                       "on the data?), so no one recorded pass stands for the model")
        kind = ops.call_kind(target)
        output = func(*args, **kwargs)
        if kind is None:
            self.add(unsupported(target, cargs, ckwargs, where), output)
            return output
        return self.record(kind, target, cargs, ckwargs, where, output)

    def record(self, kind: str, target: Any, cargs: tuple, ckwargs: dict, where: str, output: Any) -> Any:
        is_data = lambda v: isinstance(v, Ref)  # noqa: E731
        mask = ops.check_operands(kind, target, cargs, ckwargs, is_data, where)
        if kind in ops.SINGLE:
            data = ops.data_input(cargs, ckwargs).index
            node = Node(kind, where, target, cargs, ckwargs, mask, (data,))
        else:
            values = ops.operands(kind, target, cargs, ckwargs)
            node = Node(kind, where, target, cargs, ckwargs, mask, tuple(v.index for v, d in zip(values, mask) if d))
        self.add(node, output)
        return output

    # -- modules
    def pre_hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            self.stack.append(name)
            if self.inside:
                self.pending.append(None)
                return
            cargs = self.ref(tuple(args))
            kind = ops.module_kind(module)
            touches = any(True for _ in _refs(cargs))
            if touches and kind is None and not list(module.children()) \
                    and type(module).__module__.startswith("torch.nn"):
                self.pending.append(("unsupported", cargs, self.where(name, module_call=True)))
                self.inside += 1
                return
            if not touches or kind is None:
                self.pending.append(None)
                return
            self.pending.append((kind, cargs, self.where(name, module_call=True)))
            self.inside += 1
        return hook

    def post_hook(self) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            self.stack.pop()
            pending = self.pending.pop()
            if pending is None:
                return
            self.inside -= 1
            kind, cargs, where = pending
            if kind == "unsupported":
                self.add(unsupported(module, cargs, {}, where), output)
            else:
                self.record(kind, module, cargs, {}, where, output)
        return hook


def _attribute_name(func: Any) -> str | None:
    """'shape' for the getter of ``Tensor.shape`` (as a torch-function mode sees it)."""
    owner = getattr(func, "__self__", None)
    if getattr(func, "__name__", None) == "__get__" and isinstance(owner, GetSetDescriptorType):
        return owner.__name__
    return None


def record_dispatch(model: nn.Module, inputs: Tensor) -> tuple[Graph, Tensor]:
    """Run ``model`` on ``inputs`` (it must be in eval mode already) and record the graph of that run."""
    recorder = _Recorder(inputs, type(model).__name__)
    handles = []
    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(recorder.pre_hook(name)))
            handles.append(module.register_forward_hook(recorder.post_hook()))
        with torch.inference_mode(), recorder:
            output = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(output, Tensor):
        raise ModelError(f"{type(model).__name__}.forward returns a {type(output).__name__}; recollection needs "
                         f"a model that returns one tensor (wrap it to return the logits)")
    index = recorder.ids.get(id(output))
    if index is None or index == INPUT:
        raise ModelError(f"{type(model).__name__}'s output does not come from ops on its input that the "
                         f"recording saw")
    graph = Graph(recorder.nodes, index, "dispatch")
    graph.check()
    return graph, output
