"""Finding, downloading, checking and loading pretrained weights, with errors a user can act on."""

from __future__ import annotations

import os
import posixpath
import re
import urllib.parse
from pathlib import Path
from typing import Mapping

import torch

from ..data.download import DownloadError, check_hash_prefix, download
from ..errors import WeightsError

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_BN_URL = "https://download.pytorch.org/models/vgg16_bn-6c64b313.pth"
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.[^.]+$")
_CHECKPOINT_KEYS = ("state_dict", "model")
_SHOWN_KEYS = 3


def hub_checkpoint_dir() -> Path:
    """Where torch.hub keeps downloaded weights, so files are shared with torchvision ($TORCH_HOME aware)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def expected_hash_prefix(path: Path) -> str | None:
    """The sha256 prefix torch-hub file names carry ('alexnet-owt-7be5be79.pth' -> '7be5be79'), or None."""
    match = _HASH_IN_NAME.search(Path(path).name)
    return match.group(1) if match else None


def resolve_weights(
    url: str,
    weights: str | os.PathLike[str] | None = None,
    *,
    download_ok: bool = True,
    offline_hint: str = "",
) -> Path:
    """Path of the weights: the given file, else torch-hub's cached copy, else a fresh download into that cache."""
    if weights is not None:
        return _existing_file(Path(weights).expanduser())
    cached = hub_checkpoint_dir() / posixpath.basename(urllib.parse.urlparse(url).path)
    if cached.is_file():
        return cached
    if not download_ok:
        raise WeightsError(_unavailable_message(url, cached, "downloads are turned off", offline_hint))
    try:
        return download(url, cached, sha256_prefix=expected_hash_prefix(cached))
    except DownloadError as exc:
        raise WeightsError(_unavailable_message(url, cached, exc.reason, offline_hint)) from None


def _existing_file(path: Path) -> Path:
    if not path.exists():
        raise WeightsError(f"weights file {path} does not exist")
    if not path.is_file():
        raise WeightsError(f"weights file {path} is not a file")
    return path


def _unavailable_message(url: str, cached: Path, reason: str, offline_hint: str) -> str:
    message = (
        f"The pretrained weights are not on this machine and could not be downloaded ({reason}). "
        f"Download {url} yourself and save it as {cached}, or point --weights PATH at a copy."
    )
    return f"{message} {offline_hint}".strip()


def load_state_dict(path: Path, *, check_hash: bool = True) -> dict[str, torch.Tensor]:
    """Tensors of a weights file: a plain state dict, or the 'state_dict'/'model' entry of a training checkpoint."""
    path = _existing_file(Path(path))
    prefix = expected_hash_prefix(path) if check_hash else None
    if prefix:
        _check_named_hash(path, prefix)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises a zoo of types: RuntimeError, UnpicklingError, EOFError, ...
        raise WeightsError(f"{path} is not a readable PyTorch weights file ({_load_failure(exc)})") from None
    return _check_values(path, _tensors(path, loaded))


def _check_values(path: Path, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Refuse complex, NaN or infinite weights: a network holding them gives meaningless output."""
    for key, tensor in state.items():
        if tensor.is_complex():
            raise WeightsError(f"{path}: {key} holds complex numbers; weights must be real")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise WeightsError(f"{path}: {key} holds {bad} NaN or infinite value(s); the weights are corrupt")
    return state


def _check_named_hash(path: Path, prefix: str) -> None:
    try:
        check_hash_prefix(path, prefix)
    except WeightsError as exc:
        raise WeightsError(f"{exc} (if '-{prefix}' in the file name is not a checksum, rename the file)") from None


def _load_failure(exc: Exception) -> str:
    """A short reason: torch's messages run to paragraphs of advice that does not apply here."""
    text = str(exc)
    if "Weights only load failed" in text:
        return "it holds pickled Python objects, not just tensors; save the model's state_dict() instead"
    first_sentence = text.strip().split(". ")[0].rstrip(".")
    return first_sentence if isinstance(exc, RuntimeError) and first_sentence else f"{type(exc).__name__}: {text}"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _tensors(path: Path, loaded: object) -> dict[str, torch.Tensor]:
    if isinstance(loaded, Mapping):
        nested = [loaded[key] for key in _CHECKPOINT_KEYS if isinstance(loaded.get(key), Mapping)]
        state = nested[0] if nested else loaded
        if state and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
            return dict(state)
        found = ", ".join(map(str, list(loaded)[:_SHOWN_KEYS * 2])) or "nothing"
        raise WeightsError(f"{path} holds no state dict of tensors (top-level keys: {found})")
    raise WeightsError(f"{path} holds a {type(loaded).__name__}, not a state dict")


def load_into(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load strictly, explaining a misfit by its keys and shapes instead of torch's long RuntimeError."""
    problems = _misfits(model.state_dict(), state_dict)
    if problems:
        raise WeightsError(f"{source} does not fit {type(model).__name__}: " + ", ".join(problems))
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{source} does not fit {type(model).__name__}: {_first_line(exc)}") from None


def _misfits(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> list[str]:
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    mismatched = [key for key in expected if key in given and given[key].shape != expected[key].shape]
    problems = []
    if missing:
        problems.append(f"missing keys {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listed(unexpected)}")
    problems += [
        f"shape mismatch {key}: file {tuple(given[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in mismatched[:_SHOWN_KEYS]
    ]
    if len(mismatched) > _SHOWN_KEYS:
        problems.append(f"{len(mismatched) - _SHOWN_KEYS} more shape mismatches")
    return problems


def _listed(keys: list[str]) -> str:
    more = f", … {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return "[" + ", ".join(keys[:_SHOWN_KEYS]) + more + "]"
