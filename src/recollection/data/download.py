"""Downloads that resume, show progress, verify a checksum and never leave a half-written file in place."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..errors import RecollectionError, WeightsError

_CHUNK = 1 << 16
_HTTP_RANGE_NOT_SATISFIABLE = 416


class DownloadError(RecollectionError):
    """A download failed for a network reason (unreachable host, timeout, HTTP error, cut connection)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"could not download {url}: {reason}")
        self.url = url
        self.reason = reason


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large weights files need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_hash_prefix(path: Path, prefix: str) -> None:
    """Raise WeightsError unless the file's sha256 starts with ``prefix`` (torch-hub's naming convention)."""
    actual = sha256_of(path)[: len(prefix)]
    if actual != prefix.lower():
        raise WeightsError(
            f"{path} is corrupt or incomplete: its sha256 starts with {actual}, expected {prefix.lower()}; "
            "delete it and download it again"
        )


def download(
    url: str,
    dest: Path,
    *,
    sha256_prefix: str | None = None,
    description: str = "",
    timeout: float = 30.0,
) -> Path:
    """Fetch ``url`` to ``dest`` through ``dest.part``, resuming a previous partial download; returns ``dest``."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        _fetch(url, part, description or dest.name, timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(url, f"the server answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(url, str(exc.reason)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadError(url, str(exc) or type(exc).__name__) from None
    if sha256_prefix:
        _verify_download(url, part, sha256_prefix)
    os.replace(part, dest)
    return dest


def _verify_download(url: str, part: Path, prefix: str) -> None:
    actual = sha256_of(part)[: len(prefix)]
    if actual != prefix.lower():
        part.unlink()
        raise WeightsError(
            f"the file downloaded from {url} is corrupt: its sha256 starts with {actual}, "
            f"expected {prefix.lower()}; the download was deleted, run again to download it anew"
        )


def _fetch(url: str, part: Path, description: str, timeout: float) -> None:
    """Append the rest of ``url`` to ``part``, or rewrite ``part`` when the server cannot resume."""
    offset = part.stat().st_size if part.exists() else 0
    response, offset = _open_from(url, offset, timeout)
    with response:
        total = _total_size(response, offset)
        with open(part, "ab" if offset else "wb") as out, _progress() as progress:
            task = progress.add_task(description, total=total, completed=offset)
            received = offset + _copy(response, out, lambda n: progress.advance(task, n))
    if total is not None and received < total:
        raise ConnectionError(f"the connection closed after {received} of {total} bytes; run again to resume")


def _open_from(url: str, offset: int, timeout: float) -> tuple[http.client.HTTPResponse, int]:
    """Open ``url`` at ``offset`` if the server can resume there, else from the start; returns (response, start)."""
    if offset:
        try:
            response = _open(url, offset, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != _HTTP_RANGE_NOT_SATISFIABLE:  # 416: the .part is as long as the file, or longer
                raise
        else:
            if response.status != 206:  # the server ignored Range and sends the whole file
                return response, 0
            if _content_range_start(response) == offset:
                return response, offset
            response.close()
    return _open(url, 0, timeout), 0


def _open(url: str, offset: int, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    return urllib.request.urlopen(request, timeout=timeout)


def _content_range_start(response: http.client.HTTPResponse) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _total_size(response: http.client.HTTPResponse, offset: int) -> int | None:
    length = response.headers.get("Content-Length")
    return offset + int(length) if length and length.isdecimal() else None


def _copy(response: http.client.HTTPResponse, out: BinaryIO, advance: Callable[[int], object]) -> int:
    copied = 0
    while block := response.read(_CHUNK):
        out.write(block)
        copied += len(block)
        advance(len(block))
    return copied


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
