"""What every command group shares: the app, the consoles, one-line errors, devices, common options."""

from __future__ import annotations

import functools
import inspect
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..cnn.registry import model_options
from ..errors import RecollectionError
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
        kind = Enum(name.title().replace("_", ""), {str(c): c for c in param.choices}, type=str)
    return Annotated[kind, typer.Option(flag, help=param.help)]


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
