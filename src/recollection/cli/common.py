"""What every command group shares: the app, the consoles, one-line errors, devices, common options."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import RecollectionError
from ..limits import MAX_SEED

app = typer.Typer(
    help="Recollection: run an image forward through a CNN, then walk back from a concept "
    "neuron (or a layer's top activations, or a control) to reconstruct it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

CACHE_HELP = "Where extracted features are cached (keyed by weights, thresholds and image files)."
Device = Annotated[str, typer.Option(help="cpu, or cuda (e.g. cuda:0) to run on a GPU.")]
Cache = Annotated[Optional[Path], typer.Option(help=CACHE_HELP)]


def seed_option(help: str = "Seed for everything random.") -> Any:  # noqa: A002 (typer's name)
    """A --seed option bounded to what every random generator takes (0 … 2³² − 1), so an out-of-range
    seed is a usage error, not an overflow deep inside NumPy or torch."""
    return typer.Option(help=help, min=0, max=MAX_SEED)


Seed = Annotated[int, seed_option()]

def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def user_errors(command):
    """Turn a RecollectionError raised by ``command`` into one red line and exit status 2, and show
    the warnings it raises as one yellow line each (not Python's two-line source-location format)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            try:
                return command(*args, **kwargs)
            except RecollectionError as e:
                fail(str(e))

    return wrapper


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    err.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def pick_device(device: str) -> str:
    """``device`` if this machine has it, else one red line (exit 2) saying what to use instead."""
    import torch

    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and (kind != "cuda" or not index.isdecimal())):
        fail(f"unknown device {device!r}; use cpu, cuda or cuda:N (e.g. cuda:0), or mps on Apple silicon")
    if kind == "cuda":
        if not torch.cuda.is_available():
            fail(f"--device {device} asked for, but CUDA is not available on this machine (use --device cpu)")
        if index and int(index) >= torch.cuda.device_count():
            fail(f"--device {device} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s) "
                 f"(cuda:0 … cuda:{torch.cuda.device_count() - 1})")
    if kind == "mps" and not torch.backends.mps.is_available():
        fail(f"--device {device} asked for, but Apple's MPS is not available on this machine (use --device cpu)")
    return device



def check_writable_dir(path: Path) -> Path:
    from ..pipeline import check_writable

    return check_writable(path)



def default_cache() -> Path:
    from ..snn.features import default_cache as cache_home

    return cache_home()
