"""Benchmark the spiking network's forward pass on the 796 Caltech face/motorbike images
(TrainingSet + TestingSet): DoG encoding, the dense torch path (``SpikingNetwork.forward``), the
event-driven numba path (``recollection.snn.events``) and a plain loop-over-time NumPy version; and
STDP learning's costs: one presentation per conv layer, the learning layer's input events.

    cd /work/main && PYTHONPATH=src python benchmarks/bench_snn.py            # dense path on all 796
    PYTHONPATH=src python benchmarks/bench_snn.py --quick    # dense path on 64 images, extrapolated

Prints a Markdown table and writes benchmarks/results_snn.json. Every path's potentials are compared,
bit for bit, with the dense path's on the images both ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from recollection.snn.encoding import DoGEncoder, spike_train  # noqa: E402
from recollection.snn.events import forward_events  # noqa: E402
from recollection.snn.features import encode_files  # noqa: E402
from recollection.snn.network import (  # noqa: E402
    POOL_SHAPES,
    SpikingNetwork,
    Thresholds,
    load_weights,
)

SHARED = Path(os.environ.get("RECOLLECTION_SHARED", HERE.parent.parent / "shared"))
DATA = SHARED / "data" / "caltech_face_motor"
WEIGHTS = SHARED / "data" / "sdnn_weights" / "run61"
TARGET_TOTAL_S = 20.0  # encoding + network for the 796 images, 2 cores


# ---------------------------------------------------------------------------- the NumPy loop baseline
def _correlate(spikes: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Input current (M, H, W) float64 of one step's spikes (C, H, W): 'same' correlation, the terms
    added one kernel tap at a time in (map, row, column) order, as torch's float64 conv2d adds them."""
    c_in, h, w = spikes.shape
    k = weight.shape[-1]
    pad = k // 2
    x = np.pad(spikes.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    w64 = weight.astype(np.float64)
    out = np.zeros((weight.shape[0], h, w))
    for c in range(c_in):
        for dy in range(k):
            for dx in range(k):
                out += w64[:, c, dy, dx, None, None] * x[c, dy : dy + h, dx : dx + w]
    return out


def _pool(spikes: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """A unit fires if any input of its window (padding kernel // 2) fired."""
    c, h, w = spikes.shape
    pad = kernel // 2
    x = np.pad(spikes, ((0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1
    out = np.zeros((c, ho, wo), bool)
    for oy in range(ho):
        for ox in range(wo):
            out[:, oy, ox] = x[:, oy * stride : oy * stride + kernel, ox * stride : ox * stride + kernel].any(axis=(1, 2))
    return out


def _inhibit(candidates: np.ndarray, potentials: np.ndarray | None, fired: np.ndarray) -> np.ndarray:
    """Per position only the highest candidates fire (all, without potentials), once ever."""
    if potentials is not None:
        best = np.where(candidates, potentials, -np.inf).max(axis=0)
        candidates = candidates & (potentials == best)
    candidates = candidates & ~fired
    fired |= candidates.any(axis=0)
    return candidates


def _integrate(v: np.ndarray, current: np.ndarray, threshold: np.float32) -> np.ndarray:
    v = np.where(v > threshold, np.float32(0), v)
    return (v.astype(np.float64) + current).astype(np.float32)


def numpy_loop(weights: list[np.ndarray], times: np.ndarray, thresholds: Thresholds, steps: int = 15) -> np.ndarray:
    """The research code's way: for every step, every layer reads the previous layer's spikes of the
    step before. Returns conv3's potentials (T, maps, H, W) float32 for one spike-time map (H, W)."""
    th1, th2, th3 = (np.float32(t) for t in (thresholds.conv1, thresholds.conv2, thresholds.conv3))
    (k1, s1), (k2, s2) = POOL_SHAPES
    h, w = times.shape
    inputs = times[None] == np.arange(steps)[:, None, None]  # (T, H, W)
    v1 = np.zeros((weights[0].shape[0], h, w), np.float32)
    fired1 = np.zeros((h, w), bool)
    shape1 = _pool(np.zeros((1, h, w), bool), k1, s1).shape[1:]
    v2 = np.zeros((weights[1].shape[0],) + shape1, np.float32)
    fired_p1 = np.zeros(shape1, bool)
    fired2 = np.zeros(shape1, bool)
    shape2 = _pool(np.zeros((1,) + shape1, bool), k2, s2).shape[1:]
    v3 = np.zeros((weights[2].shape[0],) + shape2, np.float32)
    potentials = np.zeros((steps,) + v3.shape, np.float32)
    # every layer's spikes at step 0 (none, unless a threshold is below 0)
    c1 = _inhibit(v1 > th1, v1, fired1)
    p1 = np.zeros((v1.shape[0],) + shape1, bool)
    c2 = _inhibit(v2 > th2, v2, fired2)
    p2 = np.zeros((v2.shape[0],) + shape2, bool)
    for t in range(1, steps):
        v1 = _integrate(v1, _correlate(inputs[t - 1][None], weights[0]), th1)
        new_c1 = _inhibit(v1 > th1, v1, fired1)
        new_p1 = _inhibit(_pool(c1, k1, s1), None, fired_p1)
        v2 = _integrate(v2, _correlate(p1, weights[1]), th2)
        new_c2 = _inhibit(v2 > th2, v2, fired2)
        new_p2 = _pool(c2, k2, s2)
        v3 = _integrate(v3, _correlate(p2, weights[2]), th3)
        potentials[t] = v3
        c1, p1, c2, p2 = new_c1, new_p1, new_c2, new_p2
    return potentials


# ---------------------------------------------------------------------------- the dense reference
@torch.no_grad()
def dense_path(network: SpikingNetwork, times: np.ndarray, thresholds: Thresholds, batch_size: int = 8) -> np.ndarray:
    """``SpikingNetwork.forward`` (time-batched float64 convolutions) in batches, on the CPU.
    (Called directly: ``features.run_counted`` may itself use the events path on the CPU.)"""
    chunks = [network(spike_train(torch.from_numpy(times[i : i + batch_size]), 15), thresholds).potentials.numpy()
              for i in range(0, len(times), batch_size)]
    return np.concatenate(chunks)


# ---------------------------------------------------------------------------- STDP
def stdp_costs(times: np.ndarray, repeats: int = 3) -> dict:
    """Milliseconds per STDP presentation of each conv layer (``stdp.present``: random initial weights,
    the starting rates, the spec's thresholds, winners and windows; best of ``repeats`` passes over the
    images, each from the same weights) and per image for the learning layer's input events
    (``stdp.layer_inputs``, the lower layers' spikes). Single-threaded."""
    from recollection.snn.network import random_weights
    from recollection.snn.stdp import StdpConfig, layer_inputs, present

    config, weights = StdpConfig(), random_weights(0)
    shape, out = times.shape[1:], {}
    for layer in range(3):
        t = time.perf_counter()
        inputs = layer_inputs(weights, times, layer, config)
        out[f"inputs_conv{layer + 1}"] = 1e3 * (time.perf_counter() - t) / len(times)
        start = np.ascontiguousarray(weights[layer].numpy().transpose(1, 2, 3, 0))
        args = (shape, config.thresholds[layer], config.offsets[layer], config.winners[layer],
                config.a_plus[layer], config.a_minus[layer])
        present(inputs[0], start.copy(), *args)  # compiled before timing
        runs = []
        for _ in range(repeats):
            wt = start.copy()
            t = time.perf_counter()
            for i in range(len(times)):
                present(inputs[i], wt, *args)
            runs.append(time.perf_counter() - t)
        out[f"present_conv{layer + 1}"] = 1e3 * min(runs) / len(times)
        if layer < 2:
            kernel, stride = POOL_SHAPES[layer]
            shape = tuple((n + 2 * (kernel // 2) - kernel) // stride + 1 for n in shape)
    return out


# ---------------------------------------------------------------------------- measuring
class Load:
    """Share of the machine's CPU time that other processes used while we ran."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return None
        t = os.times()
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"), t.user + t.system, time.perf_counter()

    def others_share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        busy, ours, wall = (e - s for e, s in zip(end, self.start))
        return max(0.0, (busy - ours) / (wall * (os.cpu_count() or 1)))


def compile_times(threads: int) -> dict:
    """JIT compile time of the first call in a fresh process: with an empty numba cache, then with
    the cache the first run wrote (NUMBA_CACHE_DIR points both at a temporary folder)."""
    code = (
        "import time, numpy as np, torch; torch.set_num_threads(%d)\n"
        "from recollection.snn.events import forward_events\n"
        "from recollection.snn.network import SpikingNetwork\n"
        "net = SpikingNetwork(seed=0); x = np.full((1, 40, 40), 255, np.uint8); x[0, 10:30, 10:30] = 3\n"
        "t = time.perf_counter(); forward_events(net, x); a = time.perf_counter() - t\n"
        "t = time.perf_counter(); forward_events(net, x); b = time.perf_counter() - t\n"
        "print(a, b)\n" % threads
    )
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(HERE.parent / "src"))
        for name in ("cold_cache_s", "warm_cache_s"):
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            first, second = map(float, res.stdout.split())
            out[name] = first - second
    return out


def caltech_files() -> list[Path]:
    files = sorted(p for split in ("TrainingSet", "TestingSet") for cls in ("Face", "Motor")
                   for p in (DATA / split / cls).glob("*.jpg"))
    if not files:
        sys.exit(f"no images under {DATA}/{{TrainingSet,TestingSet}}/{{Face,Motor}}: set RECOLLECTION_SHARED")
    return files


def identical(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per image: are the float32 potentials the same bits?"""
    return (a.view(np.uint32) == b.view(np.uint32)).reshape(len(a), -1).all(axis=1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="dense path on --dense-images only, extrapolated")
    ap.add_argument("--dense-images", type=int, default=64, help="images for the dense path with --quick")
    ap.add_argument("--loop-images", type=int, default=None, help="images for the NumPy loop (16; 4 with --quick)")
    ap.add_argument("--thresholds", default="10,50,1e5", help="conv1,conv2,conv3 (default 10,50,1e5)")
    ap.add_argument("--weights", type=Path, default=WEIGHTS, help="research-layout weights (default run61)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="runs of the events path over all images")
    ap.add_argument("--stdp-images", type=int, default=100, help="images for the STDP costs (0: skip them)")
    ap.add_argument("--out", type=Path, default=HERE / "results_snn.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    thresholds = Thresholds(*(float(x) for x in args.thresholds.split(",")))
    loop_images = args.loop_images if args.loop_images is not None else (4 if args.quick else 16)
    network = SpikingNetwork(load_weights(args.weights)) if args.weights.is_dir() else SpikingNetwork(seed=0)
    files = caltech_files()
    n = len(files)
    load = Load()

    print("numba compile times (fresh processes) ...", flush=True)
    compiles = compile_times(args.threads)
    t = time.perf_counter()
    forward_events(network, np.full((1, 160, 250), 255, np.uint8), thresholds, workers=args.threads)
    first_call = time.perf_counter() - t  # in this process, with the in-tree cache as it stands

    print(f"encoding {n} images ...", flush=True)
    t = time.perf_counter()
    times = encode_files(files, DoGEncoder(), workers=args.threads)
    encode_s = time.perf_counter() - t

    print("events path ...", flush=True)
    runs, events = [], None
    for _ in range(args.repeats):
        t = time.perf_counter()
        events = forward_events(network, times, thresholds, workers=args.threads)
        runs.append(time.perf_counter() - t)
    events_s = statistics.median(runs)
    t = time.perf_counter()
    forward_events(network, times, thresholds, workers=1)
    events_1t_s = time.perf_counter() - t

    dense_n = min(n, args.dense_images) if args.quick else n
    dense_idx = np.linspace(0, n - 1, dense_n).round().astype(int)
    print(f"dense path on {dense_n} images ...", flush=True)
    t = time.perf_counter()
    dense = dense_path(network, times[dense_idx], thresholds)
    dense_s = time.perf_counter() - t
    # the events path on the same images, timed right after (same machine load)
    t = time.perf_counter()
    forward_events(network, times[dense_idx], thresholds, workers=args.threads)
    events_same_s = time.perf_counter() - t
    same = identical(events[dense_idx], dense)

    loop_idx = dense_idx[np.linspace(0, dense_n - 1, min(loop_images, dense_n)).round().astype(int)]
    print(f"NumPy loop on {len(loop_idx)} images ...", flush=True)
    weights = [w.numpy() for w in network.weights]
    t = time.perf_counter()
    loop = np.stack([numpy_loop(weights, times[i], thresholds) for i in loop_idx])
    loop_s = time.perf_counter() - t
    loop_same = identical(loop, events[loop_idx])
    stdp_idx = np.linspace(0, n - 1, min(args.stdp_images, n)).round().astype(int)
    if len(stdp_idx):
        print(f"STDP on {len(stdp_idx)} images ...", flush=True)
        torch.set_num_threads(1)
        stdp = stdp_costs(times[stdp_idx])
        torch.set_num_threads(args.threads)
    others = load.others_share()

    per = {  # ms per image
        "encoding": 1e3 * encode_s / n,
        "dense": 1e3 * dense_s / dense_n,
        "events": 1e3 * events_s / n,
        "events_1_thread": 1e3 * events_1t_s / n,
        "numpy_loop": 1e3 * loop_s / len(loop_idx),
    }
    rows = [
        ("DoG encoding (threads)", n, encode_s, per["encoding"], ""),
        ("dense torch path (`SpikingNetwork.forward`, batch 8)", dense_n, dense_s, per["dense"],
         f"{per['dense'] / per['events']:.0f}× slower than events"),
        ("events path (`forward_events`, numba)", n, events_s, per["events"],
         f"median of {args.repeats}; on the dense path's images right after it: "
         f"{1e3 * events_same_s / dense_n:.2f} ms/image"),
        ("events path, 1 thread", n, events_1t_s, per["events_1_thread"], ""),
        ("NumPy loop over time (1 thread)", len(loop_idx), loop_s, per["numpy_loop"],
         f"{per['numpy_loop'] / per['events']:.0f}× slower than events"),
    ]
    total = encode_s + events_s
    print()
    print(f"Spiking network forward pass, {n} Caltech images (160 × 250, 15 steps), thresholds "
          f"{thresholds.conv1:g}/{thresholds.conv2:g}/{thresholds.conv3:g}, {args.threads} threads")
    print()
    print("| path | images timed | time for all 796 | ms / image | note |")
    print("|---|---|---|---|---|")
    for name, count, seconds, ms, note in rows:
        extrapolated = ms * n / 1e3
        star = "" if count == n else " (extrapolated)"
        print(f"| {name} | {count} | {extrapolated:.2f} s{star} | {ms:.2f} | {note} |")
    print()
    print(f"| ratio | value |\n|---|---|\n| NumPy loop / events | {per['numpy_loop'] / per['events']:.0f}× |\n"
          f"| dense / events | {per['dense'] / per['events']:.0f}× |\n"
          f"| encoding + events, all {n} images | {total:.2f} s (target ≤ {TARGET_TOTAL_S:g} s: "
          f"{'met' if total <= TARGET_TOTAL_S else 'NOT met'}) |")
    if len(stdp_idx):
        print()
        print(f"STDP, {len(stdp_idx)} images, random initial weights, 1 thread: ms per presentation / per image")
        print()
        print("| conv layer | one presentation (`present`) | its input events (`layer_inputs`) |\n|---|---|---|")
        for layer in (1, 2, 3):
            print(f"| conv{layer} | {stdp[f'present_conv{layer}']:.3f} | {stdp[f'inputs_conv{layer}']:.3f} |")
    print()
    print(f"bit-identical potentials: events vs dense {int(same.sum())}/{dense_n} images; "
          f"NumPy loop vs events {int(loop_same.sum())}/{len(loop_idx)} images")
    print(f"numba first call: {compiles['cold_cache_s']:.2f} s with an empty cache (compilation), "
          f"{compiles['warm_cache_s']:.2f} s from the cache; in this process {first_call:.2f} s")
    if others is not None:
        print(f"other processes used {100 * others:.0f} % of the machine's CPU time during the run"
              + (" — timings are inflated, rerun on a quieter machine" if others > 0.1 else ""))

    result = {
        "environment": {
            "python": platform.python_version(), "torch": torch.__version__, "numba": numba.__version__,
            "numpy": np.__version__, "cpus": os.cpu_count(), "threads": args.threads, "machine": platform.machine(),
            "others_cpu_share": others,
        },
        "quick": args.quick, "images": n, "thresholds": thresholds.as_dict(), "weights": str(args.weights),
        "seconds": {"encoding": encode_s, "dense": dense_s, "events_runs": runs, "events": events_s,
                    "events_1_thread": events_1t_s, "events_on_dense_images": events_same_s, "numpy_loop": loop_s},
        "images_timed": {"encoding": n, "dense": dense_n, "events": n, "numpy_loop": len(loop_idx)},
        "ms_per_image": per,
        "ratios": {"numpy_loop_over_events": per["numpy_loop"] / per["events"],
                   "dense_over_events": per["dense"] / per["events"]},
        "encoding_plus_events_s": total, "target_total_s": TARGET_TOTAL_S, "target_met": total <= TARGET_TOTAL_S,
        "bit_identical": {"events_vs_dense": [int(same.sum()), dense_n],
                          "numpy_loop_vs_events": [int(loop_same.sum()), len(loop_idx)]},
        "numba_first_call_s": {**compiles, "this_process": first_call},
        "stdp_ms": {"images": len(stdp_idx), **(stdp if len(stdp_idx) else {})},
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0 if same.all() and loop_same.all() else 1


if __name__ == "__main__":
    sys.exit(main())
