"""Unsupervised STDP learning of conv1, conv2, conv3, layer by layer (naming spec §3).

What one presentation does, for the layer being learned (its layers below are fixed meanwhile):

* all neurons reset; for t = 1 … T − 1 the learning layer integrates the spikes its input emitted at
  step t − 1 with the *current* weights (non-leaky IF, reset of V > th before integrating, float64
  sums stored as float32 potentials, per-position lateral inhibition: only the highest-potential
  map(s) fire, a position fires at most once), exactly as :mod:`.network` does;
* STDP at step t: ``valid = S·V·K`` (K: per (position, map) enable mask, all ones per image).
  ``mxv``/``mxi`` = max/argmax over maps. At most ``winners`` times while ``mxv`` has a non-zero:
  take its global maximum (first row of the row maxima, first column in that row), record a winner
  for map ``mxi`` there, zero ``mxv`` wherever ``mxi`` is that map and in the ±``offset`` window.
  A winner is cancelled if another winner within ±offset has a strictly larger potential (the
  selection makes that impossible, kept for fidelity). Each winner's kernel gets
  ``dw = n·a⁻·w(1−w) + n·a⁺·w(1−w) − a⁻·w(1−w)`` with ``n`` the number of spikes its input neuron
  emitted in steps 0 … t − 1 (so +a⁺·w(1−w) for one spike, −a⁻·w(1−w) for none); then K is cleared
  in the ±offset window for all maps and in the winner's whole map. Later steps of the same image
  already use the new weights.
* after presentation i (0-based, per layer) with ``i % 500 == 0``: ``a⁺ = min(2a⁺, 0.15)``,
  ``a⁻ = 0.75·a⁺``.

The learning layer is simulated event by event in numba (inputs are sparse); the input spikes of
the learning layer (the image's spikes, pool1's or pool2's) are computed once per image with the
vectorised :class:`.network.SpikingNetwork` and reused for every presentation of that image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from numba import njit

from ..data.folders import image_folder
from ..errors import OptionError, RecollectionError
from ..io import write_json
from .encoding import NO_SPIKE, DoGEncoder, spike_train
from .features import encode_files
from .network import (
    POOL_SHAPES,
    SpikingNetwork,
    Thresholds,
    check_shapes,
    first_spikes,
    load_weights,
    pool_spikes,
    random_weights,
    save_weights,
)

Progress = Callable[[int, int, int], None]  # (layer 0..2, presentations done in that layer, its total)
STATE_FILE = "latest.json"
FORMAT = 1


@dataclass(frozen=True)
class StdpConfig:
    """Every constant of STDP learning (defaults: the research code's, spec §3), per conv layer."""

    presentations: tuple[int, int, int] = (3000, 5000, 6000)
    thresholds: tuple[float, float, float] = (10.0, 60.0, 2.0)
    winners: tuple[int, int, int] = (10, 4, 2)  # at most this many STDP winners per step
    offsets: tuple[int, int, int] = (5, 2, 5)  # ± window each winner clears
    a_plus: tuple[float, float, float] = (0.004, 0.0004, 0.0004)
    a_minus: tuple[float, float, float] = (0.003, 0.0003, 0.0003)
    rate_every: int = 500  # after presentation i with i % rate_every == 0 …
    rate_factor: float = 2.0  # … a⁺ = min(rate_factor·a⁺, rate_cap)
    rate_cap: float = 0.15
    minus_ratio: float = 0.75  # … and a⁻ = minus_ratio·a⁺
    time_steps: int = 15
    init_mean: float = 0.8
    init_std: float = 0.01
    shuffle: bool = False  # False: cycle through the images in order; True: a seeded permutation per pass
    batch_size: int = 8  # images per forward pass when computing the fixed lower layers' spikes

    def __post_init__(self) -> None:
        for name in ("presentations", "thresholds", "winners", "offsets", "a_plus", "a_minus"):
            value = tuple(getattr(self, name))
            if len(value) != 3:
                raise OptionError(f"StdpConfig.{name} needs one value per conv layer (3); got {value}")
            object.__setattr__(self, name, value)
        if any(p < 0 for p in self.presentations):
            raise OptionError(f"presentations must be ≥ 0; got {self.presentations}")
        if any(th <= 0 for th in self.thresholds):
            raise OptionError(f"STDP thresholds must be > 0 (winners are picked from S·V); got {self.thresholds}")
        if any(w < 0 for w in self.winners) or any(o < 0 for o in self.offsets):
            raise OptionError("winners and offsets must be ≥ 0")
        if self.rate_every < 1 or self.time_steps < 2:
            raise OptionError("rate_every must be ≥ 1 and time_steps ≥ 2")

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def network_thresholds(self) -> Thresholds:
        return Thresholds(*self.thresholds)

    def next_rates(self, index: int, a_plus: float, a_minus: float) -> tuple[float, float]:
        """Rates after presentation ``index`` (0-based) of a layer."""
        if index % self.rate_every == 0:
            a_plus = min(self.rate_factor * a_plus, self.rate_cap)
            a_minus = self.minus_ratio * a_plus
        return a_plus, a_minus


# ---------------------------------------------------------------- the learning layer, one image


@njit(cache=True)
def _present(offsets, events, wt, height, width, threshold, window, max_winners, a_plus, a_minus, out):
    """Present one image to the learning layer and apply STDP in place.

    offsets (T + 1,) int64: events[offsets[s]:offsets[s + 1]] are the input spikes of step s, as rows
    (channel, y, x) int32. wt (C, K, K, M) float32: the kernels, updated in place. ``out``: a
    (T, M, H, W) bool array of zeros receives the layer's spikes (after inhibition), or pass a
    (1, 1, 1, 1) one to skip recording. ``max_winners`` 0: no STDP (a plain forward pass).
    Returns the number of kernel updates.
    """
    steps = offsets.shape[0] - 1
    record = out.shape[0] == steps
    threshold = np.float32(threshold)  # compared with float32 potentials in float32, as torch does
    chans, k, maps = wt.shape[0], wt.shape[1], wt.shape[3]
    pad = k // 2
    v = np.zeros((height, width, maps), np.float32)
    cur = np.zeros((height, width, maps), np.float64)
    blocked = np.zeros((height, width), np.bool_)  # the position has fired: no later spike there
    pos_off = np.zeros((height, width), np.bool_)  # K = 0 at this position for all maps
    map_off = np.zeros(maps, np.bool_)  # K = 0 in the whole map
    counts = np.zeros((chans, height, width), np.int32)  # input spikes so far
    cand_v = np.empty(height * width, np.float32)
    cand_r = np.empty(height * width, np.int64)
    cand_c = np.empty(height * width, np.int64)
    cand_m = np.empty(height * width, np.int64)
    alive = np.empty(height * width, np.bool_)
    win_v = np.empty(maps, np.float32)
    win_r = np.empty(maps, np.int64)
    win_c = np.empty(maps, np.int64)
    win_m = np.empty(maps, np.int64)
    updates = 0
    for t in range(1, steps):
        # input current of step t: the spikes of step t - 1 through the current kernels
        for e in range(offsets[t - 1], offsets[t]):
            ch, y, x = events[e, 0], events[e, 1], events[e, 2]
            counts[ch, y, x] += 1
            for i in range(k):
                r = y + pad - i
                if r < 0 or r >= height:
                    continue
                for j in range(k):
                    c = x + pad - j
                    if c < 0 or c >= width or blocked[r, c]:
                        continue
                    for m in range(maps):
                        cur[r, c, m] += wt[ch, i, j, m]
        # integrate and fire with lateral inhibition; collect positions where STDP may act
        ncand = 0
        for r in range(height):
            for c in range(width):
                if blocked[r, c]:
                    continue
                best = -np.inf
                fire = False
                for m in range(maps):
                    vm = v[r, c, m]
                    if vm > threshold:
                        vm = np.float32(0.0)
                    vm = np.float32(np.float64(vm) + cur[r, c, m])
                    cur[r, c, m] = 0.0
                    v[r, c, m] = vm
                    if vm > threshold:
                        fire = True
                        if vm > best:
                            best = vm
                if not fire:
                    continue
                blocked[r, c] = True
                if record:
                    for m in range(maps):
                        if v[r, c, m] == best:
                            out[t, m, r, c] = True
                if pos_off[r, c] or max_winners == 0:
                    continue
                # valid = S·V·K: every spiking map holds V == best; mxi = the first with K = 1
                for m in range(maps):
                    if v[r, c, m] == best and not map_off[m]:
                        cand_v[ncand] = best
                        cand_r[ncand] = r
                        cand_c[ncand] = c
                        cand_m[ncand] = m
                        alive[ncand] = True
                        ncand += 1
                        break
        if ncand == 0:
            continue
        # winners: global max of mxv, first in row-major order (candidates are in row-major order)
        nwin = 0
        for _ in range(max_winners):
            pick = -1
            for q in range(ncand):
                if alive[q] and (pick < 0 or cand_v[q] > cand_v[pick]):
                    pick = q
            if pick < 0:
                break
            pr, pc, pm = cand_r[pick], cand_c[pick], cand_m[pick]
            win_v[nwin] = cand_v[pick]
            win_r[nwin] = pr
            win_c[nwin] = pc
            win_m[nwin] = pm
            nwin += 1
            for q in range(ncand):
                if alive[q] and (
                    cand_m[q] == pm or (abs(cand_r[q] - pr) <= window and abs(cand_c[q] - pc) <= window)
                ):
                    alive[q] = False
        # STDP on each winner's kernel, with the input spikes of steps 0 .. t - 1
        for a in range(nwin):
            cancelled = False
            for b in range(nwin):
                if (
                    abs(win_r[b] - win_r[a]) <= window
                    and abs(win_c[b] - win_c[a]) <= window
                    and win_v[b] > win_v[a]
                ):
                    cancelled = True
            if cancelled or not win_v[a] > 0:
                continue
            r0, c0, m = win_r[a], win_c[a], win_m[a]
            for ch in range(chans):
                for i in range(k):
                    y = r0 - pad + i
                    for j in range(k):
                        x = c0 - pad + j
                        n = 0.0
                        if 0 <= y < height and 0 <= x < width:
                            n = np.float64(counts[ch, y, x])
                        w = np.float64(wt[ch, i, j, m])
                        dw = n * a_minus * w * (1.0 - w) + n * a_plus * w * (1.0 - w) - a_minus * w * (1.0 - w)
                        wt[ch, i, j, m] = np.float32(w + dw)
            updates += 1
            for r in range(max(r0 - window, 0), min(r0 + window, height - 1) + 1):
                for c in range(max(c0 - window, 0), min(c0 + window, width - 1) + 1):
                    pos_off[r, c] = True
            map_off[m] = True
    return updates


def present(events: tuple[np.ndarray, np.ndarray], weight: np.ndarray, shape: tuple[int, int], threshold: float,
            window: int, winners: int, a_plus: float, a_minus: float) -> int:
    """One presentation (see :func:`_present`); ``weight`` (C, K, K, M) float32 is updated in place."""
    offsets, rows = events
    return int(_present(offsets, rows, weight, shape[0], shape[1], float(threshold), int(window), int(winners),
                        float(a_plus), float(a_minus), _NO_RECORD))


_NO_RECORD = np.zeros((1, 1, 1, 1), np.bool_)


def conv_spikes(events: tuple[np.ndarray, np.ndarray], weight: np.ndarray, shape: tuple[int, int],
                threshold: float) -> np.ndarray:
    """A conv layer's spikes (T, M, H, W) bool for one image, event-driven, with the semantics of
    :mod:`.network` (IF, inhibition); ``weight`` (C, K, K, M) float32 is left unchanged."""
    offsets, rows = events
    out = np.zeros((len(offsets) - 1, weight.shape[3]) + tuple(shape), np.bool_)
    _present(offsets, rows, weight, shape[0], shape[1], float(threshold), 0, 0, 0.0, 0.0, out)
    return out


# ---------------------------------------------------------------- input spikes of the learning layer


def spikes_to_events(spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, C, H, W) bool → (offsets (T + 1,) int64, rows (n, 3) int32 of channel, y, x ordered by step)."""
    t, c, y, x = np.nonzero(spikes)
    offsets = np.zeros(spikes.shape[0] + 1, np.int64)
    offsets[1:] = np.cumsum(np.bincount(t, minlength=spikes.shape[0]))
    return offsets, np.ascontiguousarray(np.stack([c, y, x], axis=1).astype(np.int32))


def times_to_events(times: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A spike-time map (H, W) uint8 (255 = silent) → the input layer's events."""
    times = np.asarray(times)
    y, x = np.nonzero(times < steps)
    s = times[y, x].astype(np.int64)
    order = np.lexsort((x, y, s))
    offsets = np.zeros(steps + 1, np.int64)
    offsets[1:] = np.cumsum(np.bincount(s, minlength=steps))
    rows = np.stack([np.zeros_like(y), y, x], axis=1)[order].astype(np.int32)
    return offsets, np.ascontiguousarray(rows)


@torch.no_grad()
def layer_inputs(weights: list[torch.Tensor], times: np.ndarray, layer: int, config: StdpConfig,
                 index: Sequence[int] | None = None, engine: str = "event") -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Events of the spikes entering conv ``layer`` (0, 1, 2) for images ``index`` (default: all),
    computed with the fixed layers below and the learning thresholds. ``engine``: "event" (numba,
    event-driven conv layers, pools from :mod:`.network`) or "torch" (:class:`.SpikingNetwork`'s
    vectorised forward; same spikes, much slower for conv2)."""
    index = range(len(times)) if index is None else sorted({int(i) for i in index})
    if layer == 0:
        return {i: times_to_events(times[i], config.time_steps) for i in index}
    out, index = {}, list(index)
    if engine == "torch":
        network = SpikingNetwork([w.detach().float() for w in weights])
        thresholds = config.network_thresholds()
        for start in range(0, len(index), config.batch_size):
            chunk = index[start : start + config.batch_size]
            batch = torch.from_numpy(np.ascontiguousarray(times[chunk]))
            trail = network(spike_train(batch, config.time_steps), thresholds, record=True).spikes
            for i, s in zip(chunk, trail[2 * layer].numpy()):  # pool1 for conv2, pool2 for conv3
                out[i] = spikes_to_events(s)
        return out
    if engine != "event":
        raise OptionError(f"engine is 'event' or 'torch'; got {engine!r}")
    kernels = [np.ascontiguousarray(w.detach().cpu().numpy().transpose(1, 2, 3, 0), dtype=np.float32)
               for w in weights[:layer]]
    for i in index:
        events = times_to_events(times[i], config.time_steps)
        for below in range(layer):
            s = conv_spikes(events, kernels[below], _input_shape(times.shape[1:], below), config.thresholds[below])
            kernel, stride = POOL_SHAPES[below]
            s = pool_spikes(torch.from_numpy(s).unsqueeze(0), kernel, stride)
            if below == 0:
                s = first_spikes(s, None)
            events = spikes_to_events(s[0].numpy())
        out[i] = events
    return out


# ---------------------------------------------------------------- images, order, checkpoints


def spike_time_maps(images: str | os.PathLike | Sequence | np.ndarray | torch.Tensor,
                    encoder: DoGEncoder = DoGEncoder()) -> np.ndarray:
    """(N, H, W) uint8 spike-time maps from an image folder (classes in sorted order, files sorted
    within each class: the research code's TrainingSet order) or from maps given directly."""
    if isinstance(images, (str, os.PathLike)):
        files, _, _ = image_folder(images)
        return encode_files(files, encoder)
    if isinstance(images, torch.Tensor):
        images = images.cpu().numpy()
    maps = np.stack([np.asarray(m) for m in images]) if not isinstance(images, np.ndarray) else images
    if maps.ndim != 3 or len(maps) == 0:
        raise OptionError(f"STDP needs a non-empty stack of spike-time maps (N, H, W); got shape {maps.shape}")
    if maps.dtype != np.uint8:
        if maps.min() < 0 or maps.max() > NO_SPIKE:
            raise OptionError("spike-time maps hold steps 0..254 (255 = silent)")
        maps = maps.astype(np.uint8)
    return np.ascontiguousarray(maps)


def presentation_order(count: int, images: int, layer: int, seed: int, shuffle: bool) -> np.ndarray:
    """Image index of every presentation of a layer: cycle through the images, optionally in a seeded
    permutation per pass (``numpy.random.default_rng([seed, layer, pass])``)."""
    if not shuffle:
        return np.arange(count) % images
    passes = -(-count // images)
    order = [np.random.default_rng([seed, layer, p]).permutation(images) for p in range(passes)]
    return np.concatenate(order)[:count] if order else np.zeros(0, np.int64)


def _weights_digest(weights: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for w in weights:
        h.update(w.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def _images_digest(times: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(times).tobytes()).hexdigest()


@dataclass
class TrainingState:
    """Where a training run stands: the layer being learned (3: done), presentations done in it, the
    rates of every layer. Nothing else is random: the initial weights come from ``random_weights(seed)``
    and a shuffled order from ``default_rng([seed, layer, pass])``."""

    layer: int
    done: int
    a_plus: list[float]
    a_minus: list[float]
    seed: int
    images: str  # digest of the spike-time maps
    config: dict
    weights: str = ""  # checkpoint sub-folder
    weights_sha256: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["format"] = FORMAT
        d["rng"] = {"init": f"random_weights({self.seed})", "order": (
            f"numpy.random.default_rng([{self.seed}, layer, pass]).permutation(images)"
            if self.config.get("shuffle") else "cyclic, in the given order")}
        return d


def _checkpoint_name(state: TrainingState, digest: str) -> str:
    return ("final" if state.layer >= 3 else f"layer{state.layer + 1}-{state.done:06d}") + f"-{digest[:12]}"


def _finished_layer(name: str, presentations: Sequence[int]) -> bool:
    parts = name.split("-")
    try:
        return len(parts) == 3 and int(parts[1]) == presentations[int(parts[0][5:]) - 1]
    except (ValueError, IndexError):
        return False


def write_checkpoint(directory: str | os.PathLike, state: TrainingState, weights: list[torch.Tensor]) -> Path:
    """Atomically: the weights (``save_weights``) into a fresh sub-folder named by state and weight
    digest, renamed into place, then ``latest.json`` replaced. Keeps the newest checkpoint, the end
    of every finished layer and the final weights; removes older intermediate ones."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digest = _weights_digest(weights)
    name = _checkpoint_name(state, digest)
    target = directory / name
    if not target.exists():  # same name ⇒ same state and same weights: nothing to rewrite
        tmp = directory / f".tmp-{name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        save_weights(weights, tmp)
        os.replace(tmp, target)
    state.weights, state.weights_sha256 = name, digest
    write_json(directory / STATE_FILE, state.to_json(), indent=1)
    presentations = state.config["presentations"]
    for old in directory.iterdir():
        keep = old.name == name or _finished_layer(old.name, presentations)
        if old.is_dir() and old.name.startswith("layer") and not keep:
            shutil.rmtree(old, ignore_errors=True)
    return target


def read_state(directory: str | os.PathLike) -> dict | None:
    path = Path(directory) / STATE_FILE
    if not path.exists():
        return None
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise RecollectionError(f"{path} is unreadable ({exc}); delete it to start afresh") from None


def load_checkpoint(directory: str | os.PathLike) -> tuple[TrainingState, list[torch.Tensor]] | None:
    """The state and weights ``latest.json`` names, checked against their digest; None if there is none."""
    directory = Path(directory)
    data = read_state(directory)
    if data is None:
        return None
    if data.get("format") != FORMAT:
        raise RecollectionError(f"{directory / STATE_FILE} has format {data.get('format')}; expected {FORMAT}")
    weights = load_weights(directory / data["weights"])
    if _weights_digest(weights) != data["weights_sha256"]:
        raise RecollectionError(f"{directory / data['weights']} does not match the digest in {STATE_FILE}")
    fields = {k: data[k] for k in ("layer", "done", "a_plus", "a_minus", "seed", "images", "config", "weights",
                                   "weights_sha256")}
    return TrainingState(**fields), weights


# ---------------------------------------------------------------- training


def train_stdp(
    images: str | os.PathLike | Sequence | np.ndarray | torch.Tensor,
    seed: int = 0,
    presentations: Sequence[int] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    progress: Progress | None = None,
    config: StdpConfig = StdpConfig(),
    encoder: DoGEncoder = DoGEncoder(),
    weights: list[torch.Tensor] | None = None,
    layers: Sequence[int] = (0, 1, 2),
) -> list[torch.Tensor]:
    """Learn conv1, conv2, conv3 by STDP, one after the other; returns the conv weights (maps, in, k, k).

    ``images``: an image-folder root (classes in sorted order, sorted files within each: the research
    code cycled through the 400-image TrainingSet this way) or spike-time maps (N, H, W), encoded once.
    ``presentations`` overrides ``config.presentations`` (default 3000 / 5000 / 6000). ``weights``:
    start from these instead of ``random_weights(seed)``; ``layers``: which conv layers (0-based) learn.
    With ``checkpoint_dir``, a checkpoint is written every ``checkpoint_every`` presentations, at the
    end of each layer and at the end; ``resume=True`` continues from the latest one (bit-identical to
    a run never interrupted) or starts afresh when there is none. ``progress(layer, done, total)`` is
    called after every presentation (after its checkpoint, if one is due).
    """
    if presentations is not None:
        config = replace(config, presentations=tuple(int(p) for p in presentations))
    if checkpoint_every < 1:
        raise OptionError(f"checkpoint_every must be ≥ 1; got {checkpoint_every}")
    layers = sorted({int(i) for i in layers})
    if any(i not in (0, 1, 2) for i in layers):
        raise OptionError(f"layers are 0 (conv1), 1 (conv2), 2 (conv3); got {layers}")
    times = spike_time_maps(images, encoder)
    digest = _images_digest(times)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None

    state, current = None, None
    if resume and directory is not None:
        loaded = load_checkpoint(directory)
        if loaded is not None:
            state, current = loaded
            if state.seed != seed or state.images != digest or state.config != config.as_dict():
                raise RecollectionError(
                    f"the checkpoint in {directory} belongs to another run (seed, images or StdpConfig differ)")
    if state is None:
        current = [w.detach().to(torch.float32).clone() for w in weights] if weights is not None else (
            random_weights(seed, config.init_mean, config.init_std))
        check_shapes(current)
        state = TrainingState(0, 0, list(config.a_plus), list(config.a_minus), seed, digest, config.as_dict())

    while state.layer < 3:
        layer = state.layer
        total = config.presentations[layer]
        if layer not in layers or state.done >= total:
            state.layer, state.done = layer + 1, 0
            continue
        order = presentation_order(total, len(times), layer, seed, config.shuffle)
        inputs = layer_inputs(current, times, layer, config, np.unique(order[state.done :]))
        shape = _input_shape(times.shape[1:], layer)
        wt = np.ascontiguousarray(current[layer].numpy().transpose(1, 2, 3, 0), dtype=np.float32)
        a_plus, a_minus = state.a_plus[layer], state.a_minus[layer]
        for i in range(state.done, total):
            present(inputs[int(order[i])], wt, shape, config.thresholds[layer], config.offsets[layer],
                    config.winners[layer], a_plus, a_minus)
            a_plus, a_minus = config.next_rates(i, a_plus, a_minus)
            state.done = i + 1
            state.a_plus[layer], state.a_minus[layer] = a_plus, a_minus
            if directory is not None and ((i + 1) % checkpoint_every == 0 or i + 1 == total):
                current[layer] = torch.from_numpy(wt.transpose(3, 0, 1, 2).copy())
                write_checkpoint(directory, state, current)
            if progress is not None:
                progress(layer, i + 1, total)
        current[layer] = torch.from_numpy(wt.transpose(3, 0, 1, 2).copy())
        state.layer, state.done = layer + 1, 0
    if directory is not None:
        write_checkpoint(directory, state, current)
    return current


def _input_shape(image_shape: tuple[int, int], layer: int) -> tuple[int, int]:
    """H × W of the input (= output, stride 1 'same') of conv ``layer``."""
    h, w = image_shape
    for kernel, stride in POOL_SHAPES[:layer]:
        pad = kernel // 2
        h = (h + 2 * pad - kernel) // stride + 1
        w = (w + 2 * pad - kernel) // stride + 1
    return h, w
