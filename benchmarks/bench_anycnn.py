"""Benchmark recollection of any CNN: VGG-16 and ResNet-18 (random, seeded weights, 224×224),
against the forward pass and Captum's Deconvolution, and AlexNet against its previous figures.

    PYTHONPATH=src python benchmarks/bench_anycnn.py [--quick] [--threads 2] [--models vgg16,resnet18,alexnet]
    PYTHONPATH=src python benchmarks/bench_anycnn.py --unpool-r   # switches vs switches-overwrite on AlexNet

Targets (ratios measured in the same run, interleaved, medians):
- recall (the walk back on a recorded trace) ≤ 1.5× the forward pass;
- full recollection (recorded forward + recall) within 1.2× of Captum's Deconvolution at batch 1,
  and faster than it per image at batch 32;
- AlexNet: those ratios no more than 5 % above the ones in benchmarks/results.json (the previous
  engine's run of bench_retrace.py).
Prints a Markdown table and writes benchmarks/results_anycnn.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
warnings.filterwarnings("ignore", module="captum")
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bench_retrace import Contention, Timer, environment, fmt_s, rel_diff  # noqa: E402
from recollection.cnn.alexnet import AlexNet  # noqa: E402
from recollection.cnn.loaders import build_imagenet  # noqa: E402
from recollection.retrace.engine import Recollector  # noqa: E402

FAVOURITE = dict(normalize="rescale_std", positivise=True, positivise_conv=True)
CAPTUM_EQUAL = dict(normalize=None, positivise=True, positivise_conv=True, rectify_input=False)
TARGETS = {"recall_over_forward": 1.5, "full_over_captum_1": 1.2, "full_over_captum_32": 1.0,
           "alexnet_regression": 1.05}


def make_model(name: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return (AlexNet() if name == "alexnet" else build_imagenet(name)).eval()


def measure(model, batch: int, timer: Timer, warmup: int, repeats: int, seed: int) -> dict:
    """Interleaved rounds of: forward, perceive, recall (favourite and normalize=None), Captum."""
    from captum.attr import Deconvolution

    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(seed + batch))
    rec, rec_none = Recollector(model, **FAVOURITE), Recollector(model, **CAPTUM_EQUAL)
    trace = rec.perceive(x)  # the first batch of a shape also runs model(x) for the replay check
    target = trace.predicted.tolist()
    deconv = Deconvolution(model)

    def forward():
        with torch.inference_mode():
            return model(x)

    fns = {"forward": forward, "perceive": lambda: rec.perceive(x), "recall": lambda: rec.recall(trace),
           "recall_none": lambda: rec_none.recall(trace), "captum": lambda: deconv.attribute(x, target=target)}
    times = timer.interleaved(fns, warmup, repeats)
    per_round = {k: v["times_s"] for k, v in times.items()}
    full = [p + r for p, r in zip(per_round["perceive"], per_round["recall"])]
    full_none = [p + r for p, r in zip(per_round["perceive"], per_round["recall_none"])]
    out = {k: statistics.median(v) for k, v in per_round.items()}
    out["full"], out["full_none"] = statistics.median(full), statistics.median(full_none)
    if batch == 1:  # the computation Captum does, checked on the benchmark's own input
        out["captum_rel_diff"] = rel_diff(rec_none.recall(trace, target=target).image, deconv.attribute(x, target=target))
    return out


def summarise(name: str, t: dict, batch: int) -> dict:
    return {"model": name, "batch": batch, **{f"{k}_s": v for k, v in t.items() if not k.endswith("diff")},
            "recall_over_forward": t["recall"] / t["forward"], "perceive_over_forward": t["perceive"] / t["forward"],
            "full_over_captum": t["full"] / t["captum"], "full_none_over_captum": t["full_none"] / t["captum"],
            "captum_rel_diff": t.get("captum_rel_diff")}


def alexnet_baseline() -> dict | None:
    """The previous engine's AlexNet ratios (bench_retrace.py's results.json), if there."""
    path = HERE / "results.json"
    if not path.exists():
        return None
    s = json.loads(path.read_text()).get("summary", {})
    return {1: (s.get("backward_over_forward_1"), s.get("ours_over_captum_1")),
            32: (s.get("backward_over_forward_32"), s.get("ours_over_captum_32"))}


def verdicts(row: dict, baseline: dict | None) -> list[tuple[str, float, float, bool]]:
    """(what, value, bound, met) for the row's targets."""
    checks = []
    if row["model"] == "alexnet":
        if baseline and all(baseline[row["batch"]]):
            before_recall, before_full = baseline[row["batch"]]
            bound = TARGETS["alexnet_regression"]
            checks.append(("recall/forward vs before", row["recall_over_forward"] / before_recall, bound,
                           row["recall_over_forward"] / before_recall <= bound))
            checks.append(("full/Captum vs before", row["full_over_captum"] / before_full, bound,
                           row["full_over_captum"] / before_full <= bound))
        return checks
    bound = TARGETS["recall_over_forward"]
    checks.append(("recall/forward", row["recall_over_forward"], bound, row["recall_over_forward"] <= bound))
    key = "full_over_captum_1" if row["batch"] == 1 else "full_over_captum_32"
    bound = TARGETS[key]
    met = row["full_over_captum"] <= bound if row["batch"] == 1 else row["full_over_captum"] < bound
    checks.append(("full/Captum", row["full_over_captum"], bound, met))
    return checks


def print_table(rows: list[dict], baseline: dict | None) -> None:
    print("| model | batch | forward | perceive | recall | full | Captum | recall / fwd | full / Captum "
          "| full (none) / Captum | targets |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        marks = "; ".join(f"{what} {value:.2f} ≤ {bound:g}: {'yes' if met else '**no**'}"
                          for what, value, bound, met in verdicts(r, baseline))
        print(f"| {r['model']} | {r['batch']} | {fmt_s(r['forward_s'])} | {fmt_s(r['perceive_s'])} | "
              f"{fmt_s(r['recall_s'])} | {fmt_s(r['full_s'])} | {fmt_s(r['captum_s'])} | "
              f"{r['recall_over_forward']:.2f}× | {r['full_over_captum']:.2f}× | {r['full_none_over_captum']:.2f}× "
              f"| {marks} |")
    print()
    for r in rows:
        if r["captum_rel_diff"] is not None:
            print(f"- {r['model']}: ours with normalize=None (Captum's settings) vs Captum Deconvolution, max rel. "
                  f"diff {r['captum_rel_diff']:.1e}")
    print()


def unpool_r(seed: int, n: int = 8) -> None:
    """Pearson r between ``switches`` and ``switches-overwrite`` reconstructions on AlexNet (random weights)."""
    from recollection.scores import pearson

    model = make_model("alexnet", seed)
    x = torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(seed + 1))
    print("| options | r (mean, min–max) |\n|---|---|")
    for name, options in (("favourite (`rescale_std`, positivise both)", FAVOURITE),
                          ("`normalize=none`, Captum's rectification", CAPTUM_EQUAL)):
        a = Recollector(model, **options)(x).image
        b = Recollector(model, **options, unpool="switches-overwrite")(x).image
        rs = [pearson(a[i], b[i]) for i in range(n)]
        print(f"| {name} | {sum(rs) / n:.4f} ({min(rs):.4f}–{max(rs):.4f}) |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1 warm-up and 2 rounds instead of 1 and 5")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--models", default="vgg16,resnet18,alexnet")
    p.add_argument("--batches", default="1,32")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=HERE / "results_anycnn.json")
    p.add_argument("--unpool-r", action="store_true", help="only: r between switches and switches-overwrite "
                                                          "on AlexNet (random weights, 8 images)")
    args = p.parse_args(argv)
    if args.unpool_r:
        torch.set_num_threads(args.threads)
        unpool_r(args.seed)
        return 0

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    env = environment(device, args.threads)
    print(f"Random weights (seed {args.seed}), 224×224, CPU, {args.threads} threads, torch {env['torch']}, "
          f"captum {env['captum']}\n")
    timer = Timer(device)
    contention = Contention()
    baseline = alexnet_baseline()
    rows = []
    for name in args.models.split(","):
        model = make_model(name, args.seed)
        for batch in map(int, args.batches.split(",")):
            t = measure(model, batch, timer, warmup=1, repeats=2 if args.quick else 5, seed=args.seed)
            rows.append(summarise(name, t, batch))
            print(f"  {name} batch {batch}: recall/forward {rows[-1]['recall_over_forward']:.2f}, "
                  f"full/Captum {rows[-1]['full_over_captum']:.2f}", file=sys.stderr)
        del model
    print_table(rows, baseline)
    others = contention.others_share()
    if others is not None:
        print(f"Other processes used {100 * others:.0f}% of the machine's CPU time during the benchmark"
              + (" — the timings are disturbed; rerun on a quiet machine." if others > 0.1 else ".") + "\n")
    env["others_cpu_share"] = others
    results = {"environment": env, "quick": args.quick, "targets": TARGETS, "rows": rows,
               "verdicts": [{"model": r["model"], "batch": r["batch"],
                             "checks": [dict(zip(("what", "value", "bound", "met"), v)) for v in verdicts(r, baseline)]}
                            for r in rows],
               "alexnet_baseline": {str(k): v for k, v in (baseline or {}).items()}}
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
