"""What the dashboard accepts from a request: uploads under a memory budget, and option values and
JSON bodies checked strictly, so a malformed request is a 400 with a message, never a 500."""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections import OrderedDict
from typing import Any, Callable, Sequence

from PIL import Image

from ..limits import MAX_SEED
from .errors import ClientError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # an upload's file (and any request body)
MAX_UPLOADS = 256  # kept in memory, the least recently used dropped first
UPLOAD_BUDGET_BYTES = 512 * 2**20  # decoded pixels of all uploads kept, the least recently used dropped first
UPLOAD_MAX_PIXELS = 16_000_000  # per upload, decoded (after any JPEG draft): a quarter of the CLI's 64 Mpx
UPLOAD_SIDE = 512  # uploads are downscaled to this shorter side: every model reads 250 × 160 or 224² or less
UPLOAD_LONG_SIDE = 4096  # ... and to this longer side, so a long strip of pixels cannot stay big
DECODES_AT_ONCE = 2  # uploads decoded at once: bounds the transient memory of concurrent uploads
MAX_JSON_DEPTH = 32  # nesting of a request body; the page sends 3


class Uploads:
    """Uploaded images by unguessable token: a user sees only the uploads whose tokens it was given.
    Memory is bounded by count and by decoded bytes; the least recently used upload goes first."""

    def __init__(self, limit: int = MAX_UPLOADS, budget: int = UPLOAD_BUDGET_BYTES) -> None:
        self.limit, self.budget = limit, budget
        self._items: OrderedDict[str, Image.Image] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def size_of(image: Image.Image) -> int:
        return image.width * image.height * len(image.getbands())

    @property
    def nbytes(self) -> int:
        """Decoded bytes held now (never above the budget)."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def add(self, image: Image.Image) -> str:
        size = self.size_of(image)
        if size > self.budget:
            raise ClientError(f"the image needs {size / 2**20:.0f} MB decoded; the dashboard keeps at most "
                              f"{self.budget / 2**20:.0f} MB of uploads")
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._items[token] = image
            self._bytes += size
            while len(self._items) > self.limit or self._bytes > self.budget:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= self.size_of(dropped)
        return token

    def get(self, token: str) -> Image.Image:
        with self._lock:
            image = self._items.get(token)
            if image is not None:
                self._items.move_to_end(token)
        if image is None:
            raise ClientError("this upload has expired or belongs to another session; upload the image again")
        return image


def shrink_upload(image: Image.Image) -> Image.Image:
    """Downscale to what the models read (shorter side UPLOAD_SIDE, longer side at most UPLOAD_LONG_SIDE)."""
    scale = min(1.0, UPLOAD_SIDE / min(image.size), UPLOAD_LONG_SIDE / max(image.size))
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
NUMBER_RANGES: dict[str, tuple[int, int]] = {"seed": (0, MAX_SEED)}  # keys whose numbers a generator or index takes as they are


def bool_option(config: dict, key: str, default: bool) -> bool:
    value = config.get(key, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ClientError(f"{key} must be true or false, got {_shown(value)}")


def number_option(config: dict, key: str, default: float, kind: Callable = float) -> float:
    """A finite number (an integer when ``kind`` is int), within NUMBER_RANGES for the keys listed there."""
    value = config.get(key, default)
    try:
        if isinstance(value, (bool, list, dict)) or value is None:
            raise TypeError
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        if kind is int:
            if number != int(number):
                raise ValueError
            number = int(value) if isinstance(value, int) else int(number)
    except (TypeError, ValueError, OverflowError):
        raise ClientError(f"{key} must be {'an integer' if kind is int else 'a number'}, got {_shown(value)}") from None
    bounds = NUMBER_RANGES.get(key)
    if bounds is not None and not bounds[0] <= number <= bounds[1]:
        low, high = bounds
        raise ClientError(f"{key} must be between {low} and {high}, got {_shown(value)}")
    return kind(number)


def choice_option(config: dict, key: str, choices: Sequence[str], default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or value not in choices:
        raise ClientError(f"unknown {key} {_shown(value)}; choose from {', '.join(choices)}")
    return value


def config_option(request: dict, key: str) -> dict:
    """A nested settings object of the request ({} when absent)."""
    value = request.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClientError(f"{key} must be an object of settings, got {_shown(value)}")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def json_depth(payload: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    depth, level = 0, [payload]
    while level:
        depth += 1
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node)
                 if isinstance(child, (dict, list))]
    return depth


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ClientError(f"the number {text[:30]} is too large")
    return value


def _integer(text: str) -> int:
    if len(text) > 40:
        raise ClientError(f"the number {text[:20]}… has {len(text)} digits; too many")
    return int(text)


def _no_constant(name: str) -> None:
    raise ClientError(f"{name} is not a number JSON allows")


def parse_json_object(body: bytes) -> dict:
    """The request's JSON object: finite numbers only, nested at most MAX_JSON_DEPTH deep."""
    try:
        payload = json.loads(body or b"{}", parse_float=_finite, parse_int=_integer, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ClientError("the request body is not valid JSON") from None
    except RecursionError:
        raise ClientError(f"the request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    if not isinstance(payload, dict):
        raise ClientError("the request body must be a JSON object")
    if json_depth(payload) > MAX_JSON_DEPTH:
        raise ClientError(f"the request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return payload
