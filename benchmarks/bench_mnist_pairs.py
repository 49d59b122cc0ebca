"""MNIST digit pairs: naming (paper, corrected) vs the SVM, at full data and one-shot, on a second real data set.

    cd /work/wt-byod && PYTHONPATH=src python benchmarks/bench_mnist_pairs.py \\
        [--data ../shared/data] [--pairs all | 0-1,3-8,...] [--weights mnist-stdp,run61] [--train 200 --test 198] \\
        [--runs 100] [--validation-runs 100] [--out benchmarks/mnist_pairs]

Every digit pair is one ``recollect naming pipeline`` run (``naming/pipeline.py``: thresholds calibrated on
the pair's training images, naming in paper and corrected mode and the SVM at full data, one-shot runs of
both), once per weight set:

- ``mnist-stdp``: a network trained here by STDP (``--stdp-seed``, ``--presentations``) on MNIST digits of
  all ten classes that no pair trains or tests on (``--learning`` per digit);
- ``run61`` (or any published name / weight directory): the published Caltech faces/motorbikes weights.

The digits come from ``DATA/mnist`` (the 10 000-image idx file, as ``recollect recall --dataset mnist``
reads it), in the file's order: the first ``--train`` images of each digit are its training images, the
next ``--test`` its test images, and the learning images are taken from the end of the file, so the three
never overlap. MNIST has no groups (one image per writer and digit, and the writers are not given), so
none are used. Writes ``results.json`` (config + every pipeline's numbers) and ``results.md`` (the table)
into ``--out``; each pipeline's own JSON and summary stay under ``--out/pairs/<a>-<b>/<weights>/``.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from recollection.data.digits import mnist
from recollection.io import write_json, write_text
from recollection.naming.pipeline import PipelineConfig, run_pipeline
from recollection.naming.presets import find_data_root, resolve_weights
from recollection.snn.encoding import DoGEncoder
from recollection.snn.features import encode_files
from recollection.snn.network import save_weights
from recollection.snn.stdp import StdpConfig, train_stdp

MNIST_STDP = "mnist-stdp"


def digit_folders(images: np.ndarray, labels: np.ndarray, root: Path, digits: tuple[int, int], train: int,
                  test: int) -> Path:
    """``root/TrainingSet/digitA …, TestingSet/…`` of one pair (written once; PNGs of the idx images)."""
    done = root / ".complete"
    if not done.exists():
        for d in digits:
            members = np.flatnonzero(labels == d)
            for part, chosen in (("TrainingSet", members[:train]), ("TestingSet", members[train:train + test])):
                folder = root / part / f"digit{d}"
                folder.mkdir(parents=True, exist_ok=True)
                for i in chosen:
                    Image.fromarray(images[i]).save(folder / f"{d}_{i:05d}.png")
        done.write_text("ok\n")
    return root


def learning_folder(images: np.ndarray, labels: np.ndarray, root: Path, per_digit: int, reserved: int) -> list[Path]:
    """``per_digit`` images of every digit from the end of the file (after the ``reserved`` first ones)."""
    files = []
    for d in range(10):
        members = np.flatnonzero(labels == d)
        if len(members) < reserved + per_digit:
            raise SystemExit(f"digit {d}: {len(members)} images, {reserved} + {per_digit} needed")
        folder = root / f"digit{d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in members[-per_digit:]:
            path = folder / f"{d}_{i:05d}.png"
            if not path.exists():
                Image.fromarray(images[i]).save(path)
            files.append(path)
    return files


def mnist_stdp(files: list[Path], out: Path, seed: int, presentations: tuple[int, int, int]) -> Path:
    """STDP on the learning digits (as ``recollect naming pipeline`` would on a LearningSet), cached."""
    directory = out / "weights"
    if (directory / "weight_4.npy").exists():
        return directory
    config = StdpConfig(presentations=presentations)
    learnt = train_stdp(encode_files(files, DoGEncoder()), seed=seed, config=config,
                        checkpoint_dir=out / "checkpoints", resume=True)
    save_weights(learnt, directory)
    write_json(out / "stdp.json", {"images": [str(f) for f in files], "seed": seed, "config": config.as_dict()})
    return directory


def parse_pairs(text: str) -> list[tuple[int, int]]:
    if text == "all":
        return list(itertools.combinations(range(10), 2))
    pairs = []
    for item in text.split(","):
        a, b = (int(x) for x in item.split("-"))
        if not (0 <= a < b <= 9):
            raise SystemExit(f"--pairs: {item!r} is not two digits a-b with a < b")
        pairs.append((a, b))
    return pairs


def row(result: dict) -> dict:
    """The numbers of one pipeline run that the table shows."""
    full, shot = result["full_data"], result["one_shot"]["summary"]
    return {"naming_paper": full["naming_paper"]["test"], "naming_corrected": full["naming_corrected"]["test"],
            "svm": full["svm"]["test"], "oneshot_naming_paper": shot["naming_paper"]["mean"],
            "oneshot_naming_corrected": shot["naming_corrected"]["mean"], "oneshot_svm": shot["svm"]["mean"],
            "zero_features": result["diagnostics"]["zero_features"],
            "thresholds": {"naming_paper": full["naming_paper_thresholds"], "svm": full["svm_thresholds"],
                           "naming_corrected": full["naming_corrected_thresholds"]}}


COLUMNS = ("naming_paper", "naming_corrected", "svm", "oneshot_naming_paper", "oneshot_naming_corrected", "oneshot_svm")


def table(results: dict[str, dict[str, dict]]) -> str:
    """Markdown: one line per weight set (mean over pairs, min–max), then one per pair and weight set."""
    head = ("| weights | pairs | naming paper | naming corrected | SVM | one-shot naming paper | "
            "one-shot naming corrected | one-shot SVM | max all-zero (SVM features) |\n" + "|---" * 9 + "|\n")
    lines = []
    for weights, by_pair in results.items():
        rows = list(by_pair.values())
        cells = []
        for c in COLUMNS:
            v = np.array([r[c] for r in rows])
            cells.append(f"{v.mean():.3f} ({v.min():.3f}–{v.max():.3f})")
        zero = max(r["zero_features"].get("svm", 0.0) for r in rows)
        lines.append(f"| {weights} | {len(rows)} | " + " | ".join(cells) + f" | {zero:.1%} |")
    for weights, by_pair in results.items():
        for pair, r in by_pair.items():
            zero = r["zero_features"].get("svm", 0.0)
            lines.append(f"| {weights} | {pair} | " + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + f" | {zero:.1%} |")
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="the shared data (default: $RECOLLECTION_DATA, else ../shared/data)")
    parser.add_argument("--pairs", default="all", help="all (the 45 pairs) or a-b,c-d,…")
    parser.add_argument("--weights", default=f"{MNIST_STDP},run61",
                        help=f"weight sets: {MNIST_STDP} (STDP here on MNIST), published names or directories")
    parser.add_argument("--train", type=int, default=200, help="training images per digit (Caltech's split: 200)")
    parser.add_argument("--test", type=int, default=198, help="test images per digit (Caltech's split: 198)")
    parser.add_argument("--learning", type=int, default=50, help="STDP learning images per digit (all ten digits)")
    parser.add_argument("--stdp-seed", type=int, default=0)
    parser.add_argument("--presentations", default="3000,5000,6000", help="STDP presentations per layer")
    parser.add_argument("--runs", type=int, default=100, help="one-shot pairs per digit pair")
    parser.add_argument("--validation-runs", type=int, default=100, help="corrected one-shot: runs inside training")
    parser.add_argument("--thresholds", default="auto", help="naming and SVM thresholds: auto or conv1,conv2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="feature cache (default: ~/.cache/recollection/snn)")
    parser.add_argument("--out", default="benchmarks/mnist_pairs")
    args = parser.parse_args()

    from recollection.snn.features import default_cache

    root = find_data_root(args.data, needs=("mnist",))
    out, cache = Path(args.out), Path(args.cache) if args.cache else default_cache()
    images, labels = mnist(root / "mnist")
    pairs = parse_pairs(args.pairs)
    c1, c2, c3 = (int(x) for x in args.presentations.split(","))
    presentations = (c1, c2, c3)
    weight_dirs: dict[str, Path] = {}
    started = time.perf_counter()
    for name in args.weights.split(","):
        if name == MNIST_STDP:
            files = learning_folder(images, labels, out / "digits" / "LearningSet", args.learning, args.train + args.test)
            print(f"STDP on {len(files)} MNIST learning digits …", flush=True)
            weight_dirs[name] = mnist_stdp(files, out / "stdp", args.stdp_seed, presentations)
        else:
            weight_dirs[Path(name).name] = resolve_weights(name, root)
    results: dict[str, dict[str, dict]] = {w: {} for w in weight_dirs}
    for a, b in pairs:
        pair_root = digit_folders(images, labels, out / "digits" / f"{a}-{b}", (a, b), args.train, args.test)
        for name, directory in weight_dirs.items():
            cfg = PipelineConfig(root=str(pair_root), weights=str(directory), naming_thresholds=args.thresholds,
                                 svm_thresholds=args.thresholds, runs=args.runs, validation_runs=args.validation_runs,
                                 seed=args.seed)
            t0 = time.perf_counter()
            result = run_pipeline(cfg, out / "pairs" / f"{a}-{b}" / name, cache).as_dict()
            results[name][f"{a}-{b}"] = row(result)
            r = results[name][f"{a}-{b}"]
            print(f"{a}-{b} {name}: " + " ".join(f"{c} {r[c]:.3f}" for c in COLUMNS)
                  + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    config = {**vars(args), "pairs": [f"{a}-{b}" for a, b in pairs], "weight_dirs": {k: str(v) for k, v in weight_dirs.items()},
              "seconds": round(time.perf_counter() - started), "python": sys.version.split()[0],
              "machine": platform.platform(), "command": " ".join(sys.argv)}
    write_json(out / "results.json", {"config": config, "results": results})
    write_text(out / "results.md", table(results))
    print(table(results))
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")


if __name__ == "__main__":
    main()
