"""Draw docs/recall.png: spiking recalls from name neurons (the README's figure).

    cd /work/main && PYTHONPATH=src python docs/recall_figure.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from recollection.experiments.naming_engine import recall_setup
from recollection.naming.recall import recall_name, score, train_names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=str(Path(__file__).with_name("recall.png")))
    args = parser.parse_args()
    cache = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "recollection" / "snn")
    rows = [("caltech", "paper", "rate"), ("caltech", "paper", "spikes"), ("mnist", "corrected", "rate"),
            ("mnist", "corrected", "spikes")]
    fig, axes = plt.subplots(len(rows), 4, figsize=(12, 2.1 * len(rows)))
    for row, (dataset, rule, flavour) in enumerate(rows):
        s = recall_setup(args.data, "mnist", "sdnn_weights", cache, dataset, "run61", 7.0, 20.25)
        names = train_names(s, "full", rule=rule)
        for c, cls in enumerate(s.classes):
            recalled = recall_name(s, names, c, flavour)
            result = score(s, names, recalled, c)
            ax_map, ax_mean = axes[row, 2 * c], axes[row, 2 * c + 1]
            ax_map.imshow(recalled.dog, cmap="gray")
            ax_map.set_title(f"{dataset} {flavour}: recall of {cls}\nr own {result['r_own']:.2f} / other "
                             f"{result['r_other']:.2f}, named {result['named']}", fontsize=8)
            ax_mean.imshow(np.clip(s.means[c], 0, np.percentile(s.means[c], 99.5)), cmap="gray")
            ax_mean.set_title(f"mean DoG map of {cls} (test set)", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    from PIL import Image

    Image.open(args.out).convert("L").save(args.out, optimize=True)  # grey: a third of the size
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
