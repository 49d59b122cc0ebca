"""`recollect attend`: show the network several images at once and recall each one's class neuron."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..attention.options import ATTEND_PARAMS
from ..cnn.registry import model_options
from .common import Device, app, check_writable_dir, out, pick_device, schema_options, seed_option, user_errors

ATTEND_OPTIONS = {**model_options("digits"), **ATTEND_PARAMS}  # every option, from the schemas


@app.command()
@user_errors
@schema_options(ATTEND_OPTIONS)
def attend(
    images: Annotated[list[Path], typer.Argument(help="Two or more image files, mixed into one picture.",
                                                 show_default=False)],
    *,
    classes: Annotated[Optional[str], typer.Option(help="The class neuron cued for each image, comma-separated "
                                                   "indices or names in image order (default: what the network "
                                                   "sees in each image alone).")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Weights file (else the embedded or cached weights).")] = None,
    seed: Annotated[int, seed_option("Seed of the random-class control and of random unpooling.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for mix.png, one recall PNG per cue "
                                          "and attend.json (scores and full configuration).")] = Path("attend"),
    device: Device = "cpu",
    **options: Any,
) -> None:
    """Mix IMAGES into one picture, run it forward once, and recall each image's class neuron from that
    same pass: does each concept neuron recall its own image (selectivity), and in its own place (tiled)?"""
    import torch

    from ..attention.api import attend_params, attend_pixels, choose_cues, describe, side_by_side
    from ..cnn.models import load_model
    from ..data.images import load_image
    from ..errors import OptionError
    from ..io import save_png, write_json

    device = pick_device(device)
    if len(images) < 2:
        raise OptionError("attend needs at least two images to mix")
    params = attend_params(**{k: options[k] for k in ATTEND_PARAMS})
    out_path = check_writable_dir(out_dir)
    info = load_model(options["model"], weights, random_init=options["random_init"])
    pixels = torch.stack([info.to_pixels(load_image(p, shorter_side=info.size)) for p in images])
    cues = choose_cues(info, pixels, [c.strip() for c in classes.split(",")] if classes else None, device)
    result = attend_pixels(info, pixels, cues, params, seed=seed, device=device)
    record = describe(info, result, [str(p) for p in images], params, seed, device)
    save_png(result.mixed.pixels[0], out_path / "mix.png")
    for k, c in enumerate(cues):
        name = f"recall-{k + 1}-{info.classes[c]}.png".replace("/", "_").replace(" ", "_")
        save_png(side_by_side([result.recalls[0, k]], side=max(info.size, 96)), out_path / name)
        record["cues"][k]["png"] = name
    write_json(out_path / "attend.json", record)
    for k in range(len(cues)):
        r = result.r[0, k]
        others = ", ".join(f"{v:.3f}" for b, v in enumerate(r) if b != k)
        out.print(f"cue {info.classes[cues[k]]!r} ({images[k].name}): r with its own image {r[k]:.3f}, "
                  f"with the other(s) {others}", highlight=False)
    s = record["scores"]
    line = f"selectivity {s['selectivity']:+.3f}"
    if s["pointing"] is not None:
        line += f"; pointing {s['pointing']:.2f}, energy in the cued cell {s['energy_in_mask']:.2f}"
    out.print(f"{line}; the network sees {record['predicted_mix']!r} in the mix", highlight=False)
    out.print(f"wrote {out_path / 'attend.json'}, mix.png and one recall PNG per cue")
