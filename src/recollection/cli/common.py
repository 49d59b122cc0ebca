"""What every command group shares: the app, the consoles, one-line errors, devices, common options."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import RecollectionError

app = typer.Typer(
    help="Recollection: run an image forward through a CNN, then walk back from a concept "
    "neuron (or a layer's top activations, or a control) to reconstruct it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)



def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"recollection {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    pass


CACHE_HELP = "Where extracted features are cached (keyed by weights, thresholds and image files)."
Device = Annotated[str, typer.Option(help="cpu, or cuda (e.g. cuda:0) to run on a GPU.")]
Cache = Annotated[Optional[Path], typer.Option(help=CACHE_HELP)]

def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn a RecollectionError raised by ``command`` into one red line and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RecollectionError as e:
            fail(str(e))

    return wrapper


def pick_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        fail("--device cuda asked for, but CUDA is not available on this machine (use --device cpu)")
    if not (device == "cpu" or device.startswith("cuda") or device == "mps"):
        fail(f"unknown device {device!r}; use cpu or cuda (e.g. cuda:0)")
    return device



def check_writable_dir(path: Path) -> Path:
    from ..pipeline import check_writable

    return check_writable(path)



def default_cache() -> Path:
    from ..snn.features import default_cache as cache_home

    return cache_home()
