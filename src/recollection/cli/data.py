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


@fetch_app.command("mnist")
@user_errors
def fetch_mnist_cmd(
    dest: Annotated[Path, typer.Option("--dest", help="Data folder: the idx .gz files go to DEST/mnist/, where "
                                       "--data DEST and --mnist-dir DEST/mnist read them.", show_default=False)],
    train: Annotated[bool, typer.Option("--train", help="Also the 60 000 training digits (about 10 MB more); "
                                        "the test set's 10 000 digits are what the commands read.")] = False,
    archive: Annotated[Optional[list[Path]], typer.Option(help="A folder holding MNIST's .gz files as published, one "
                                                          "of the files, or a zip / tar holding them (repeatable); "
                                                          "checked against the published md5s.")] = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never download: use --archive or files already "
                                              "in DEST/mnist.")] = False,
) -> None:
    """MNIST's idx files (gzip, as published) in DEST/mnist: the 10 000 test digits (and with --train the
    60 000 training digits), each checked against its published md5."""
    from ..data.mnist import fetch_mnist

    result = fetch_mnist(dest, train=train, sources=archive or (), download_ok=not no_download,
                         progress=lambda message: err.print(message, highlight=False))
    sets = "test and training sets (70 000 digits)" if train else "test set (10 000 digits)"
    out.print(f"{result['root']}: MNIST {sets}, {len(result['files'])} files, md5 checked", highlight=False)
