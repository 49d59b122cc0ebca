"""Time the attention study (issue 17) against a per-point baseline measured in the same run.

    cd /work/main && PYTHONPATH=src python benchmarks/bench_attend.py [--workers 2] [--sample 60]

experiments/cnn-attention.toml: 200 MNIST pairs (the drawn digits' 90 ordered pairs where
../shared/data/mnist is absent) × every method × the normalisation grid and the controls (19
configurations), one forward pass per mix shared by every cue, retrace option and control. The
baseline runs points one by one with nothing shared (each point: its own forward pass and its two
recalls), timed on a random sample of points and scaled to the whole grid. Target: ≤ 120 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import torch

from recollection.experiments.runner import run_study
from recollection.experiments.study import load_study

ROOT = Path(__file__).parents[1]
TARGET_S = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=60, help="points timed one by one for the baseline")
    args = parser.parse_args()
    mnist = (ROOT.parent / "shared" / "data" / "mnist").is_dir() or Path("../shared/data/mnist").is_dir()
    overrides = ["data.gallery=0"] + ([] if mnist else ['data.images="drawn-digits"', "data.pairs=90"])
    study = load_study(ROOT / "experiments" / "cnn-attention.toml", overrides)
    load = os.getloadavg()[0]
    cpu_before = cpu_seconds()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = run_study(study, Path(out) / "r", workers=args.workers)
        ours = time.perf_counter() - start
    cpu = cpu_seconds() - cpu_before
    assert not summary.failures, summary.failures[0]["error"]
    naive = baseline(study, args.sample, args.workers)
    pairs = study.data["pairs"]
    configs = len(study.points) // pairs
    print(f"| cnn-attention, {pairs} pairs × {configs} configurations ({len(study.points)} points) | "
          f"`recollect run`, {args.workers} workers: {ours:.1f} s | one point at a time, nothing shared: "
          f"{naive:.1f} s (from {args.sample} points) | {naive / ours:.1f}× | ≤ {TARGET_S:.0f} s: "
          f"{'met' if ours <= TARGET_S else 'NOT met'} | CPU time {cpu:.1f} s (÷ {args.workers} = {cpu / args.workers:.1f} s, "
          f"the wall time on idle cores) | load average before {load:.1f}, after {os.getloadavg()[0]:.1f} |")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the study's workers): on a shared machine the
    wall time measures the neighbours too, the CPU time does not."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def baseline(study, sample: int, threads: int) -> float:
    from recollection.attention.engine import Attender
    from recollection.attention.options import attender_options
    from recollection.experiments.attend_engine import pairs_for

    torch.set_num_threads(threads)
    points = random.Random(0).sample(study.points, min(sample, len(study.points)))
    pairs_for(study.data, "digits", False)  # load once, untimed
    start = time.perf_counter()
    for p in points:
        info, pairs = pairs_for(study.data, p["model"], p["random_init"])
        i = pairs.names.index(p["pair"])
        attender = Attender(info.model, transform=info.normalise, seed=p["seed"], **attender_options(p))
        attender(pairs.components[i:i + 1], pairs.labels[i:i + 1], mix=p["mix"])
    return (time.perf_counter() - start) / len(points) * len(study.points)


if __name__ == "__main__":
    main()
