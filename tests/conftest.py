import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torch.set_num_threads(min(2, torch.get_num_threads()))
SHARED = Path(os.environ.get("RECOLLECTION_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture
def digit_png(tmp_path: Path) -> Path:
    """A 32×32 grey digit-like picture (a bright ring: a zero)."""
    yy, xx = np.mgrid[:32, :32]
    r = np.hypot(yy - 16, xx - 16)
    ring = ((r > 7) & (r < 11)).astype(np.uint8) * 255
    path = tmp_path / "zero.png"
    Image.fromarray(ring).save(path)
    return path


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: this test needs ../shared (or RECOLLECTION_SHARED) with the project data")
    return path
