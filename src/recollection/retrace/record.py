"""Forward pass (perception), recorded: what the model actually does, checked against the model.

``record`` reads the model's forward pass as a graph of ops (``torch.fx``; for models fx
cannot trace, a recording of the real run: ``dispatch.py``), runs it on the batch with
evaluation-mode semantics, and keeps what the backward pass needs: every op's input shapes,
the pools' switches, BatchNorm's scales, and the maps of the layers a recollection can
start from. The recorded pass must reproduce ``model(x)``; otherwise ``ModelError``.

The caller's model is left as it was: its modules are put in evaluation mode for the call
only, and nothing is moved, added or stored on it (graphs are cached beside it).
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from ..errors import ModelError
from .dispatch import record_dispatch
from .graph import INPUT, Executed, Graph, execute, from_fx, trace_fx
from .layers import Layout, layout

REPLAY_TOLERANCE = 1e-4  # of the largest |output|: the recorded pass runs the model's own ops


@dataclass
class Step:
    """One recorded op of the forward pass and what it produced."""

    name: str  # where it is in the model: 'features.0', 'layer1.0.add'
    module: nn.Module | None  # the module, for module calls
    input_shape: torch.Size  # of its (first) input that depends on the image
    output: Tensor | None  # kept for the layers' maps and the output only (None elsewhere)
    switches: Tensor | None = None  # max pools: the argmax of each window
    kind: str = ""  # the op kind (``ops.KINDS``)
    inputs: tuple[int, ...] = ()  # the steps (INPUT = -1: the image) whose outputs feed it
    input_shapes: tuple[torch.Size, ...] = ()
    spec: Any = None  # what its backward rule needs (the module, pool geometry, BatchNorm scale, ...)
    output_shape: torch.Size | None = None
    label: str = ""  # what the model calls: 'nn.Conv2d', 'F.relu', 'operator.add'


@dataclass(frozen=True)
class Tap:
    """A layer whose activations can start a recollection (``layer:N``, ``random:N``)."""

    number: int  # N, counted back from the output (0 = the logits, 1 = fc7 in AlexNet, ...)
    name: str  # conv1, pool1, ..., fc8; or the module path in a graph with joins
    step: int  # index in Trace.steps of the step whose output is the map (after BatchNorm/ReLU)
    layer: int  # index in Trace.steps of the op itself (conv, linear, pool, +, cat)
    shape: tuple[int, ...]  # per-image shape


@dataclass
class Trace:
    """Everything the backward pass needs from a forward pass over a batch."""

    inputs: Tensor
    steps: list[Step]
    taps: list[Tap] = field(default_factory=list)
    output_step: int = -1  # the step whose output the model returns (default: the last)
    source: str = "fx"  # how it was recorded: "fx" or "dispatch"
    plan: Any = None  # the backward pass's places, computed once (backward.make_plan)

    @property
    def output(self) -> Tensor:
        return self.output_of(self.output_step)

    def output_of(self, index: int) -> Tensor:
        """What step ``index`` produced: kept for every layer's map and the model's output (all with ``keep_all``)."""
        out = self.steps[index].output
        if out is None:
            raise ModelError(f"step {index} ({self.steps[index].name}) kept no output: a trace keeps the layers' maps "
                             f"and the model's output only (record(..., keep_all=True) keeps every op's)")
        return out

    @property
    def predicted(self) -> Tensor:
        return self.output.argmax(dim=1)

    def tap(self, number: int) -> Tap:
        if not 0 <= number < len(self.taps):
            raise IndexError(number)
        return self.taps[number]


# ---------------------------------------------------------------------------- the model, untouched
@contextmanager
def evaluation(model: nn.Module) -> Iterator[None]:
    """Every module in evaluation mode for the duration, then each back to its own flag."""
    training = [m for m in model.modules() if m.training]
    try:
        for m in training:
            m.training = False
        yield
    finally:
        for m in training:
            m.training = True


def fingerprint(model: nn.Module) -> tuple:
    """Changes when a module is replaced or a hook added: then the graph is read again."""
    return tuple((id(m), len(m._forward_hooks), len(m._forward_pre_hooks), m.__dict__.get("forward"))
                 for m in model.modules())


@dataclass
class _Entry:
    fingerprint: tuple
    traced: tuple[Graph, Layout] | None  # None: fx could not trace the model; it is recorded per call
    verified: set = field(default_factory=set)  # (shape, dtype, device) whose replay matched model(x)


_CACHE: "weakref.WeakKeyDictionary[nn.Module, _Entry]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _entry(model: nn.Module) -> _Entry:
    key = fingerprint(model)
    with _LOCK:
        entry = _CACHE.get(model)
    if entry is not None and entry.fingerprint == key:
        return entry
    try:
        fx_graph = trace_fx(model)
    except ModelError:
        raise
    except Exception:  # fx raises many kinds (TraceError, TypeError, ...) on control flow it cannot follow
        fx_graph = None
    graph = from_fx(model, fx_graph) if fx_graph is not None else None
    entry = _Entry(key, (graph, layout(graph)) if graph is not None else None)
    with _LOCK:
        _CACHE[model] = entry
    return entry


# ---------------------------------------------------------------------------- recording
def record(model: nn.Module, inputs: Tensor, *, keep_all: bool = False) -> Trace:
    """Run ``model``'s recorded forward pass on a batch, keeping what the backward pass needs.

    The first batch of each shape is also run through ``model`` itself, and the recorded pass
    must reproduce its output (models recorded by dispatch are checked on every batch).
    ``keep_all`` keeps every op's output (profiling); by default only the layers' maps.
    """
    root = type(model).__name__
    with evaluation(model), torch.inference_mode():
        entry = _entry(model)
        if entry.traced is not None:
            graph, lay = entry.traced
            executed = _execute(graph, lay, model, inputs, keep_all)
            key = (tuple(inputs.shape[1:]), inputs.dtype, inputs.device)
            if key not in entry.verified:
                check_replay(executed.output, _run_model(model, inputs), root)
                entry.verified.add(key)
        else:
            graph, reference = _dispatch(model, inputs)
            lay = layout(graph)
            executed = _execute(graph, lay, model, inputs, keep_all)
            check_replay(executed.output, reference, root)
    return _trace(inputs, graph, lay, executed)


def _run_model(model: nn.Module, inputs: Tensor) -> Tensor:
    try:
        out = model(inputs.clone())
    except Exception as exc:  # the model's own error on this input: say it in one line
        raise ModelError(f"{type(model).__name__} fails on an input of shape {tuple(inputs.shape)}: "
                         f"{_first_line(exc)}") from None
    if not isinstance(out, Tensor):
        raise ModelError(f"{type(model).__name__} returns a {type(out).__name__}; recollection needs one tensor")
    return out


def _dispatch(model: nn.Module, inputs: Tensor) -> tuple[Graph, Tensor]:
    try:
        return record_dispatch(model, inputs.clone())
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{type(model).__name__} fails on an input of shape {tuple(inputs.shape)}: "
                         f"{_first_line(exc)}") from None


def _execute(graph: Graph, lay: Layout, model: nn.Module, inputs: Tensor, keep_all: bool) -> Executed:
    kept = lay.kept
    try:
        return execute(graph, model, inputs, (lambda i: True) if keep_all else kept.__contains__)
    except ModelError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        raise ModelError(f"{type(model).__name__} fails on an input of shape {tuple(inputs.shape)}: "
                         f"{_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def check_replay(ours: Tensor, reference: Tensor, root: str) -> None:
    """The recorded pass must give the model's own output; a recollection of anything else is wrong."""
    if ours.shape != reference.shape:
        raise ModelError(f"the recorded forward pass of {root} gives shape {tuple(ours.shape)}, the model "
                         f"{tuple(reference.shape)}; recollecting it would be wrong")
    scale = float(reference.abs().max()) if reference.numel() else 0.0
    diff = float((ours - reference).abs().max()) if reference.numel() else 0.0
    if not diff <= REPLAY_TOLERANCE * scale + 1e-6:
        raise ModelError(f"the recorded forward pass does not reproduce {root}(x) (outputs differ by up to "
                         f"{diff:.3g}, largest {scale:.3g}): forward() does something the recording cannot see "
                         f"(a forward hook, state kept between calls, an op outside torch), so a recollection "
                         f"would be wrong")


def _trace(inputs: Tensor, graph: Graph, lay: Layout, executed: Executed) -> Trace:
    steps: list[Step] = []
    for s, node_index in enumerate(lay.nodes):
        node, ran = graph.nodes[node_index], executed.ran[node_index]
        shapes = executed.input_shapes[node_index]
        steps.append(Step(node.where, node.target if isinstance(node.target, nn.Module) else None, shapes[0],
                          ran.output, ran.switches, node.kind, lay.inputs[s], shapes, ran.spec,
                          executed.output_shapes[node_index], lay.labels[s]))
    steps[lay.output].output = executed.output
    taps = [Tap(n, name, end, op, tuple(executed.output_shapes[lay.nodes[end]][1:]))
            for n, (name, end, op) in enumerate(reversed(lay.stages))]
    return Trace(inputs, steps, taps, lay.output, graph.source)


__all__ = ["record", "Trace", "Step", "Tap", "INPUT", "evaluation", "check_replay"]
