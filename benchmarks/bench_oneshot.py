"""Time one-shot runs on cached features: name neurons (fit on 2 images, name 396) and the one-shot SVM.

    cd /work/main && PYTHONPATH=src python benchmarks/bench_oneshot.py [--data ../shared/data] [--runs 300]

Features are extracted first (event-driven, cached in a temporary folder) and not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from recollection.naming.experiments import NamingScorer, sample_shots
from recollection.naming.neurons import NameNeurons
from recollection.naming.presets import ONESHOT_SVM_WEIGHTS, PRESETS, SVM_THRESHOLDS, DataRoot, oneshot_rule
from recollection.naming.protocols import shots
from recollection.naming.reproduce import Reproduction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="the shared data (default: $RECOLLECTION_DATA, else ../shared/data)")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as cache:
        rep = Reproduction(DataRoot.find(args.data), cache)
        rule = oneshot_rule("paper")  # run61's paper rule, λ = 65
        train, test = rep.pair("run61", PRESETS["run61"].naming)
        svm_pair = rep.pair(ONESHOT_SVM_WEIGHTS, SVM_THRESHOLDS)
        runs = sample_shots(train.labels, 1, args.runs, 0)
        start = time.perf_counter()
        scorer = NamingScorer(NameNeurons(**rule), test)
        setup = time.perf_counter() - start
        start = time.perf_counter()
        for index in runs:
            scorer.run(train.subset(index))
        naming = (time.perf_counter() - start) / len(runs)
        start = time.perf_counter()
        shots(runs, None, svm=svm_pair)
        svm = (time.perf_counter() - start) / len(runs)
    print(f"| one-shot run ({len(test)} test images) | per run |\n|---|---|")
    print(f"| name neurons: fit 2 images + name the test set | {naming * 1e3:.1f} ms |")
    print(f"| SVM: z-score + fit 2 images + predict | {svm * 1e3:.1f} ms |")
    print(f"| (once per test set: the test drive) | {setup * 1e3:.1f} ms |")
    print(f"1 500 pairs: naming {1500 * naming:.1f} s, SVM {1500 * svm:.1f} s")


if __name__ == "__main__":
    main()
