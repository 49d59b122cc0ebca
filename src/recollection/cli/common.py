"""What every command group shares: the app, the consoles, one-line errors, devices, common options."""

from __future__ import annotations

import functools
import inspect
from enum import Enum
from pathlib import Path
import warnings
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..cnn.registry import model_options
from ..errors import RecollectionError
from ..limits import MAX_SEED
from ..schema import Param

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


def schema_option(name: str, param: Param) -> Any:
    """The typer option of one schema parameter: ``--name`` (a bool off by default), ``--name/--no-name``
    (a bool on by default), a choice among ``param.choices``, or a plain typed value."""
    flag = "--" + name.replace("_", "-")
    kind = param.kinds[0]
    if kind is bool:
        decls = (flag,) if not param.default else (f"{flag}/--no-{flag[2:]}",)
        return Annotated[bool, typer.Option(*decls, help=param.help)]
    if param.choices:  # typer >= 0.12 offers choices through an Enum
        choices: Any = Enum(name.title().replace("_", ""), {str(c): c for c in param.choices}, type=str)  # type: ignore[misc]
        return Annotated[choices, typer.Option(flag, help=param.help)]
    low, high = param.bounds
    return Annotated[kind, typer.Option(flag, help=param.help, min=low, max=high)]


def schema_options(schema: dict[str, Param]) -> Callable:
    """Decorator: one typer option per schema parameter, with its default, choices and help, inserted before
    the command's keyword-only parameters; the command receives them as plain values in ``**options``."""

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        split = next((i for i, p in enumerate(own) if p.kind is p.KEYWORD_ONLY), len(own))
        generated = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=param.default,
                                       annotation=schema_option(name, param)) for name, param in schema.items()]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            return command(*args, **{k: plain(v) for k, v in kwargs.items()})

        wrapper.__signature__ = signature.replace(parameters=own[:split] + generated + own[split:])  # type: ignore[attr-defined]
        return wrapper

    return decorate


def plain(value: Any) -> Any:
    """A choice's value (typer hands choices over as Enum members)."""
    return value.value if isinstance(value, Enum) else value


Model = schema_option("model", model_options("digits")["model"])  # --model: a registered model (cnn/registry.py)
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
