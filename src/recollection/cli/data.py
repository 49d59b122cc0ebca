"""`recollect data fetch …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import app, err, out, user_errors
from .common import seed_option

data_app = typer.Typer(help="Fetch and prepare the data sets the experiments use.", no_args_is_help=True)
fetch_app = typer.Typer(help="Download a data set and build the layout the experiments read.", no_args_is_help=True)
app.add_typer(data_app, name="data")
data_app.add_typer(fetch_app, name="fetch")


@fetch_app.command("caltech101")
@user_errors
def fetch_caltech101_cmd(
    dest: Annotated[Path, typer.Option("--dest", help="Folder for caltech-101.zip and the caltech_face_motor/ layout.",
                                       show_default=False)],
    seed: Annotated[int, seed_option("Seed of the random split.")] = 0,
    archive: Annotated[Optional[Path], typer.Option(help="caltech-101.zip (or the 101_ObjectCategories.tar.gz inside it) "
                                                    "downloaded by hand from https://data.caltech.edu/records/mzrjq-6wc02.")] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never download: use --archive or an archive already in DEST.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing DEST/caltech_face_motor built with another split.")] = False,
) -> None:
    """Caltech-101 Faces and Motorbikes split as the naming experiments use them: TrainingSet 200+200,
    TestingSet 198+198, LearningSet 237+237 (training plus 37 per class), in DEST/caltech_face_motor."""
    from ..data.caltech import fetch_caltech101

    result = fetch_caltech101(dest, seed=seed, archive=archive, download_ok=not no_download, overwrite=overwrite,
                              progress=lambda message: err.print(message, highlight=False))
    sizes = ", ".join(f"{part} {n}+{n}" for part, n in result["sizes"].items())
    out.print(f"{result['root']}: {sizes} (seed {result['seed']}; split.json lists the files)", highlight=False)
