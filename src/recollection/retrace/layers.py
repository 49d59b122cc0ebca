"""The steps of a recorded graph, and the layers ``layer:N`` / ``random:N`` can start from.

A *layer* is a recorded op with an output map of its own: a conv, linear, max/average pool,
residual join (+) or concatenation, taken after the BatchNorm and ReLU that directly follow
it. Layers are numbered back from the output (0 = the logits). In a plain chain (AlexNet,
VGG, the digits net) they are named AlexNet-style — conv1, pool1, ..., fc8 — and in a graph
with joins (ResNet) by where they are in the model: ``layer1.0.conv1``, ``layer1.0.add``.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ops
from .graph import INPUT, Graph
from .ops import TAPPED

FOLLOWERS = ("batchnorm", "relu")  # ops a layer's map is taken after


@dataclass(frozen=True)
class Layout:
    """What the steps of a graph are, independent of any input."""

    nodes: tuple[int, ...]  # the graph node of each step (the ops the output depends on, in forward order)
    labels: tuple[str, ...]  # what each step calls: 'nn.Conv2d', 'F.relu', 'operator.add'
    inputs: tuple[tuple[int, ...], ...]  # per step, the steps (or INPUT) whose outputs feed it
    output: int  # the step whose output the model returns
    stages: tuple[tuple[str, int, int], ...]  # (name, step whose output is the map, the op itself), forward order

    @property
    def kept(self) -> set[int]:
        """Graph nodes whose outputs a trace keeps: the layers' maps and the output."""
        return {self.nodes[end] for _, end, _ in self.stages} | {self.nodes[self.output]}


def layout(graph: Graph) -> Layout:
    nodes = tuple(i for i, n in enumerate(graph.nodes) if n.is_op and i in graph.needed)
    step_of = {node: s for s, node in enumerate(nodes)}
    step_of[INPUT] = INPUT
    inputs = tuple(tuple(step_of[d] for d in graph.nodes[i].data) for i in nodes)
    kinds = [graph.nodes[i].kind for i in nodes]
    wheres = [graph.nodes[i].where for i in nodes]
    consumers: list[list[int]] = [[] for _ in nodes]
    for s, ins in enumerate(inputs):
        for d in ins:
            if d != INPUT:
                consumers[d].append(s)
    output = step_of[graph.output]
    chain = all(len(c) <= 1 for c in consumers) and all(len(i) <= 1 for i in inputs)
    stages = _stages(kinds, wheres, consumers, chain)
    if not stages or stages[-1][1] != output:  # the logits are always layer 0
        stages.append((wheres[output] if not chain else "output", output, output))
    return Layout(nodes, tuple(ops.label(graph.nodes[i].target) for i in nodes), inputs, output, tuple(stages))


def _stages(kinds: list[str], wheres: list[str], consumers: list[list[int]], chain: bool) -> list[tuple[str, int, int]]:
    stages: list[tuple[str, int, int]] = []
    count = 0
    for i, kind in enumerate(kinds):
        if kind not in TAPPED:
            continue
        end, relu = i, False
        while len(consumers[end]) == 1 and kinds[consumers[end][0]] in FOLLOWERS:
            end = consumers[end][0]
            relu = relu or kinds[end] == "relu"
        if not chain:
            stages.append((wheres[i], end, i))
            continue
        if kind == "conv":  # a strided conv without ReLU after a conv replaced a pool (ConvPool)
            if relu or not stages or not stages[-1][0].startswith("conv"):
                count += 1
                stages.append((f"conv{count}", end, i))
            else:
                stages.append((f"convpool{count}", end, i))
        elif kind in ("maxpool", "avgpool"):
            stages.append((f"pool{count}", end, i))
        elif kind == "linear":
            count += 1
            stages.append((f"fc{count}", end, i))
    return stages
