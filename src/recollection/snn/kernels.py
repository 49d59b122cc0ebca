"""The compiled (numba) kernels of the spiking network: one integrate-and-fire step, the layers built on
it, the event-driven forward pass over an :class:`.architecture.Architecture`, and STDP's presentation.

They share one module on purpose: numba's on-disk cache checks only the source file of each cached
function, not the files of the functions it calls (numba PR #8396 is still open), so a kernel shared
across modules could leave stale compiled copies of its callers behind after an edit.

**Events**, the spikes of one image as every layer reads them: ``offsets`` (T + 1,) int64 and ``rows``
(n, 3) int32 of (map, row, column), sorted by step, then map, row, column; ``rows[offsets[s]:offsets[s +
1]]`` fired at step s. **Kernels**: (in, k, k, maps) float64 with flipped columns, flattened (see
``events.kernel_layout``), so that an input's kernel row adds to a contiguous stretch of the (H, W,
maps) current buffer.

**Exactness.** The dense path (:mod:`.network`) adds each step's current, a float64 sum of float32
weights, to the float32 potential: ``V = float32(float64(V) + I)``, after resetting neurons whose
previous V exceeded the threshold; thresholds are compared in float32. Trained weights span many orders
of magnitude (down to 1e-45), so float64 sums of them are *not* exact and their order matters. Torch's
float64 ``conv2d`` on the CPU (im2col + MKL dgemm) adds the terms of each output in the im2col order
(input map, kernel row, kernel column); scattering the input spikes in raster order (map, row, column)
is that order for every output. Zero terms (silent inputs) are exact no-ops. (That is MKL's order, as
shipped in torch's x86 wheels; a torch built on another BLAS could disagree in the last bit.)

Before a position of a layer with inhibition first fires, none of its potentials exceeds the threshold
(else it would have fired): its reset is a no-op, and a step without input current changes nothing.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .encoding import NO_SPIKE


# ------------------------------------------------------------------------------ the integrate-and-fire step
@njit(cache=True, nogil=True, inline="always")
def integrate_and_fire(v: np.ndarray, current: np.ndarray, threshold: float) -> np.float32:
    """One step of the neurons of one position (all maps), in place: a neuron whose previous potential
    exceeds ``threshold`` resets to 0, then adds its float64 ``current`` (cleared) to its float32
    potential ``v``. Returns the highest potential above the threshold (−inf: none fires): lateral
    inhibition lets exactly the maps holding that value fire."""
    top = np.float32(-np.inf)
    for m in range(v.shape[0]):
        vm = v[m]
        if vm > threshold:
            vm = np.float32(0.0)
        vm = np.float32(np.float64(vm) + current[m])
        current[m] = 0.0
        v[m] = vm
        if vm > threshold and vm > top:
            top = vm
    return top


@njit(cache=True, nogil=True)
def fire_layer(current: np.ndarray, v: np.ndarray, blocked: np.ndarray, threshold: float, fired: np.ndarray,
               top: np.ndarray) -> int:
    """One step of a layer with lateral inhibition, (H, W, maps) buffers: every position that has not
    fired integrates; those that fire now are blocked for good and listed in row-major order (flat
    index in ``fired``, their highest potential in ``top``). Returns how many fired."""
    height, width = blocked.shape
    count = 0
    for y in range(height):
        for x in range(width):
            if blocked[y, x]:
                current[y, x] = 0.0
                continue
            best = integrate_and_fire(v[y, x], current[y, x], threshold)
            if best > threshold:
                blocked[y, x] = True
                fired[count] = y * width + x
                top[count] = best
                count += 1
    return count


@njit(cache=True, nogil=True)
def add_kernel(flat: np.ndarray, height: int, width: int, wflat: np.ndarray, k: int, maps: int, c: int, y: int,
               x: int) -> None:
    """Add the kernel of input spike (c, y, x) into the flattened (H, W, maps) current ``flat``."""
    pad = k // 2
    j0 = max(0, pad - x)
    j1 = min(k, pad + width - x)
    span = (j1 - j0) * maps
    for dy in range(max(0, y + pad - height + 1), min(k, y + pad + 1)):
        base = ((y - dy + pad) * width + x + j0 - pad) * maps
        wbase = ((c * k + dy) * k + j0) * maps
        out_row = flat[base : base + span]  # slices: no negative-index checks, vectorised
        w_row = wflat[wbase : wbase + span]
        for q in range(span):
            out_row[q] += w_row[q]


# ------------------------------------------------------------------------------ events
@njit(cache=True, nogil=True)
def image_events(times: np.ndarray, steps: int, offsets: np.ndarray, rows: np.ndarray) -> int:
    """Events of a spike-time map (H, W) uint8 (``NO_SPIKE`` = silent); returns their count."""
    height, width = times.shape
    offsets[:] = 0
    for y in range(height):
        for x in range(width):
            if times[y, x] < steps:
                offsets[times[y, x] + 1] += 1
    for s in range(steps):
        offsets[s + 1] += offsets[s]
    fill = offsets[:steps].copy()
    for y in range(height):
        for x in range(width):
            s = times[y, x]
            if s < steps:
                rows[fill[s], 0] = 0
                rows[fill[s], 1] = y
                rows[fill[s], 2] = x
                fill[s] += 1
    return offsets[steps]


@njit(cache=True, nogil=True)
def sort_spikes(spikes: np.ndarray, count: int, steps: int, maps: int, offsets: np.ndarray, rows: np.ndarray) -> None:
    """Events from a list of spikes (map, row, column, step) in raster order of the positions: a stable
    counting sort on (step, map) leaves each map's spikes of a step in raster order."""
    start = np.zeros(steps * maps + 1, np.int64)
    for i in range(count):
        start[spikes[i, 3] * maps + spikes[i, 0] + 1] += 1
    for key in range(steps * maps):
        start[key + 1] += start[key]
    for s in range(steps + 1):
        offsets[s] = start[s * maps]
    for i in range(count):
        key = spikes[i, 3] * maps + spikes[i, 0]
        rows[start[key], 0] = spikes[i, 0]
        rows[start[key], 1] = spikes[i, 1]
        rows[start[key], 2] = spikes[i, 2]
        start[key] += 1


@njit(cache=True, nogil=True)
def all_fire_at_zero(maps: int, height: int, width: int, spikes: np.ndarray) -> int:
    """A threshold below 0: every potential starts above it, so all maps tie and fire at step 0."""
    count = 0
    for y in range(height):
        for x in range(width):
            for m in range(maps):
                spikes[count, 0], spikes[count, 1], spikes[count, 2], spikes[count, 3] = m, y, x, 0
                count += 1
    return count


# ------------------------------------------------------------------------------ layers
@njit(cache=True, nogil=True)
def image_conv_spikes(times: np.ndarray, wflat: np.ndarray, k: int, maps: int, threshold: float, steps: int,
                      spikes: np.ndarray) -> int:
    """A conv layer with inhibition reading the image's spike-time map (H, W) uint8 (one map, large and
    sparse): its spikes (map, row, column, step) into ``spikes`` in raster order; returns their count.

    Output rows one at a time: the input spikes of the k rows around it add their kernel rows into a
    per-step current (T, W, maps) (rows, then columns ascending: torch's order of the terms); each
    position is then scanned over its busy steps until it fires, unless too few inputs reach it."""
    height, width = times.shape
    pad = k // 2
    if np.float32(0.0) > threshold:
        return all_fire_at_zero(maps, height, width, spikes)
    start = np.empty(height + 1, np.int64)  # the input spikes that reach a later step, row by row
    cols = np.empty(height * width, np.int64)
    steps_of = np.empty(height * width, np.int64)
    n = 0
    for y in range(height):
        start[y] = n
        for x in range(width):
            if np.int64(times[y, x]) < steps - 1:
                cols[n] = x
                steps_of[n] = np.int64(times[y, x]) + 1
                n += 1
    start[height] = n
    cur = np.zeros((steps, width, maps))
    flat = cur.reshape(-1)
    lo = np.full(width, steps, np.int64)
    hi = np.full(width, -1, np.int64)
    inputs = np.zeros(width, np.int64)
    v = np.zeros(maps, np.float32)
    # Every partial sum of a position's currents is at most (its input count) × (largest weight), and
    # float32 / float64 rounding adds at most steps × 2^-24 × (count × largest |weight|) (generously).
    per_input = max(0.0, wflat.max()) + np.abs(wflat).max() * (steps + 2) * 2.0**-21
    count = 0
    for y in range(height):
        for dy in range(max(0, pad - y), min(k, height - y + pad)):
            yi = y + dy - pad
            for j in range(start[yi], start[yi + 1]):
                x = cols[j]
                t = steps_of[j]
                j0 = max(0, pad - x)
                j1 = min(k, pad + width - x)
                base = (t * width + x + j0 - pad) * maps
                wbase = (dy * k + j0) * maps
                span = (j1 - j0) * maps
                out_row = flat[base : base + span]
                w_row = wflat[wbase : wbase + span]
                for q in range(span):
                    out_row[q] += w_row[q]
                for xo in range(x + j0 - pad, x + j1 - pad):
                    lo[xo] = min(lo[xo], t)
                    hi[xo] = max(hi[xo], t)
                    inputs[xo] += 1
        for x in range(width):
            t, last = lo[x], hi[x]
            if last < 0:
                continue
            lo[x], hi[x] = steps, -1
            if inputs[x] * per_input + 1e-37 >= threshold:  # else it cannot fire: only clear its currents
                v[:] = 0.0
                while t <= last:
                    top = integrate_and_fire(v, cur[t, x], threshold)
                    t += 1
                    if top > threshold:
                        for m in range(maps):
                            if v[m] == top:
                                spikes[count, 0], spikes[count, 1], spikes[count, 2], spikes[count, 3] = m, y, x, t - 1
                                count += 1
                        break
            inputs[x] = 0
            cur[t : last + 1, x] = 0.0
    return count


@njit(cache=True, nogil=True)
def conv_spikes(offsets: np.ndarray, rows: np.ndarray, wflat: np.ndarray, k: int, maps: int, height: int, width: int,
                threshold: float, spikes: np.ndarray) -> int:
    """A conv layer with inhibition from input events: its spikes (map, row, column, step) into
    ``spikes``, in raster order within each step; returns their count."""
    steps = offsets.shape[0] - 1
    if np.float32(0.0) > threshold:
        return all_fire_at_zero(maps, height, width, spikes)
    v = np.zeros((height, width, maps), np.float32)
    cur = np.zeros((height, width, maps))
    flat = cur.reshape(-1)
    blocked = np.zeros((height, width), np.bool_)
    fired = np.empty(height * width, np.int64)
    top = np.empty(height * width, np.float32)
    count = 0
    for s in range(steps - 1):
        if offsets[s] == offsets[s + 1]:
            continue
        for e in range(offsets[s], offsets[s + 1]):
            add_kernel(flat, height, width, wflat, k, maps, rows[e, 0], rows[e, 1], rows[e, 2])
        for q in range(fire_layer(cur, v, blocked, threshold, fired, top)):
            y, x = fired[q] // width, fired[q] % width
            for m in range(maps):
                if v[y, x, m] == top[q]:
                    spikes[count, 0], spikes[count, 1], spikes[count, 2], spikes[count, 3] = m, y, x, s + 1
                    count += 1
    return count


@njit(cache=True, nogil=True)
def conv_potentials(offsets: np.ndarray, rows: np.ndarray, wflat: np.ndarray, k: int, threshold: float,
                    out: np.ndarray) -> None:
    """The last conv layer: potentials ``out`` (T, maps, H, W) float32 of neurons that integrate at
    every step (with reset) and are not inhibited."""
    steps, maps, height, width = out.shape
    v = np.zeros((height, width, maps), np.float32)
    cur = np.zeros((height, width, maps))
    flat = cur.reshape(-1)
    out[0] = 0.0
    for t in range(1, steps):
        for e in range(offsets[t - 1], offsets[t]):
            add_kernel(flat, height, width, wflat, k, maps, rows[e, 0], rows[e, 1], rows[e, 2])
        for y in range(height):
            for x in range(width):
                integrate_and_fire(v[y, x], cur[y, x], threshold)
                for m in range(maps):
                    out[t, m, y, x] = v[y, x, m]


@njit(cache=True, nogil=True)
def pool_events(offsets: np.ndarray, rows: np.ndarray, kernel: int, stride: int, inhibition: bool, maps: int, height: int,
                width: int, out_offsets: np.ndarray, out_rows: np.ndarray) -> None:
    """A pool layer, events to events: a unit (H × W output) fires at t + 1 when an input of its window
    fired at t; with ``inhibition`` a position fires once, at its earliest step, in the maps reaching it."""
    steps = offsets.shape[0] - 1
    pad = kernel // 2
    grid = np.zeros((steps, maps, height, width), np.bool_)
    first = np.full((maps, height, width), NO_SPIKE, np.int64)
    for s in range(steps - 1):
        for e in range(offsets[s], offsets[s + 1]):
            c, y, x = rows[e, 0], rows[e, 1], rows[e, 2]
            # the units whose window [p * stride - pad, p * stride - pad + kernel) holds (y, x)
            for py in range(max(0, (y + pad - kernel + stride) // stride), min(height, (y + pad) // stride + 1)):
                for px in range(max(0, (x + pad - kernel + stride) // stride), min(width, (x + pad) // stride + 1)):
                    if not inhibition:
                        grid[s + 1, c, py, px] = True
                    elif s < first[c, py, px]:
                        first[c, py, px] = s
    if inhibition:
        for py in range(height):
            for px in range(width):
                best = NO_SPIKE
                for c in range(maps):
                    best = min(best, first[c, py, px])
                for c in range(maps):
                    if best < steps - 1 and first[c, py, px] == best:
                        grid[best + 1, c, py, px] = True
    n = 0
    for s in range(steps):
        out_offsets[s] = n
        for c in range(maps):
            for py in range(height):
                for px in range(width):
                    if grid[s, c, py, px]:
                        out_rows[n, 0], out_rows[n, 1], out_rows[n, 2] = c, py, px
                        n += 1
    out_offsets[steps] = n


# ------------------------------------------------------------------------------ the event-driven forward pass
@njit(cache=True, nogil=True)
def run_images(times: np.ndarray, kinds: np.ndarray, kernels: np.ndarray, strides: np.ndarray, inhibition: np.ndarray,
               maps: np.ndarray, heights: np.ndarray, widths: np.ndarray, wstart: np.ndarray, weights: np.ndarray,
               thresholds: np.ndarray, steps: int, stop: int, out: np.ndarray, record_at: np.ndarray,
               record_times: np.ndarray, record_trains: np.ndarray) -> None:
    """Layers 0 … ``stop`` − 1 of an architecture for images ``times`` (n, H, W) uint8.

    Per layer j: ``kinds`` 0 conv / 1 pool, its kernel, stride, inhibition, output maps × heights ×
    widths, conv weights ``weights[wstart[j]:wstart[j + 1]]``, float32 threshold. The last conv layer,
    when run, writes its potentials into ``out`` (n, T, maps, H, W). ``record_at[j]`` ≥ 0: offset of
    layer j's spikes in ``record_times`` (n, ·) uint8 (layers that fire once: spike times, (maps, H, W))
    or ``record_trains`` (n, ·) bool (others: (T, maps, H, W)); −1: not recorded."""
    n, height, width = times.shape
    total = kinds.shape[0]
    cap = height * width
    for j in range(stop):
        size = maps[j] * heights[j] * widths[j]
        cap = max(cap, size * steps if kinds[j] == 1 and not inhibition[j] else size)
    src_off, dst_off = np.zeros(steps + 1, np.int64), np.zeros(steps + 1, np.int64)
    src, dst = np.zeros((cap, 3), np.int32), np.zeros((cap, 3), np.int32)
    spikes = np.empty((cap, 4), np.int32)
    direct = kinds[0] == 0 and total > 1  # the first conv layer reads the spike-time map itself
    for i in range(n):
        if not direct:
            image_events(times[i], steps, src_off, src)
        for j in range(stop):
            w, th = weights[wstart[j] : wstart[j + 1]], thresholds[j]
            if kinds[j] == 0 and j == total - 1:
                conv_potentials(src_off, src, w, kernels[j], th, out[i])
                break
            if kinds[j] == 0:
                if j == 0 and direct:
                    count = image_conv_spikes(times[i], w, kernels[j], maps[j], th, steps, spikes)
                else:
                    count = conv_spikes(src_off, src, w, kernels[j], maps[j], heights[j], widths[j], th, spikes)
                sort_spikes(spikes, count, steps, maps[j], dst_off, dst)
            else:
                pool_events(src_off, src, kernels[j], strides[j], inhibition[j], maps[j], heights[j], widths[j],
                            dst_off, dst)
            if record_at[j] >= 0:
                plane = heights[j] * widths[j]
                for s in range(steps):
                    for e in range(dst_off[s], dst_off[s + 1]):
                        cell = (dst[e, 0] * heights[j] + dst[e, 1]) * widths[j] + dst[e, 2]
                        if kinds[j] == 0 or inhibition[j]:
                            record_times[i, record_at[j] + cell] = s
                        else:
                            record_trains[i, record_at[j] + s * maps[j] * plane + cell] = True
            src_off, dst_off, src, dst = dst_off, src_off, dst, src


# ------------------------------------------------------------------------------ STDP: one presentation
@njit(cache=True, nogil=True)
def present_image(offsets: np.ndarray, rows: np.ndarray, wt: np.ndarray, height: int, width: int, threshold: float,
                  window: int, max_winners: int, a_plus: float, a_minus: float, out: np.ndarray) -> int:
    """Present one image's input events to a conv layer with inhibition and apply STDP in place to its
    kernels ``wt`` (C, K, K, M) float32; later steps already use the new weights (see :mod:`.stdp.rule`).

    ``out``: a (T, M, H, W) bool array of zeros receives the layer's spikes, or pass a (1, 1, 1, 1)
    one. ``max_winners`` 0: no STDP (a plain forward pass). Returns the number of kernel updates."""
    steps = offsets.shape[0] - 1
    record = out.shape[0] == steps
    threshold = np.float32(threshold)  # compared with float32 potentials in float32, as torch does
    chans, k, maps = wt.shape[0], wt.shape[1], wt.shape[3]
    pad = k // 2
    wflat = np.empty(chans * k * k * maps)  # the scatter layout, kept in step with wt
    for ch in range(chans):
        for i in range(k):
            for j in range(k):
                for m in range(maps):
                    wflat[((ch * k + i) * k + k - 1 - j) * maps + m] = wt[ch, i, j, m]
    v = np.zeros((height, width, maps), np.float32)
    cur = np.zeros((height, width, maps))
    flat = cur.reshape(-1)
    blocked = np.zeros((height, width), np.bool_)
    fired = np.empty(height * width, np.int64)
    top = np.empty(height * width, np.float32)
    pos_off = np.zeros((height, width), np.bool_)  # K = 0 at this position for all maps
    map_off = np.zeros(maps, np.bool_)  # K = 0 in the whole map
    counts = np.zeros((chans, height, width), np.int32)  # input spikes so far
    cand = np.empty((height * width, 3), np.int64)  # row, column, map of positions where STDP may act
    cand_v = np.empty(height * width, np.float32)
    alive = np.empty(height * width, np.bool_)
    win = np.empty((maps, 3), np.int64)
    win_v = np.empty(maps, np.float32)
    updates = 0
    for t in range(1, steps):
        if offsets[t - 1] == offsets[t]:
            continue
        for e in range(offsets[t - 1], offsets[t]):
            counts[rows[e, 0], rows[e, 1], rows[e, 2]] += 1
            add_kernel(flat, height, width, wflat, k, maps, rows[e, 0], rows[e, 1], rows[e, 2])
        ncand = 0
        for q in range(fire_layer(cur, v, blocked, threshold, fired, top)):
            r, c = fired[q] // width, fired[q] % width
            if record:
                for m in range(maps):
                    out[t, m, r, c] = v[r, c, m] == top[q]
            if pos_off[r, c] or max_winners == 0:
                continue
            for m in range(maps):  # valid = S·V·K: every spiking map holds V == top; mxi = the first with K = 1
                if v[r, c, m] == top[q] and not map_off[m]:
                    cand[ncand, 0], cand[ncand, 1], cand[ncand, 2] = r, c, m
                    cand_v[ncand] = top[q]
                    alive[ncand] = True
                    ncand += 1
                    break
        # winners: global max of mxv, first in row-major order (candidates are in row-major order)
        nwin = 0
        for _ in range(max_winners):
            pick = -1
            for q in range(ncand):
                if alive[q] and (pick < 0 or cand_v[q] > cand_v[pick]):
                    pick = q
            if pick < 0:
                break
            win[nwin] = cand[pick]
            win_v[nwin] = cand_v[pick]
            nwin += 1
            for q in range(ncand):
                if alive[q] and (cand[q, 2] == cand[pick, 2] or (
                        abs(cand[q, 0] - cand[pick, 0]) <= window and abs(cand[q, 1] - cand[pick, 1]) <= window)):
                    alive[q] = False
        # STDP on each winner's kernel, with the input spikes of steps 0 .. t - 1
        for a in range(nwin):
            cancelled = not win_v[a] > 0
            for b in range(nwin):
                if abs(win[b, 0] - win[a, 0]) <= window and abs(win[b, 1] - win[a, 1]) <= window and win_v[b] > win_v[a]:
                    cancelled = True
            if cancelled:
                continue
            r0, c0, m = win[a, 0], win[a, 1], win[a, 2]
            for ch in range(chans):
                for i in range(k):
                    for j in range(k):
                        y, x = r0 - pad + i, c0 - pad + j
                        n = np.float64(counts[ch, y, x]) if 0 <= y < height and 0 <= x < width else 0.0
                        w = np.float64(wt[ch, i, j, m])
                        dw = n * a_minus * w * (1.0 - w) + n * a_plus * w * (1.0 - w) - a_minus * w * (1.0 - w)
                        wt[ch, i, j, m] = np.float32(w + dw)
                        wflat[((ch * k + i) * k + k - 1 - j) * maps + m] = wt[ch, i, j, m]
            updates += 1
            pos_off[max(r0 - window, 0) : min(r0 + window, height - 1) + 1,
                    max(c0 - window, 0) : min(c0 + window, width - 1) + 1] = True
            map_off[m] = True
    return updates
