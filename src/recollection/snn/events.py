"""Event-driven forward pass of the spiking network on the CPU, bit-identical to ``SpikingNetwork``.

The dense path (:mod:`.network`) convolves every time slice of every layer. Its inputs are sparse,
though: each pixel of the spike-time map fires at most once, and so does each conv1 / conv2 position
(lateral inhibition). This module follows the spikes instead (numba, one image per loop iteration):

* conv1 — output row by output row, the input spikes of the rows around it add their kernel rows
  into a float64 current (T, W, maps); each position's potentials are then scanned over its busy
  steps until it fires (positions with too few inputs to reach the threshold are not scanned);
* pool1 — a unit's first spike is one step after the earliest conv1 spike of its window, and only
  the maps that reach that earliest time fire (pool1's inhibition, all maps tied);
* conv2 — step by step, each pool1 spike of the step before scatters its 17 × 17 × 20 kernel into a
  float64 current buffer, then the not yet fired positions integrate, threshold and inhibit;
* pool2 — every conv2 spike makes its pool units fire one step later (no inhibition);
* conv3 — like conv2, but every neuron integrates at every step (with reset) and its potentials are
  the result ``(N, T, maps, H, W)`` float32.

Exactness. The reference adds each step's current, a float64 sum of float32 weights, to the float32
potential: ``V = float32(float64(V) + I)``, after resetting neurons whose previous V exceeded the
threshold; thresholds are compared in float32 (torch casts the Python float to the tensor's dtype).
Trained weights span many orders of magnitude (down to 1e-45), so float64 sums of them are *not*
exact and their order matters. Torch's float64 ``conv2d`` on the CPU (im2col + MKL dgemm) adds the
terms of each output sequentially in the im2col order (input map, kernel row, kernel column); this
module adds them in the same order: spikes are scattered in raster order (map, row, column) of the
input, which is that order for every output position. Zero terms (silent inputs) are exact no-ops.
Both paths then give the same bits; ``tests/test_snn_events.py`` checks it on real and synthetic data.
(That is MKL's order, as shipped in torch's x86 wheels; a torch built on another BLAS that blocks
the sums differently could disagree in the last bit of a few potentials.)

The kernels assume odd kernel sizes with padding k // 2 (the network's) and any image size.

Before a conv1 / conv2 position first fires, none of its potentials exceeds the threshold (else the
position would have fired), so no reset happens and the scan may stop at the first spike: those
layers' potentials are not part of the result.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import torch

from .encoding import NO_SPIKE
from .network import FEATURE_THRESHOLDS, POOL_SHAPES, SpikingNetwork, Thresholds

__all__ = ["EventActivity", "forward_events", "run_events", "dense_spikes"]


@dataclass
class EventActivity:
    """What ``run_events`` produced for N images.

    ``potentials`` is what ``SpikingNetwork.forward`` returns (as NumPy). With ``record=True`` the
    spikes of every layer come too, as spike-time maps (uint8, ``NO_SPIKE`` = silent; each conv1,
    pool1 and conv2 neuron fires at most once) and, for pool2, whose units may fire several times,
    as a boolean (N, T, maps, H, W) array. ``dense_spikes`` turns them into the reference's layout.
    """

    potentials: np.ndarray  # (N, T, maps3, H3, W3) float32
    conv1: np.ndarray | None = None  # (N, maps1, H, W) uint8 spike times
    pool1: np.ndarray | None = None  # (N, maps1, H1, W1) uint8 spike times
    conv2: np.ndarray | None = None  # (N, maps2, H1, W1) uint8 spike times
    pool2: np.ndarray | None = None  # (N, T, maps2, H2, W2) bool

    def max_features(self) -> np.ndarray:
        """The SVM's features (N, maps): each conv3 map's largest potential over space and time."""
        return self.potentials.max(axis=(1, 3, 4))


def _pooled_size(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


# ------------------------------------------------------------------------------------------ kernels
@numba.njit(cache=True, nogil=True)
def _conv1_first_spikes(times, w1, th1, steps, t1, spikes):
    """conv1 of one image: spike times ``t1`` (maps, H, W) and the list ``spikes`` (n, 4) of
    (map, row, column, step); returns n. ``times`` (H, W) uint8; ``w1`` (k, k, maps), columns flipped.

    Output rows are done one at a time: the input spikes of the k rows around it (kept as a compressed
    row list) add their kernel rows into a per-step current (T, W, maps), rows ascending, columns
    ascending: for every output that is kernel (row, column) order, the order of torch's sums."""
    h, w = times.shape
    k = w1.shape[0]
    maps = w1.shape[2]
    pad = k // 2
    if np.float32(0.0) > th1:  # every potential starts above threshold: all maps tie and fire at 0
        t1[:] = 0
        count = 0
        for m in range(maps):
            for y in range(h):
                for x in range(w):
                    spikes[count, 0] = m
                    spikes[count, 1] = y
                    spikes[count, 2] = x
                    spikes[count, 3] = 0
                    count += 1
        return count
    t1[:] = NO_SPIKE
    # the input spikes that reach a later step, row by row
    start = np.empty(h + 1, np.int64)
    cols = np.empty(h * w, np.int64)
    steps_of = np.empty(h * w, np.int64)
    n = 0
    for y in range(h):
        start[y] = n
        for x in range(w):
            ti = np.int64(times[y, x])
            if ti < steps - 1:
                cols[n] = x
                steps_of[n] = ti + 1
                n += 1
    start[h] = n
    cur = np.zeros((steps, w, maps))
    flat = cur.reshape(-1)
    wflat = w1.reshape(-1)
    lo = np.full(w, steps, np.int64)
    hi = np.full(w, -1, np.int64)
    inputs = np.zeros(w, np.int64)
    v = np.zeros(maps, np.float32)
    # A position whose potentials cannot reach the threshold need not be scanned. Every partial sum
    # of its currents is at most (its input count) × (largest weight), and float32 / float64
    # rounding adds at most steps × 2^-24 × (count × largest |weight|) (bounded generously here).
    w_max = max(0.0, w1.max())
    w_abs = np.abs(w1).max()
    per_input = w_max + w_abs * (steps + 2) * 2.0**-21
    count = 0
    for y in range(h):
        for dy in range(max(0, pad - y), min(k, h - y + pad)):
            yi = y + dy - pad
            for j in range(start[yi], start[yi + 1]):
                x = cols[j]
                t = steps_of[j]
                j0 = max(0, pad - x)
                j1 = min(k, pad + w - x)
                base = (t * w + x + j0 - pad) * maps
                wbase = (dy * k + j0) * maps
                span = (j1 - j0) * maps
                out_row = flat[base : base + span]  # slices: no negative-index checks, vectorised
                w_row = wflat[wbase : wbase + span]
                for q in range(span):
                    out_row[q] += w_row[q]
                for xo in range(x + j0 - pad, x + j1 - pad):
                    lo[xo] = min(lo[xo], t)
                    hi[xo] = max(hi[xo], t)
                    inputs[xo] += 1
        for x in range(w):
            last = hi[x]
            if last < 0:
                continue
            first = lo[x]
            lo[x] = steps
            hi[x] = -1
            if inputs[x] * per_input + 1e-37 < th1:  # cannot fire: only clear its currents
                inputs[x] = 0
                for t in range(first, last + 1):
                    for m in range(maps):
                        cur[t, x, m] = 0.0
                continue
            inputs[x] = 0
            for m in range(maps):
                v[m] = 0.0
            fired = False
            for t in range(first, last + 1):
                if not fired:
                    best = np.float32(-np.inf)
                    for m in range(maps):
                        vm = np.float32(np.float64(v[m]) + cur[t, x, m])
                        v[m] = vm
                        if vm > th1 and vm > best:
                            best = vm
                    if best > th1:
                        fired = True
                        for m in range(maps):
                            if v[m] > th1 and v[m] == best:
                                t1[m, y, x] = t
                                spikes[count, 0] = m
                                spikes[count, 1] = y
                                spikes[count, 2] = x
                                spikes[count, 3] = t
                                count += 1
                for m in range(maps):
                    cur[t, x, m] = 0.0
    return count


@numba.njit(cache=True, nogil=True)
def _pool_first_spikes(spikes, count, kernel, stride, steps, t_out):
    """pool1 from the list of conv1 spikes: a unit fires one step after the earliest spike of its
    window (over all maps); only the maps reaching that earliest time fire, and never again."""
    maps, ho, wo = t_out.shape
    pad = kernel // 2
    first = np.full((maps, ho, wo), NO_SPIKE, np.int64)
    for i in range(count):
        c, y, x, t = spikes[i, 0], spikes[i, 1], spikes[i, 2], spikes[i, 3]
        # the units whose window [p * stride - pad, p * stride - pad + kernel) holds (y, x)
        for py in range(max(0, (y + pad - kernel + stride) // stride), min(ho, (y + pad) // stride + 1)):
            for px in range(max(0, (x + pad - kernel + stride) // stride), min(wo, (x + pad) // stride + 1)):
                if t < first[c, py, px]:
                    first[c, py, px] = t
    t_out[:] = NO_SPIKE
    for py in range(ho):
        for px in range(wo):
            best = NO_SPIKE
            for c in range(maps):
                best = min(best, first[c, py, px])
            if best < steps - 1:
                for c in range(maps):
                    if first[c, py, px] == best:
                        t_out[c, py, px] = best + 1


@numba.njit(cache=True, nogil=True)
def _add_kernel(flat, h, wd, wflat, k, maps, c, y, x):
    """Add the kernel of input (c, y, x) into the current ``flat`` (h, wd, maps), flattened; ``wflat``
    is the (in, k, k, maps) kernel with flipped columns, flattened, so that each kernel row lands on
    a contiguous stretch of outputs."""
    pad = k // 2
    j0 = max(0, pad - x)
    j1 = min(k, pad + wd - x)
    span = (j1 - j0) * maps
    for dy in range(max(0, y + pad - h + 1), min(k, y + pad + 1)):
        base = ((y - dy + pad) * wd + x + j0 - pad) * maps
        wbase = ((c * k + dy) * k + j0) * maps
        out_row = flat[base : base + span]  # slices: no negative-index checks, vectorised
        w_row = wflat[wbase : wbase + span]
        for q in range(span):
            out_row[q] += w_row[q]


@numba.njit(cache=True, nogil=True)
def _conv2_first_spikes(tp1, w2, th2, steps, t2):
    """conv2 spike times ``t2`` (maps, H1, W1) from pool1's spike times ``tp1`` (maps1, H1, W1): step by
    step, the spikes of the step before are scattered in raster order (map, row, column), which is
    torch's order of the terms for every output."""
    c_in, h, wd = tp1.shape
    k = w2.shape[1]
    maps = w2.shape[3]
    wflat = w2.reshape(-1)
    t2[:] = NO_SPIKE
    if np.float32(0.0) > th2:
        t2[:] = 0
        return
    v = np.zeros((h, wd, maps), np.float32)
    fired = np.zeros((h, wd), np.bool_)
    cur = np.zeros((h, wd, maps))
    flat = cur.reshape(-1)
    for s in range(steps - 1):
        count = 0
        for c in range(c_in):
            for y in range(h):
                for x in range(wd):
                    if tp1[c, y, x] == s:
                        _add_kernel(flat, h, wd, wflat, k, maps, c, y, x)
                        count += 1
        if count == 0:
            continue  # no current: nothing changes (no unfired potential is above threshold)
        t = s + 1
        for y in range(h):
            for x in range(wd):
                if fired[y, x]:
                    for m in range(maps):
                        cur[y, x, m] = 0.0
                    continue
                best = np.float32(-np.inf)
                for m in range(maps):
                    vm = np.float32(np.float64(v[y, x, m]) + cur[y, x, m])
                    cur[y, x, m] = 0.0
                    v[y, x, m] = vm
                    if vm > th2 and vm > best:
                        best = vm
                if best > th2:
                    fired[y, x] = True
                    for m in range(maps):
                        if v[y, x, m] > th2 and v[y, x, m] == best:
                            t2[m, y, x] = t


@numba.njit(cache=True, nogil=True)
def _pool_all_spikes(t_in, kernel, stride, steps, p_out):
    """pool2: a unit fires at t whenever an input of its window fired at t − 1 (no inhibition)."""
    maps, h, w = t_in.shape
    _, _, ho, wo = p_out.shape
    pad = kernel // 2
    p_out[:] = False
    for c in range(maps):
        for py in range(ho):
            y0 = max(py * stride - pad, 0)
            y1 = min(py * stride - pad + kernel, h)
            for px in range(wo):
                x0 = max(px * stride - pad, 0)
                x1 = min(px * stride - pad + kernel, w)
                for yy in range(y0, y1):
                    for xx in range(x0, x1):
                        s = np.int64(t_in[c, yy, xx])
                        if s < steps - 1:
                            p_out[s + 1, c, py, px] = True


@numba.njit(cache=True, nogil=True)
def _conv3_potentials(p2, w3, th3, out):
    """conv3 potentials ``out`` (T, maps, H2, W2) float32 from pool2's spikes ``p2`` (T, maps2, H2, W2)."""
    steps, c_in, h, wd = p2.shape
    k = w3.shape[1]
    maps = w3.shape[3]
    wflat = w3.reshape(-1)
    v = np.zeros((h, wd, maps), np.float32)
    cur = np.zeros((h, wd, maps))
    flat = cur.reshape(-1)
    out[0] = 0.0
    for t in range(1, steps):
        for c in range(c_in):
            for y in range(h):
                for x in range(wd):
                    if p2[t - 1, c, y, x]:
                        _add_kernel(flat, h, wd, wflat, k, maps, c, y, x)
        for y in range(h):
            for x in range(wd):
                for m in range(maps):
                    vm = v[y, x, m]
                    if vm > th3:
                        vm = np.float32(0.0)
                    vm = np.float32(np.float64(vm) + cur[y, x, m])
                    cur[y, x, m] = 0.0
                    v[y, x, m] = vm
                    out[t, m, y, x] = vm


@numba.njit(cache=True, nogil=True)
def _run_images(times, w1, w2, w3, th1, th2, th3, pool1, pool2, steps, out, rec1, recp1, rec2, recp2, record):
    """The whole network for images ``times`` (n, H, W); writes ``out`` (n, T, maps3, H2, W2) and,
    with ``record``, the spike records (else those arrays may be empty)."""
    n, h, w = times.shape
    maps1 = w1.shape[2]
    maps2 = w2.shape[3]
    h1 = (h + 2 * (pool1[0] // 2) - pool1[0]) // pool1[1] + 1
    wd1 = (w + 2 * (pool1[0] // 2) - pool1[0]) // pool1[1] + 1
    h2 = out.shape[3]
    wd2 = out.shape[4]
    t1 = np.empty((maps1, h, w), np.uint8)
    tp1 = np.empty((maps1, h1, wd1), np.uint8)
    t2 = np.empty((maps2, h1, wd1), np.uint8)
    p2 = np.empty((steps, maps2, h2, wd2), np.bool_)
    spikes = np.empty((maps1 * h * w, 4), np.int64)
    for i in range(n):
        count = _conv1_first_spikes(times[i], w1, th1, steps, t1, spikes)
        _pool_first_spikes(spikes, count, pool1[0], pool1[1], steps, tp1)
        _conv2_first_spikes(tp1, w2, th2, steps, t2)
        _pool_all_spikes(t2, pool2[0], pool2[1], steps, p2)
        _conv3_potentials(p2, w3, th3, out[i])
        if record:
            rec1[i] = t1
            recp1[i] = tp1
            rec2[i] = t2
            recp2[i] = p2


# ------------------------------------------------------------------------------------------ Python API
def _as_times(times, time_steps: int) -> np.ndarray:
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


def _kernel_layout(weight: torch.Tensor) -> np.ndarray:
    """(maps, in, k, k) float32 → (in, k, k, maps) float64 (exact), columns flipped and maps innermost:
    an input's kernel row then adds to a contiguous stretch of the (H, W, maps) current."""
    array = weight.detach().cpu().to(torch.float64).numpy()[..., ::-1]
    return np.ascontiguousarray(array.transpose(1, 2, 3, 0))


def run_events(
    network: SpikingNetwork,
    times: np.ndarray,
    thresholds: Thresholds = FEATURE_THRESHOLDS,
    time_steps: int = 15,
    record: bool = False,
    workers: int | None = None,
    chunk: int = 8,
) -> EventActivity:
    """Event-driven forward pass of N spike-time maps (N, H, W) uint8 (``NO_SPIKE`` = silent), as
    ``DoGEncoder`` produces them. Same result, bit for bit, as
    ``network(spike_train(torch.from_numpy(times), time_steps), thresholds).potentials``.

    ``workers`` threads (default ``torch.get_num_threads()``) each run ``chunk`` images at a time.
    """
    times = _as_times(times, time_steps)
    n, h, w = times.shape
    chunk = max(1, int(chunk))
    w1 = _kernel_layout(network.w1)[0]  # (k, k, maps1): conv1 reads the single input map
    w2, w3 = _kernel_layout(network.w2), _kernel_layout(network.w3)
    (pk1, ps1), (pk2, ps2) = POOL_SHAPES
    h1, wd1 = _pooled_size(h, pk1, ps1), _pooled_size(w, pk1, ps1)
    h2, wd2 = _pooled_size(h1, pk2, ps2), _pooled_size(wd1, pk2, ps2)
    maps1, maps2, maps3 = w1.shape[2], w2.shape[3], w3.shape[3]
    # torch compares a float32 tensor with a Python float in float32
    th = [np.float32(x) for x in (thresholds.conv1, thresholds.conv2, thresholds.conv3)]

    out = np.empty((n, time_steps, maps3, h2, wd2), np.float32)
    rn = n if record else 0
    rec1 = np.empty((rn, maps1, h, w), np.uint8)
    recp1 = np.empty((rn, maps1, h1, wd1), np.uint8)
    rec2 = np.empty((rn, maps2, h1, wd1), np.uint8)
    recp2 = np.empty((rn, time_steps, maps2, h2, wd2), np.bool_)

    def part(start: int) -> None:
        stop = min(start + chunk, n)
        sl = slice(start, stop) if record else slice(0, 0)
        _run_images(times[start:stop], w1, w2, w3, th[0], th[1], th[2], (pk1, ps1), (pk2, ps2), time_steps,
                    out[start:stop], rec1[sl], recp1[sl], rec2[sl], recp2[sl], record)

    starts = range(0, n, chunk)
    workers = max(1, workers or torch.get_num_threads())
    if workers == 1 or n <= chunk:
        for start in starts:
            part(start)
    else:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(part, starts))
    if not record:
        return EventActivity(out)
    return EventActivity(out, rec1, recp1, rec2, recp2)


def forward_events(
    network: SpikingNetwork,
    times: np.ndarray,
    thresholds: Thresholds = FEATURE_THRESHOLDS,
    time_steps: int = 15,
    workers: int | None = None,
) -> np.ndarray:
    """conv3 potentials (N, T, maps, H, W) float32 of spike-time maps (N, H, W) uint8: the event-driven,
    bit-identical equivalent of ``SpikingNetwork(...)(spike_train(...), thresholds).potentials``."""
    return run_events(network, times, thresholds, time_steps, workers=workers).potentials


def _times_to_dense(times: np.ndarray, time_steps: int) -> np.ndarray:
    """Spike-time maps (N, C, H, W) → (N, T, C, H, W) bool."""
    steps = np.arange(time_steps).reshape(1, time_steps, 1, 1, 1)
    return times[:, None].astype(np.int64) == steps


def dense_spikes(activity: EventActivity, times: np.ndarray) -> list[np.ndarray]:
    """A recorded activity's spikes in ``Activity.spikes``'s layout: input, conv1, pool1, conv2, pool2,
    each (N, T, C, H, W) bool."""
    if activity.conv1 is None:
        raise ValueError("the activity holds no spike records: run run_events(..., record=True)")
    steps = activity.potentials.shape[1]
    times = _as_times(times, steps)
    return [_times_to_dense(times[:, None], steps), _times_to_dense(activity.conv1, steps),
            _times_to_dense(activity.pool1, steps), _times_to_dense(activity.conv2, steps), activity.pool2.copy()]

