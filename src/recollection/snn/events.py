"""Event-driven forward pass of the spiking network on the CPU, bit-identical to ``SpikingNetwork``.

The dense path (:mod:`.network`) convolves every time slice of every layer. Its inputs are sparse,
though: each pixel of the spike-time map fires at most once, and so does each conv position (lateral
inhibition). This engine follows the spikes instead, along the network's
:class:`.architecture.Architecture`, one image per iteration of a compiled loop
(:func:`.kernels.run_images`, where the exactness argument is spelled out):

* the first conv layer, reading the spike-time map: output row by output row, the input spikes of the
  rows around it add their kernel rows into a float64 current (T, W, maps); each position's potentials
  are then scanned over its busy steps until it fires (positions with too few inputs to reach the
  threshold are not scanned);
* the other conv layers: step by step, each input spike of the step before scatters its kernel into a
  float64 current, then the positions that have not fired integrate, threshold and inhibit
  (:func:`.kernels.integrate_and_fire`, the step STDP learning uses too);
* pools: every input spike makes the units of its windows fire one step later (with inhibition: only
  at a position's earliest step, in the maps that reach it);
* the last conv layer integrates at every step (with reset): its potentials ``(N, T, maps, H, W)``
  float32 are the result.

Between layers the spikes travel as *events* (see :mod:`.kernels`), sorted so that every conv layer adds
its float64 terms in the order of torch's float64 ``conv2d``; ``tests/test_snn_events.py`` checks the
bits on real and synthetic data.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from . import kernels
from .architecture import FEATURE_THRESHOLDS, Conv, Thresholds
from .encoding import NO_SPIKE
from .network import SpikingNetwork

__all__ = ["EventActivity", "forward_events", "run_events", "dense_spikes", "kernel_layout", "spikes_to_events",
           "times_to_events"]


@dataclass
class EventActivity:
    """What ``run_events`` produced for N images.

    ``potentials`` is what ``SpikingNetwork.forward`` returns (as NumPy), or None when the run stopped
    below the last layer. With ``record``, ``spikes`` holds one entry per layer below the last (None
    where not recorded): spike-time maps (N, maps, H, W) uint8 (``NO_SPIKE`` = silent) for the layers
    whose neurons fire at most once (conv layers, inhibited pools), else (N, T, maps, H, W) bool.
    ``dense_spikes`` turns them into the dense path's layout.
    """

    potentials: np.ndarray | None  # (N, T, maps, H, W) float32
    spikes: list[np.ndarray | None] | None = None

    def max_features(self) -> np.ndarray:
        """The SVM's features (N, maps): each last-layer map's largest potential over space and time."""
        return self.last_potentials().max(axis=(1, 3, 4))

    def last_potentials(self) -> np.ndarray:
        """``potentials``, or an error if the run stopped below the last layer."""
        if self.potentials is None:
            raise ValueError("the run stopped below the last layer: no potentials (run_events without stop)")
        return self.potentials

    def recorded(self, layer: int) -> np.ndarray:
        """The spikes of ``layer``, or an error if they were not recorded."""
        spikes = self.spikes[layer] if self.spikes is not None and 0 <= layer < len(self.spikes) else None
        if spikes is None:
            raise ValueError(f"the spikes of layer {layer} were not recorded: run run_events(..., record=[{layer}])")
        return spikes


def _as_times(times: np.ndarray | torch.Tensor, time_steps: int) -> np.ndarray:
    if isinstance(times, torch.Tensor):
        times = times.detach().cpu().numpy()
    times = np.asarray(times)
    if times.ndim != 3:
        raise ValueError(f"spike-time maps should be (N, H, W); got shape {times.shape}")
    if times.dtype != np.uint8:
        if not np.issubdtype(times.dtype, np.integer):
            raise ValueError(f"spike-time maps should be uint8 (255 = silent); got {times.dtype}")
        if times.size and (times.min() < 0 or times.max() > 255):
            raise ValueError("spike-time maps hold values outside 0 … 255")
        times = times.astype(np.uint8)
    if not 1 <= time_steps <= NO_SPIKE:
        raise ValueError(f"time_steps must be in 1 … {NO_SPIKE}; got {time_steps}")
    return np.ascontiguousarray(times)


def kernel_layout(weight: torch.Tensor | np.ndarray) -> np.ndarray:
    """(maps, in, k, k) float32 → (in, k, k, maps) float64 (exact), columns flipped and maps innermost,
    flattened: an input's kernel row then adds to a contiguous stretch of the (H, W, maps) current."""
    array = weight.detach().cpu().numpy() if isinstance(weight, torch.Tensor) else np.asarray(weight)
    return np.ascontiguousarray(array.astype(np.float64)[..., ::-1].transpose(1, 2, 3, 0)).reshape(-1)


def run_events(
    network: SpikingNetwork,
    times: np.ndarray,
    thresholds: Thresholds | Sequence[float] = FEATURE_THRESHOLDS,
    time_steps: int = 15,
    record: bool | Sequence[int] = False,
    workers: int | None = None,
    chunk: int = 8,
    stop: int | None = None,
) -> EventActivity:
    """Event-driven forward pass of N spike-time maps (N, H, W) uint8 (``NO_SPIKE`` = silent), as
    ``DoGEncoder`` produces them. Same result, bit for bit, as
    ``network(spike_train(torch.from_numpy(times), time_steps), thresholds).potentials``.

    ``record``: True keeps the spikes of every layer below the last, or give the layer indices to keep.
    ``stop``: run only the first ``stop`` layers (no potentials unless that includes the last).
    ``workers`` threads (default ``torch.get_num_threads()``) each run ``chunk`` images at a time.
    """
    arch = network.architecture
    times = _as_times(times, time_steps)
    n, h, w = times.shape
    total = len(arch.layers)
    stop = total if stop is None else int(stop)
    if not 1 <= stop <= total:
        raise ValueError(f"stop must be in 1 … {total} (layers to run); got {stop}")
    recordable = min(stop, total - 1)  # the layers run, less the last conv layer (its output: potentials)
    keep = set(range(recordable)) if record is True else set(record or ())
    if any(not 0 <= j < recordable for j in keep):
        raise ValueError(f"can record layers 0 … {recordable - 1} (run, and spiking); got {sorted(keep)}")
    chunk = max(1, int(chunk))
    convs = iter(zip(network.weights, arch.thresholds(thresholds)))
    sizes, maps = arch.sizes(h, w), arch.maps()
    weights: list[np.ndarray] = []  # per layer: its kernels in the scatter layout (none for a pool)
    wstart, th = [0], []
    for layer in arch.layers:
        if isinstance(layer, Conv):
            weight, threshold = next(convs)
            weights.append(kernel_layout(weight))
        else:
            weights.append(np.zeros(0))
            threshold = 0.0
        wstart.append(wstart[-1] + weights[-1].size)
        th.append(threshold)
    plan = (
        np.array([0 if isinstance(layer, Conv) else 1 for layer in arch.layers], np.int64),
        np.array([layer.kernel for layer in arch.layers], np.int64),
        np.array([getattr(layer, "stride", 1) for layer in arch.layers], np.int64),
        np.array([getattr(layer, "inhibition", True) for layer in arch.layers], np.bool_),
        np.array(maps, np.int64), np.array([s[0] for s in sizes], np.int64), np.array([s[1] for s in sizes], np.int64),
        np.array(wstart, np.int64), np.concatenate(weights),
        np.array(th, np.float32),  # torch compares a float32 tensor with a Python float in float32
    )
    record_at = np.full(total, -1, np.int64)
    shapes: dict[int, tuple[int, ...]] = {}
    offsets = [0, 0]  # per recorded layer: its shape; running offsets in the two record arrays
    for j in sorted(keep):
        once = arch.fires_once(j)
        shapes[j] = (maps[j],) + sizes[j] if once else (time_steps, maps[j]) + sizes[j]
        record_at[j] = offsets[0 if once else 1]
        offsets[0 if once else 1] += int(np.prod(shapes[j]))
    out_shape = (n, time_steps, maps[-1]) + sizes[-1] if stop == total else (0, time_steps, 1, 1, 1)
    out = np.empty(out_shape, np.float32)
    record_times = np.full((n, offsets[0]), NO_SPIKE, np.uint8)
    record_trains = np.zeros((n, offsets[1]), np.bool_)

    def part(start: int) -> None:
        sl = slice(start, min(start + chunk, n))
        kernels.run_images(times[sl], *plan, time_steps, stop, out[sl] if stop == total else out, record_at,
                           record_times[sl], record_trains[sl])

    starts = range(0, n, chunk)
    workers = max(1, workers or torch.get_num_threads())
    if workers == 1 or n <= chunk:
        for start in starts:
            part(start)
    else:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(part, starts))
    spikes: list[np.ndarray | None] | None = None
    if record:
        spikes = [None] * recordable
        for j, shape in shapes.items():
            source = record_times if arch.fires_once(j) else record_trains
            spikes[j] = source[:, record_at[j] : record_at[j] + int(np.prod(shape))].reshape((n,) + shape)
    return EventActivity(out if stop == total else None, spikes)


def forward_events(
    network: SpikingNetwork,
    times: np.ndarray,
    thresholds: Thresholds | Sequence[float] = FEATURE_THRESHOLDS,
    time_steps: int = 15,
    workers: int | None = None,
) -> np.ndarray:
    """conv3 potentials (N, T, maps, H, W) float32 of spike-time maps (N, H, W) uint8: the event-driven,
    bit-identical equivalent of ``SpikingNetwork(...)(spike_train(...), thresholds).potentials``."""
    return run_events(network, times, thresholds, time_steps, workers=workers).last_potentials()


def _times_to_dense(times: np.ndarray, time_steps: int) -> np.ndarray:
    """Spike-time maps (N, C, H, W) → (N, T, C, H, W) bool."""
    steps = np.arange(time_steps).reshape(1, time_steps, 1, 1, 1)
    return times[:, None].astype(np.int64) == steps


def dense_spikes(activity: EventActivity, times: np.ndarray) -> list[np.ndarray]:
    """A recorded activity's spikes in ``Activity.spikes``'s layout: the input, then every layer below
    the last, each (N, T, C, H, W) bool."""
    recorded = [s for s in activity.spikes or [] if s is not None]
    if activity.spikes is None or len(recorded) != len(activity.spikes):
        raise ValueError("the activity holds no spike records of every layer: run run_events(..., record=True)")
    steps = activity.potentials.shape[1] if activity.potentials is not None else None
    steps = steps or next(s.shape[1] for s in recorded if s.ndim == 5)
    times = _as_times(times, steps)
    return [_times_to_dense(times[:, None], steps)] + [
        _times_to_dense(s, steps) if s.ndim == 4 else s.copy() for s in recorded]


def spikes_to_events(spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, C, H, W) bool → events: (offsets (T + 1,) int64, rows (n, 3) int32 of channel, y, x ordered by step)."""
    t, c, y, x = np.nonzero(spikes)
    offsets = np.zeros(spikes.shape[0] + 1, np.int64)
    offsets[1:] = np.cumsum(np.bincount(t, minlength=spikes.shape[0]))
    return offsets, np.ascontiguousarray(np.stack([c, y, x], axis=1).astype(np.int32))


def times_to_events(times: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike-time maps (H, W) (one channel) or (C, H, W), uint8 with 255 = silent → events."""
    times = np.asarray(times)
    times = times[None] if times.ndim == 2 else times
    c, y, x = np.nonzero(times < steps)
    s = times[c, y, x].astype(np.int64)
    order = np.lexsort((x, y, c, s))
    offsets = np.zeros(steps + 1, np.int64)
    offsets[1:] = np.cumsum(np.bincount(s, minlength=steps))
    return offsets, np.ascontiguousarray(np.stack([c, y, x], axis=1)[order].astype(np.int32))
