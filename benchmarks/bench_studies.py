"""Time the two study targets of the experiments issue, each against a naive baseline in the same run.

    cd /work/main && PYTHONPATH=src python benchmarks/bench_studies.py [--workers 2] [--skip-cnn]

1. experiments/naming-oneshot.toml (1 500 pairs, naming and SVM) from cached features (the cache is
   filled first, untimed), against the same 1 500 pairs run one after another in a plain loop that
   rebuilds the test drive for every pair.
2. experiments/cnn-options.toml for the 5 shared images, random AlexNet weights (the ImageNet weights
   cost the same), against a per-point baseline (record the forward pass, recall, score: no sharing)
   timed on a random sample of points and scaled to the whole grid.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

import torch

from recollection.experiments.engines import get_engine
from recollection.experiments.runner import run_study
from recollection.experiments.study import load_study

ROOT = Path(__file__).parents[1]


def naming(workers: int, cache: str) -> None:
    from recollection.naming.experiments import NamingScorer, accuracy, sample_shots
    from recollection.naming.neurons import NameNeurons
    from recollection.naming.svm import SpikeSVM
    from recollection.experiments.naming_engine import feature_pair

    study = load_study(ROOT / "experiments" / "naming-oneshot.toml", [f'data.cache="{cache}"'])
    get_engine(study.engine).prepare(study.data, study.points)  # fill the cache: not timed
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_study(study, Path(out) / "r", workers=workers)
        ours = time.perf_counter() - start
    train, test = feature_pair(study.data, "run61", 7.0, 20.25)
    svm_train, svm_test = feature_pair(study.data, "svm_oneshot", 10.0, 50.0)
    torch.set_num_threads(1)
    start = time.perf_counter()
    for p in study.points:  # the naive loop: one pair at a time, nothing shared
        index = sample_shots(train.labels, 1, 1, p["seed"])[0]
        NamingScorer(NameNeurons(init=0.575, novelty=65.0), test).run(train.subset(index))
        sub = svm_train.subset(index)
        accuracy(SpikeSVM().fit(sub.potentials, sub.labels).predict(svm_test.potentials), svm_test.labels)
    loop = time.perf_counter() - start
    print(f"| naming-oneshot, 1 500 pairs, cached features | `recollect run`, {workers} workers: {ours:.1f} s "
          f"| plain loop, 1 process: {loop:.1f} s | {loop / ours:.1f}× | ≤ 180 s |")


def cnn(workers: int, sample: int) -> None:
    from recollection.experiments.cnn_engine import model_and_pixels
    from recollection.pipeline import shown_image
    from recollection.retrace.engine import Recollector
    from recollection.retrace.sources import Source
    from recollection.scores import score_reconstruction

    study = load_study(ROOT / "experiments" / "cnn-options.toml", ["params.random_init=true", "data.gallery=false"])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_study(study, Path(out) / "r", workers=workers)
        ours = time.perf_counter() - start
    info, pixels, names = model_and_pixels(study.data, "alexnet", True)
    torch.set_num_threads(workers)
    points = random.Random(0).sample(study.points, sample)
    start = time.perf_counter()
    for p in points:
        rec = Recollector(info.model, classes=info.classes, normalize=None if p["normalize"] == "none" else p["normalize"],
                          positivise=p["positivise"], positivise_conv=p["positivise_conv"], wta=p["wta"],
                          unpool=p["unpool"], seed=p["seed"])
        i = names.index(p["image"])
        result = rec(info.normalise(pixels[i : i + 1]), Source.parse(p["source"]))
        score_reconstruction(pixels[i], shown_image(result.image, p["view"], info)[0])
    naive = (time.perf_counter() - start) / sample * len(study.points)
    print(f"| cnn-options, 5 images, {len(study.points)} points | `recollect run`, {workers} workers: {ours:.1f} s "
          f"| per point, {workers} threads (from {sample} points): {naive:.0f} s | {naive / ours:.1f}× | ≤ 300 s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=200, help="points timed for the CNN baseline")
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    print("| study | ours | baseline (same run) | speed-up | target |\n|---|---|---|---|---|")
    cache = tempfile.mkdtemp()
    try:
        naming(args.workers, cache)
    finally:
        shutil.rmtree(cache)
    if not args.skip_cnn:
        cnn(args.workers, args.sample)


if __name__ == "__main__":
    main()
