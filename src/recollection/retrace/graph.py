"""A model's forward pass as a graph of ops, read by ``torch.fx`` symbolic tracing, and run op by op.

``from_fx`` reads what ``forward()`` does — functional ops (``F.relu``, ``torch.flatten``,
``view``), modules used twice, residual ``+``, ``torch.cat`` — as one node per call. Every
node that depends on the input must be an op with a backward rule (``ops.py``); shape
queries (``x.size(0)``) and computations on constants are evaluated as they are; anything
else is refused with one line naming it and where it is. ``execute`` runs the graph on a
batch with each op's evaluation-mode semantics, keeping what the backward pass needs.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import torch
from torch import Tensor, nn

from ..errors import ModelError
from . import ops

if TYPE_CHECKING:
    import torch.fx

INPUT = -1  # the index standing for the model's input in Ref and in Step.inputs
ALIASING = ("identity", "reshape", "dropout")  # ops whose result shares its input's memory
FRESH = ("conv", "linear", "maxpool", "avgpool", "batchnorm", "add", "scale", "cat", "relu")  # new tensors


@dataclass(frozen=True)
class Ref:
    """An argument that is the value of an earlier node (or the model's input: INPUT)."""

    index: int


@dataclass
class Node:
    """One call of the forward pass.

    ``kind`` is an op kind (``ops.KINDS``), ``"python"`` for what does not depend on the input
    (shape queries, constants), ``"attr"`` for a parameter or buffer read by name, or
    ``"unsupported"``: a call on the input's lineage with no backward rule, refused if the
    output depends on it.
    """

    kind: str
    where: str  # the module path and op, for messages and names ('layer1.0.conv1', 'layer1.0.add')
    target: Any  # a module, a function, a method name, or (attr) a dotted attribute path
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    mask: tuple[bool, ...] = ()  # which operands of an add/scale/cat depend on the input
    data: tuple[int, ...] = ()  # the nodes (or INPUT) whose values feed the op's backward, in order
    error: str = ""  # for kind "unsupported": why recollection cannot pass through it

    @property
    def is_op(self) -> bool:
        return self.kind in ops.KINDS


@dataclass
class Graph:
    """The nodes in forward order and the node whose value the model returns."""

    nodes: list[Node]
    output: int
    source: str  # "fx", or "dispatch" (recorded from one run: valid for that input only)
    last_use: list[int] = field(default_factory=list)  # per node, the last node that reads it
    aliased: set[int] = field(default_factory=set)  # nodes whose value another node's value shares

    def __post_init__(self) -> None:
        self.needed = self._ancestors()
        last = list(range(len(self.nodes)))
        for i, node in enumerate(self.nodes):
            for ref in _refs((node.args, node.kwargs)):
                if ref.index != INPUT:
                    last[ref.index] = i
                    if node.kind in ALIASING or not node.is_op:
                        self.aliased.add(ref.index)
        last[self.output] = len(self.nodes)
        self.last_use = last
        self.frees: list[list[int]] = [[] for _ in self.nodes]  # per node, the values no later node reads
        for j, i in enumerate(last):
            if i < len(self.nodes) and i != j:
                self.frees[i].append(j)

    def _ancestors(self) -> set[int]:
        needed, todo = set(), [self.output]
        while todo:
            i = todo.pop()
            if i == INPUT or i in needed:
                continue
            needed.add(i)
            todo.extend(r.index for r in _refs((self.nodes[i].args, self.nodes[i].kwargs)))
        return needed

    def check(self) -> None:
        """Refuse the first op without a rule that the output depends on (one line: what and where)."""
        for i, node in enumerate(self.nodes):
            if node.kind == "unsupported" and i in self.needed:
                raise ModelError(node.error)

    def may_overwrite(self, reader: int, index: int, keep: Callable[[int], bool]) -> bool:
        """Whether node ``reader`` may write its result over node ``index``'s value (a ReLU in place)."""
        return (index != INPUT and self.nodes[index].kind in FRESH and index not in self.aliased
                and self.last_use[index] == reader and not keep(index))


def _refs(value: Any) -> Iterator[Ref]:
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs(v)


def resolve(value: Any, env: list, inputs: Tensor) -> Any:
    if isinstance(value, Ref):
        return inputs if value.index == INPUT else env[value.index]
    if isinstance(value, list):  # fx hands immutable_list
        return [resolve(v, env, inputs) for v in value]
    if isinstance(value, tuple) and not isinstance(value, torch.Size):
        items = [resolve(v, env, inputs) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
    if isinstance(value, dict):
        return {k: resolve(v, env, inputs) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(resolve(value.start, env, inputs), resolve(value.stop, env, inputs), resolve(value.step, env, inputs))
    return value


# ---------------------------------------------------------------------------- building from torch.fx
def trace_fx(model: nn.Module) -> torch.fx.Graph:
    """The model's forward pass as a ``torch.fx`` graph (raises whatever fx raises when it cannot)."""
    import torch.fx

    return torch.fx.Tracer().trace(model)


def from_fx(model: nn.Module, fx_graph: torch.fx.Graph | None = None) -> Graph:
    """Read the model's forward pass from its fx graph: one node per call; refuse ops without a rule."""
    import torch.fx

    fx_graph = trace_fx(model) if fx_graph is None else fx_graph
    index: dict[str, int] = {}
    nodes: list[Node] = []
    data: set[int] = {INPUT}
    counts: dict[str, int] = {}
    output = None
    root = type(model).__name__
    for fx_node in fx_graph.nodes:
        where = _where(fx_node, root, counts)
        to_ref = lambda a: _to_ref(a, index)  # noqa: E731
        # map_arg is typed to map fx Nodes to fx Arguments; we map them to our own Ref on purpose
        args = torch.fx.node.map_arg(fx_node.args, to_ref)  # type: ignore[arg-type]
        kwargs = dict(torch.fx.node.map_arg(fx_node.kwargs, to_ref))  # type: ignore[arg-type]
        is_data = lambda v: isinstance(v, Ref) and v.index in data  # noqa: E731
        if fx_node.op == "placeholder":
            if not index:
                index[fx_node.name] = INPUT
                continue
            if not fx_node.args:
                raise ModelError(f"{root}.forward takes more than one input ({fx_node.name!r}); recollection "
                                 f"feeds one batch of images")
            node = Node("python", where, _constant, (fx_node.args[0],))
        elif fx_node.op == "get_attr":
            node = Node("attr", where, fx_node.target)
        elif fx_node.op == "output":
            output = _output_index(args[0], index, root)
            continue
        else:
            target = model.get_submodule(fx_node.target) if fx_node.op == "call_module" else fx_node.target
            node = _classify(target, args, kwargs, is_data, where)
        index[fx_node.name] = len(nodes)
        if node.is_op or node.kind == "unsupported":
            data.add(len(nodes))
        nodes.append(node)
    if output is None or output not in data:
        raise ModelError(f"{root}'s output does not depend on its input")
    graph = Graph(nodes, output, "fx")
    graph.check()
    return graph


def _constant(value: Any) -> Any:
    return value


def _to_ref(arg: torch.fx.Node, index: dict[str, int]) -> Ref:
    return Ref(index[arg.name])


def _output_index(value: Any, index: dict, root: str) -> int:
    if isinstance(value, Ref):
        return value.index
    kind = type(value).__name__
    raise ModelError(f"{root}.forward returns a {kind}; recollection needs a model that returns one tensor "
                     f"(wrap it to return the logits)")


def _where(fx_node: torch.fx.Node, root: str, counts: dict[str, int]) -> str:
    """'features.0' for a module call; 'layer1.0.add' for a function called in layer1.0's forward
    (a second one: 'layer1.0.add#2'); 'Net.forward:flatten' at the top level."""
    if fx_node.op == "call_module":
        path = str(fx_node.target)  # (a module call's target is the module's dotted path)
    else:
        stack = fx_node.meta.get("nn_module_stack") or {}
        module = next(reversed(stack.values()))[0] if stack else ""
        op = fx_node.target if isinstance(fx_node.target, str) else getattr(fx_node.target, "__name__", "op")
        path = f"{module}.{op}" if module else f"{root}.forward:{op}"
    counts[path] = counts.get(path, 0) + 1
    return path if counts[path] == 1 else f"{path}#{counts[path]}"


def _classify(target: Any, args: tuple, kwargs: dict, is_data: Callable[[Any], bool], where: str) -> Node:
    """An op node if the call has a rule; a python node if it does not touch the input; else refuse."""
    touches = any(is_data(r) for r in _refs((args, kwargs)))
    kind = ops.module_kind(target) if isinstance(target, nn.Module) else ops.call_kind(target)
    if not touches:
        return Node("python", where, target, args, kwargs)
    if _is_shape_query(target, args):
        return Node("python", where, target, args, kwargs)
    if kind is None:
        return unsupported(target, args, kwargs, where)
    mask = ops.check_operands(kind, target, args, kwargs, is_data, where)
    node = Node(kind, where, target, args, kwargs, mask)
    node.data = tuple(r.index for r in _data_refs(kind, target, args, kwargs, mask))
    return node


def unsupported(target: Any, args: tuple, kwargs: dict, where: str, why: str = "it has no backward rule") -> Node:
    return Node("unsupported", where, target, args, kwargs, error=str(ops.refuse(ops.label(target), where, why)))


def _is_shape_query(target: Any, args: tuple) -> bool:
    if isinstance(target, str):
        return target in ops.SHAPE_METHODS
    if target is getattr and len(args) > 1:
        return args[1] in ops.SHAPE_ATTRIBUTES
    return target is len


def _data_refs(kind: str, target: Any, args: tuple, kwargs: dict, mask: tuple[bool, ...]) -> list[Ref]:
    if kind in ops.SINGLE:
        return [args[0] if args else kwargs["input"]]
    values = ops.operands(kind, target, args, kwargs)
    return [v for v, d in zip(values, mask) if d]


# ---------------------------------------------------------------------------- running
@dataclass
class Executed:
    """A run of the graph: each op node's result, and the model's output."""

    ran: dict[int, ops.Ran]  # node index -> its forward result (outputs dropped unless kept)
    input_shapes: dict[int, tuple[torch.Size, ...]]  # node index -> shapes of its data inputs
    output_shapes: dict[int, torch.Size]
    output: Tensor


def execute(graph: Graph, model: nn.Module, inputs: Tensor, keep: Callable[[int], bool]) -> Executed:
    """Run the graph on ``inputs`` (under inference mode); keep op outputs where ``keep(i)``."""
    env: list[Any] = [None] * len(graph.nodes)
    ran: dict[int, ops.Ran] = {}
    input_shapes: dict[int, tuple[torch.Size, ...]] = {}
    output_shapes: dict[int, torch.Size] = {}
    for i, node in enumerate(graph.nodes):
        if i not in graph.needed:
            continue
        if node.kind == "attr":
            env[i] = operator.attrgetter(node.target)(model)
            continue
        args = resolve(node.args, env, inputs)
        kwargs = resolve(node.kwargs, env, inputs)
        if node.kind == "python":
            env[i] = args[0] if node.target is _constant else ops.call(node.target, args, kwargs)
            continue
        shapes = tuple((inputs if d == INPUT else env[d]).shape for d in node.data)
        reuse = node.kind == "relu" and graph.may_overwrite(i, node.data[0], keep)
        result = ops.run(node.kind, node.target, args, kwargs, node.where, mask=node.mask, may_reuse=reuse)
        env[i] = result.output
        ran[i], input_shapes[i], output_shapes[i] = result, shapes, result.output.shape
        for j in graph.frees[i]:  # free what no later node reads
            if not keep(j):
                env[j] = None
                if j in ran:
                    ran[j].output = None  # type: ignore[assignment]  # freed: Ran.output is None only from here on
    out = env[graph.output]
    if not isinstance(out, Tensor):
        raise ModelError(f"the model's output is a {type(out).__name__}, not a tensor")
    for i, result in ran.items():
        if not keep(i) and i != graph.output:
            result.output = None  # type: ignore[assignment]  # freed (as above)
    return Executed(ran, input_shapes, output_shapes, out)
