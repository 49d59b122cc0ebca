"""Benchmark the vectorised backward retrace against the research code's loops, the forward
pass and Captum's Deconvolution, on AlexNet with random (seeded) weights and 224×224 inputs.

    cd /work/main && PYTHONPATH=src python benchmarks/bench_retrace.py [--quick] [--device cpu|cuda]
    PYTHONPATH=src python benchmarks/bench_retrace.py --check     # correctness checks only
    PYTHONPATH=src python benchmarks/bench_retrace.py --profile   # where the retrace's time goes

Prints a Markdown table and writes benchmarks/results.json (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

HERE = Path(__file__).resolve().parent
warnings.filterwarnings("ignore", module="captum")  # "input did not require gradients", "setting hooks on ReLU"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

import research_loop as RL  # noqa: E402
from recollection.cnn.alexnet import AlexNet  # noqa: E402
from recollection.retrace import steps as S  # noqa: E402
from recollection.retrace.engine import Recollector  # noqa: E402
from recollection.retrace.normalize import normalize as engine_normalize  # noqa: E402
from recollection.retrace.record import record  # noqa: E402

FAVOURITE = dict(normalize="rescale_std", positivise=True, positivise_conv=True)
TARGETS = {
    "speedup_1": 150.0,  # full recollection of one image vs the research loop, at least
    "speedup_32": 400.0,  # per image in a batch of 32 vs the research loop, at least
    "backward_over_forward": 1.5,  # recall alone / forward alone, at most
    "ours_over_captum": 1.0,  # full recollection / Captum Deconvolution, at most
}
ISSUE_LOOP_SECONDS = 6.5  # the issue's figure for the research loop on this machine ("about 6-7 s")


# ---------------------------------------------------------------------------- timing
class Timer:
    def __init__(self, device: torch.device) -> None:
        self.device = device

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def once(self, fn: Callable[[], object]) -> float:
        self.sync()
        t = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t

    def interleaved(self, fns: dict[str, Callable[[], object]], warmup: int, repeats: int) -> dict[str, dict]:
        """Run the functions in turn (a, b, c, a, b, c, ...) so that a load spike from another
        process hits all of them alike; return median, min and all times of each."""
        for _ in range(warmup):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeats):
            for k, fn in fns.items():
                times[k].append(self.once(fn))
        return {k: {"median_s": statistics.median(v), "min_s": min(v), "times_s": v} for k, v in times.items()}


class Contention:
    """How much of the machine's CPU time *other* processes used while we ran (Linux only).

    On a shared 2-core machine a single busy neighbour halves a 2-thread op's speed and makes
    every timing noisy; the benchmark reports this figure so that a disturbed run is visible.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
            ticks = [int(v) for v in fields]
            busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
            t = os.times()
            return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system, time.perf_counter()
        except (OSError, ValueError, IndexError):
            return None

    def others_share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        busy, ours, wall = (e - s for e, s in zip(end, self.start))
        return max(0.0, (busy - ours) / (wall * (os.cpu_count() or 1)))


# ---------------------------------------------------------------------------- set-up
def make_model(seed: int, device: torch.device) -> AlexNet:
    torch.manual_seed(seed)
    return AlexNet().eval().to(device)


def make_inputs(n: int, seed: int, device: torch.device, size: int = 224) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randn(n, 3, size, size, generator=g).to(device)


def forward_fn(model, x):
    def run():
        with torch.inference_mode():
            return model(x)
    return run


def captum_fn(model, x):
    from captum.attr import Deconvolution

    with torch.inference_mode():
        target = model(x).argmax(dim=1).tolist()  # the same class neurons as ours ("class" = predicted)
    deconv = Deconvolution(model)

    def run():
        return deconv.attribute(x, target=target)
    return run


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a − b| / max |b|."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / (scale if scale > 0 else 1.0)


# ---------------------------------------------------------------------------- checks
def run_checks(device: torch.device, seed: int, size: int = 95) -> list[dict]:
    """Research loop vs engine (and engine vs Captum) on a small random input.

    A 95×95 input gives conv1 23×23, pool1 11×11, pool2 5×5, pool3 2×2, so the adaptive
    avg pool (2×2 → 6×6) and every other step run their general code paths, in seconds.
    """
    model = make_model(seed, device)
    x = make_inputs(2, seed, device, size)
    tol = 1e-4
    checks = []

    def add(name, value, expect_equal, note):
        ok = value <= tol if expect_equal else None
        checks.append({"check": name, "rel_diff": value, "expect_equal": expect_equal, "ok": ok, "note": note})

    configs = [
        ("favourite (rescale_std, positivise both)", FAVOURITE, True,
         "rescale_std clips into [0, 1], so every rectification is a no-op and its placement cannot matter"),
        ("normalize=None, no rectification", dict(normalize=None, positivise=False, positivise_conv=False), True,
         "pure transpose of the network: must agree"),
        ("normalize=None, positivise both", dict(normalize=None, positivise=True, positivise_conv=True), False,
         "documented difference: the engine defers the rectification before an unpool to after it, "
         "and the summing unpool makes the order matter"),
    ]
    for name, opts, equal, note in configs:
        ours = Recollector(model, device=device, **opts)(x, "class").image
        loop = torch.stack([RL.recollect(model, x[n], **opts) for n in range(x.shape[0])])
        add(f"loop vs engine: {name}", rel_diff(loop, ours), equal, note)
        if not equal:
            moved = torch.stack([RL.retrace(RL.forward_recorded(model, x[n]), defer_to_unpool=True, **opts)
                                 for n in range(x.shape[0])])
            add(f"loop with the engine's rectification placement vs engine: {name}", rel_diff(moved, ours), True,
                "the loop with only that placement changed: must agree, showing it is the only difference")

    # The engine's placement claims to equal Captum's Deconvolution (no normalisation, no
    # rectification of the reconstructed input itself).
    try:
        from captum.attr import Deconvolution

        ours = Recollector(model, device=device, normalize=None, positivise=True, positivise_conv=True,
                           rectify_input=False)(x, "class")
        theirs = Deconvolution(model).attribute(x, target=ours.predicted.tolist())
        add("engine (normalize=None, positivise, rectify_input=False) vs Captum Deconvolution",
            rel_diff(ours.image, theirs), True, "same placement of the rectifications as Captum's ReLU override")
    except ImportError:
        pass
    return checks


def print_checks(checks: list[dict]) -> None:
    print("| check | max rel. diff | expected | result |")
    print("|---|---|---|---|")
    for c in checks:
        result = "—" if c["ok"] is None else ("ok" if c["ok"] else "**FAIL**")
        print(f"| {c['check']} | {c['rel_diff']:.2e} | {'equal' if c['expect_equal'] else 'differ'} | {result} |")
    print()


# ---------------------------------------------------------------------------- profile
def profile_recall(model, x: torch.Tensor, timer: Timer, repeats: int) -> list[dict]:
    """Time each backward step of the favourite configuration (and its normalisation) on its
    own, next to the forward layer it inverts and the candidate fixes (candidate_fixes.py),
    by replaying the engine's step functions on a recorded trace. One row per step; times
    are the *minimum* over the repeats (the least disturbed by other processes)."""
    import candidate_fixes as CF

    rec = Recollector(model, device=x.device, **FAVOURITE)
    trace = record(model, x, keep_all=True)  # every op's output: the forward layers' inputs
    result = rec.recall(trace, "class")
    weighted = [i for i, s in enumerate(trace.steps) if s.kind in ("linear", "conv", "maxpool")]
    inputs = [m.value for m in result.cascade[:-1]]  # what each weighted step received, source first
    layer_names = {t.layer: t.name for t in trace.taps}
    rows = []
    for i, y in zip(reversed(weighted), inputs):
        step = trace.steps[i]
        m = step.module
        fin = trace.inputs if step.inputs[0] == -1 else trace.steps[step.inputs[0]].output
        fix = None
        if isinstance(m, torch.nn.Linear):
            kind = "linear (y @ W)"
            y = y.reshape(y.shape[0], -1)
            back = lambda y=y, m=m, step=step: S.linear_backward(y, m.weight, step.input_shape)  # noqa: E731
            fwd = lambda m=m, fin=fin: m(fin.flatten(1))  # noqa: E731
        elif isinstance(m, torch.nn.Conv2d):
            kind = f"conv_transpose2d k{m.kernel_size[0]} s{m.stride[0]}"
            y = y.reshape(step.output_shape)
            back = lambda y=y, m=m, step=step: S.conv_backward(y, m, step.input_shape)  # noqa: E731
            if m.stride != (1, 1):
                fix = lambda y=y, m=m, step=step: CF.conv_backward_phase(y, m, step.input_shape)  # noqa: E731
            fwd = lambda m=m, fin=fin: m(fin)  # noqa: E731
        else:
            kind = "unpool (scatter_add)"
            y = y.reshape(step.output_shape)
            back = lambda y=y, step=step: S.unpool_switches(y, step.switches, step.input_shape)  # noqa: E731
            fwd = lambda m=m, fin=fin: torch.nn.functional.max_pool2d(  # noqa: E731
                fin, m.kernel_size, m.stride, m.padding, return_indices=True)
        out = _inference(back)
        fns = {
            "backward": lambda back=back: _inference(back),
            "normalise": lambda out=out: _inference(lambda: engine_normalize(out, "rescale_std")),
            "normalise_fast": lambda out=out: _inference(lambda: CF.normalize_fast(out, "rescale_std")),
            "clamp": lambda out=out: _inference(lambda: out.clamp_min(0.0)),
            "forward": lambda fwd=fwd: _inference(fwd),
        }
        if fix is not None:
            fns["backward_fix"] = lambda fix=fix: _inference(fix)
        t = timer.interleaved(fns, warmup=1, repeats=repeats)
        row = {"layer": layer_names.get(i, step.name), "kind": kind, "out_shape": list(out.shape),
               **{f"{k}_ms": 1e3 * v["min_s"] for k, v in t.items()}}
        row["normalise_fast_rel_diff"] = rel_diff(_inference(lambda: CF.normalize_fast(out, "rescale_std")),
                                                  _inference(lambda: engine_normalize(out, "rescale_std")))
        if fix is not None:
            row["backward_fix_rel_diff"] = rel_diff(_inference(fix), out)
        rows.append(row)
    return rows


def profile_fixes(model, x: torch.Tensor, timer: Timer, repeats: int) -> dict:
    """Whole recall (and full recollection) with and without the candidate fixes, interleaved."""
    import candidate_fixes as CF

    rec = Recollector(model, device=x.device, **FAVOURITE)
    rec_none = Recollector(model, device=x.device, normalize=None, positivise=True, positivise_conv=True)
    trace = rec.perceive(x)
    reference = rec.recall(trace, "class").image

    def with_fixes(fn, conv, norm):
        def run():
            with CF.patched(conv=conv, norm=norm):
                return fn()
        return run

    fns = {
        "forward": forward_fn(model, x),
        "perceive": lambda: rec.perceive(x),
        "recall": lambda: rec.recall(trace, "class"),
        "recall_phase_conv1": with_fixes(lambda: rec.recall(trace, "class"), True, False),
        "recall_fast_normalise": with_fixes(lambda: rec.recall(trace, "class"), False, True),
        "recall_both_fixes": with_fixes(lambda: rec.recall(trace, "class"), True, True),
        "recall_normalize_none": lambda: rec_none.recall(trace, "class"),
        "full_both_fixes": with_fixes(lambda: rec(x, "class"), True, True),
        "captum": captum_fn(model, x),
    }
    t = timer.interleaved(fns, warmup=1, repeats=repeats)
    with CF.patched():
        fixed = rec.recall(trace, "class").image
    return {"times": {k: {"median_s": v["median_s"], "min_s": v["min_s"]} for k, v in t.items()},
            "both_fixes_rel_diff": rel_diff(fixed, reference)}


def _inference(fn):
    with torch.inference_mode():
        return fn()


def print_profile(rows: list[dict], batch: int) -> None:
    print(f"Per-step times, batch {batch} (min ms over the repeats; 'forward' is the forward layer the step "
          "inverts, a pool with its indices; 'fix' columns are candidate_fixes.py):\n")
    print("| layer | backward op | backward | backward, fix | normalise | normalise, fix | clamp | forward layer |")
    print("|---|---|---|---|---|---|---|---|")
    keys = ("backward_ms", "backward_fix_ms", "normalise_ms", "normalise_fast_ms", "clamp_ms", "forward_ms")
    tot = dict.fromkeys(keys, 0.0)
    for r in rows:
        cells = []
        for k in keys:
            if k in r:
                tot[k] += r[k]
                cells.append(f"{r[k]:.2f}")
            else:  # no fix for this step: the original op
                tot[k] += r["backward_ms"]
                cells.append("=")
        print(f"| {r['layer']} | {r['kind']} | " + " | ".join(cells) + " |")
    print("| **sum** | | " + " | ".join(f"{tot[k]:.1f}" for k in keys) + " |\n")


def print_fixes(fixes: dict, batch: int) -> None:
    t = fixes["times"]
    fwd = t["forward"]["median_s"]
    print(f"Candidate fixes, batch {batch} (median / min ms, interleaved; both fixes change the result by "
          f"{fixes['both_fixes_rel_diff']:.1e} relative):\n")
    print("| run | median | min | / forward (median) |")
    print("|---|---|---|---|")
    for k, v in t.items():
        print(f"| {k} | {1e3 * v['median_s']:.1f} | {1e3 * v['min_s']:.1f} | {v['median_s'] / fwd:.2f}× |")
    print()


# ---------------------------------------------------------------------------- benchmark
def benchmark(device: torch.device, quick: bool, seed: int) -> dict:
    timer = Timer(device)
    model = make_model(seed, device)
    rec = Recollector(model, device=device, **FAVOURITE)
    # Captum's Deconvolution computes exactly this (no normalisation; checked in --check)
    rec_none = Recollector(model, device=device, normalize=None, positivise=True, positivise_conv=True,
                           rectify_input=False)
    big = make_inputs(32, seed, device)
    reps_small, reps_big = (3, 2) if quick else (15, 7)
    warm_small, warm_big = (1, 1) if quick else (3, 2)
    res: dict = {"rows": []}

    def row(measure, batch, seconds, ratio=None, target=None, met=None, note=""):
        res["rows"].append({"measure": measure, "batch": batch, "seconds": seconds,
                            "per_image_s": None if seconds is None else seconds / batch,
                            "ratio": ratio, "target": target, "met": met, "note": note})

    # --- research loop (one image)
    x1 = big[:1]
    loop_runs = 1 if quick else 3
    loop_times, loop_out = [], None
    for _ in range(loop_runs):
        t = time.perf_counter()
        loop_out = RL.recollect(model, x1[0], **FAVOURITE)
        timer.sync()
        loop_times.append(time.perf_counter() - t)
    loop_s = min(loop_times)
    res["research_loop"] = {"min_s": loop_s, "times_s": loop_times}
    res["loop_vs_engine_rel_diff"] = rel_diff(loop_out, rec(x1, "class").image[0])
    row("research loop: full recollection (min)", 1, loop_s,
        note=f"agrees with ours to {res['loop_vs_engine_rel_diff']:.1e} relative; the baseline of the speed-ups")
    if not quick:  # the same loops with W[c], a[c, i, j] indexed in the innermost loop: context only
        t = time.perf_counter()
        literal_out = RL.recollect(model, x1[0], literal=True, **FAVOURITE)
        timer.sync()
        literal_s = time.perf_counter() - t
        res["research_loop_literal_s"] = literal_s
        row("research loop, literal indexing (once)", 1, literal_s,
            note=f"loop invariants not hoisted; agrees to {rel_diff(literal_out, loop_out):.0e}; not used for ratios")

    # --- per batch size: full, recall alone, forward alone, Captum
    per_batch = {}
    for n in (1, 8, 32):
        x = big[:n]
        trace = rec.perceive(x)
        fns = {
            "full": lambda x=x: rec(x, "class"),
            "recall": lambda trace=trace: rec.recall(trace, "class"),
            "forward": forward_fn(model, x),
        }
        if n in (1, 32):
            fns["perceive"] = lambda x=x: rec.perceive(x)
            fns["full_none"] = lambda x=x: rec_none(x, "class")
            fns["captum"] = captum_fn(model, x)
        small = n == 1
        per_batch[n] = timer.interleaved(fns, warmup=warm_small if small else warm_big,
                                         repeats=reps_small if small else reps_big)
    res["timings"] = {str(n): {k: {kk: vv for kk, vv in v.items()} for k, v in t.items()} for n, t in per_batch.items()}

    full1 = per_batch[1]["full"]["median_s"]
    full32 = per_batch[32]["full"]["median_s"]
    sp1, sp32 = loop_s / full1, loop_s / (full32 / 32)
    row("ours: full recollection (perceive + recall)", 1, full1, sp1, f"≥ {TARGETS['speedup_1']:g}× vs loop",
        sp1 >= TARGETS["speedup_1"], f"{ISSUE_LOOP_SECONDS / full1:.0f}× vs the issue's {ISSUE_LOOP_SECONDS} s loop")
    row("ours: full recollection (perceive + recall)", 32, full32, sp32, f"≥ {TARGETS['speedup_32']:g}× vs loop",
        sp32 >= TARGETS["speedup_32"],
        f"{ISSUE_LOOP_SECONDS / (full32 / 32):.0f}× vs the issue's {ISSUE_LOOP_SECONDS} s loop")
    for n in (1, 32):
        t = per_batch[n]
        r = t["recall"]["median_s"] / t["forward"]["median_s"]
        row("forward alone: model(x), inference_mode", n, t["forward"]["median_s"])
        row("ours: perceive alone (recorded forward)", n, t["perceive"]["median_s"],
            t["perceive"]["median_s"] / t["forward"]["median_s"], note="ratio = perceive / forward")
        row("ours: backward retrace alone (recall on a trace)", n, t["recall"]["median_s"], r,
            f"≤ {TARGETS['backward_over_forward']:g}× forward", r <= TARGETS["backward_over_forward"])
    for n in (1, 32):
        t = per_batch[n]
        r = t["full"]["median_s"] / t["captum"]["median_s"]
        row("Captum Deconvolution(model).attribute", n, t["captum"]["median_s"], r,
            "ours full ≤ 1× Captum", r <= TARGETS["ours_over_captum"], "ratio = ours full (favourite) / Captum")
        r = t["full_none"]["median_s"] / t["captum"]["median_s"]
        row("ours: full, normalize=None (Captum's computation)", n, t["full_none"]["median_s"], r,
            note="ratio = this / Captum; not a target, for comparison")
    res["throughput_images_per_s"] = {str(n): n / per_batch[n]["full"]["median_s"] for n in (1, 8, 32)}
    for n in (1, 8, 32):
        row("throughput, full recollection", n, per_batch[n]["full"]["median_s"],
            note=f"{res['throughput_images_per_s'][str(n)]:.1f} images/s")
    res["summary"] = {
        "speedup_1": sp1, "speedup_32": sp32,
        "speedup_1_vs_issue_loop": ISSUE_LOOP_SECONDS / full1,
        "speedup_32_vs_issue_loop": ISSUE_LOOP_SECONDS / (full32 / 32),
        "backward_over_forward_1": per_batch[1]["recall"]["median_s"] / per_batch[1]["forward"]["median_s"],
        "backward_over_forward_32": per_batch[32]["recall"]["median_s"] / per_batch[32]["forward"]["median_s"],
        "ours_over_captum_1": full1 / per_batch[1]["captum"]["median_s"],
        "ours_over_captum_32": full32 / per_batch[32]["captum"]["median_s"],
        "perceive_over_forward_1": per_batch[1]["perceive"]["median_s"] / per_batch[1]["forward"]["median_s"],
        "perceive_over_forward_32": per_batch[32]["perceive"]["median_s"] / per_batch[32]["forward"]["median_s"],
    }
    return res


def run_profile(device: torch.device, quick: bool, seed: int, contention: Contention) -> dict:
    timer = Timer(device)
    model = make_model(seed, device)
    out: dict = {}
    for n in (1, 32):
        x = make_inputs(32, seed, device)[:n]  # the benchmark's own images
        rows = profile_recall(model, x, timer, repeats=3 if quick else 9)
        print_profile(rows, n)
        fixes = profile_fixes(model, x, timer, repeats=3 if quick else 9)
        print_fixes(fixes, n)
        out[str(n)] = {"steps": rows, "fixes": fixes}
    others = contention.others_share()
    if others is not None:
        print(f"Other processes used {100 * others:.0f}% of the machine's CPU time during the profile"
              + (" — disturbed; rerun on a quiet machine." if others > 0.1 else ".") + "\n")
    out["others_cpu_share"] = others
    return out


def fmt_s(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s:.2f} s" if s >= 1 else f"{1e3 * s:.1f} ms"


def print_table(res: dict) -> None:
    print("| measure | batch | time (median) | per image | ratio | target | met | note |")
    print("|---|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}×" if r["ratio"] < 10 else f"{r['ratio']:.0f}×"
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        print(f"| {r['measure']} | {r['batch']} | {fmt_s(r['seconds'])} | {fmt_s(r['per_image_s'])} | {ratio} | "
              f"{r['target'] or ''} | {met} | {r['note']} |")
    print()


def environment(device: torch.device, threads: int) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(),
           "device": str(device), "threads": threads, "cpu_count": os.cpu_count(),
           "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}
    try:
        import captum
        env["captum"] = captum.__version__
    except ImportError:
        env["captum"] = None
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    else:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    env["cpu"] = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats; the research loop runs once")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true", help="only check the research loop against the engine")
    p.add_argument("--profile", action="store_true",
                   help="also time every backward step on its own, and the candidate fixes (candidate_fixes.py)")
    p.add_argument("--profile-only", action="store_true", help="only the --profile part (no results.json)")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device available")
    env = environment(device, args.threads)
    print(f"AlexNet (random weights, seed {args.seed}), 224×224, device {device}, {args.threads} threads, "
          f"torch {env['torch']}, captum {env['captum']}\n")

    if args.check:
        checks = run_checks(device, args.seed)
        print_checks(checks)
        return 0 if all(c["ok"] is not False for c in checks) else 1

    contention = Contention()
    if args.profile_only:
        run_profile(device, args.quick, args.seed, contention)
        return 0
    res = benchmark(device, args.quick, args.seed)
    others = contention.others_share()
    print_table(res)
    if others is not None:
        print(f"Other processes used {100 * others:.0f}% of the machine's CPU time during the benchmark"
              + (" — the timings are disturbed; rerun on a quiet machine." if others > 0.1 else ".") + "\n")
    env["others_cpu_share"] = others
    out = {"environment": env, "quick": args.quick, "targets": TARGETS, **res}
    if args.profile:
        out["profile"] = run_profile(device, args.quick, args.seed, Contention())
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
