"""Safe image loading: every bad input gives a one-line ImageError; every mode becomes 8-bit RGB."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from recollection.data.images import MAX_PIXELS, MIN_SIDE, image_files, load_image
from recollection.errors import ImageError, OptionError

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _error_for(path: Path, **kwargs) -> str:
    """Load ``path`` expecting an ImageError; return its message, checked: one line, file first."""
    with pytest.raises(ImageError) as caught:
        load_image(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def _gradient(width: int = 32, height: int = 24) -> np.ndarray:
    return np.tile(np.linspace(0, 255, width), (height, 1)).round().astype(np.uint8)


def _half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _patch_png_size(path: Path, width: int, height: int) -> None:
    """Make a PNG's IHDR claim another size, with a valid CRC, without touching the pixel data."""
    data = bytearray(path.read_bytes())
    ihdr = 8 + 4  # signature, then the chunk length; the chunk type starts here
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 4 + 13]))
    data[ihdr + 4 + 13 : ihdr + 4 + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


# --- bad inputs -------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in _error_for(tmp_path / "absent.png")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "photos.png"
    folder.mkdir()
    assert "directory" in _error_for(folder)


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    assert "not an image file" in _error_for(path)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_image(tmp_path: Path, suffix: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    path = tmp_path / f"cut{suffix}"
    Image.fromarray(noise).save(path)
    assert "truncated" in _error_for(_half(path))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_too_small(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4)).save(path)
    assert "image is 4×4 pixels; at least 8×8 are needed" in _error_for(path)


def test_smallest_allowed_size_loads(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (MIN_SIDE, MIN_SIDE + 3)).save(path)
    assert load_image(path).size == (MIN_SIDE, MIN_SIDE + 3)


@pytest.mark.parametrize("side", [20_000, 12_000])  # above PIL's bomb error / warning limits
def test_huge_png_refused_before_decoding(tmp_path: Path, side: int) -> None:
    path = tmp_path / "huge.png"
    Image.new("L", (16, 16)).save(path)
    _patch_png_size(path, side, side)
    megapixels = f"{side * side / 1e6:.1f}".removesuffix(".0")
    message = _error_for(path)
    assert f"image is {side}×{side} pixels ({megapixels} Mpx)" in message
    assert f"above {MAX_PIXELS // 1_000_000} Mpx are refused: downscale it first" in message


def test_pil_limit_is_restored(tmp_path: Path) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "ok.png"
    Image.new("RGB", (16, 16)).save(path)
    load_image(path)
    assert Image.MAX_IMAGE_PIXELS == limit


def test_nonpositive_shorter_side(tmp_path: Path) -> None:
    path = tmp_path / "ok.png"
    Image.new("RGB", (16, 16)).save(path)
    with pytest.raises(OptionError, match="shorter_side"):
        load_image(path, shorter_side=0)


# --- modes ------------------------------------------------------------------------------


def _load_mode(tmp_path: Path, image: Image.Image, name: str = "img.png") -> np.ndarray:
    path = tmp_path / name
    image.save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB"
    assert loaded.size == image.size
    return np.asarray(loaded)


def test_sixteen_bit_grey_keeps_full_range(tmp_path: Path) -> None:
    values = np.tile(np.linspace(0, 65535, 64), (16, 1)).round().astype(np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    pixels = _load_mode(tmp_path, image)
    assert pixels.min() == 0 and pixels.max() == 255
    assert 120 <= pixels[0, 32, 0] <= 135  # a mid value stays mid-grey
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)


@pytest.mark.parametrize("mode", ["I;16B", "I;16"])
def test_sixteen_bit_raw_modes_scale_by_65535(tmp_path: Path, mode: str) -> None:
    image = Image.new(mode, (24, 16), 0)
    image.paste(128 * 257, (8, 0, 16, 16))
    image.paste(65535, (16, 0, 24, 16))
    path = _saved_tiff(tmp_path, image)
    with Image.open(path) as reread:
        assert reread.mode == mode
    pixels = np.asarray(load_image(path))
    assert pixels[0, ::8, 0].tolist() == [0, 128, 255]


def _saved_tiff(tmp_path: Path, image: Image.Image) -> Path:
    path = tmp_path / "img.tif"
    image.save(path)
    return path


@pytest.mark.parametrize("mode", ["I", "F"])
def test_int32_and_float_stretched_to_full_range(tmp_path: Path, mode: str) -> None:
    values = np.tile(np.linspace(-1000.5, 3000.25, 32), (16, 1))
    image = Image.fromarray(values.astype(np.int32 if mode == "I" else np.float32))
    assert image.mode == mode
    pixels = np.asarray(load_image(_saved_tiff(tmp_path, image)))
    assert pixels.min() == 0 and pixels.max() == 255
    assert np.all(np.diff(pixels[0, :, 0].astype(int)) >= 0)


def test_grey_and_bilevel(tmp_path: Path) -> None:
    grey = _load_mode(tmp_path, Image.fromarray(_gradient()))
    assert grey[0, 0].tolist() == [0, 0, 0] and grey[0, -1].tolist() == [255, 255, 255]
    bilevel = Image.new("1", (16, 16), 0)
    bilevel.paste(1, (0, 0, 8, 16))
    pixels = _load_mode(tmp_path, bilevel, "bilevel.png")
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[0, 15].tolist() == [0, 0, 0]


def test_rgba_transparent_becomes_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    image.paste((0, 0, 255, 0), (8, 0, 16, 16))
    pixels = _load_mode(tmp_path, image)
    assert pixels[0, 0].tolist() == [255, 0, 0]
    assert pixels[0, 15].tolist() == [255, 255, 255]


def test_la_half_transparent_blends_with_white(tmp_path: Path) -> None:
    pixels = _load_mode(tmp_path, Image.new("LA", (16, 16), (0, 128)))
    assert 120 <= pixels[0, 0, 0] <= 135


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (16, 16), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (8, 0, 16, 16))
    opaque = _load_mode(tmp_path, image, "opaque.png")
    assert opaque[0, 0].tolist() == [255, 0, 0] and opaque[0, 15].tolist() == [0, 255, 0]
    image.info["transparency"] = 1
    clear = _load_mode(tmp_path, image, "clear.png")
    assert clear[0, 0].tolist() == [255, 0, 0] and clear[0, 15].tolist() == [255, 255, 255]
    gif = _load_mode(tmp_path, image, "clear.gif")
    assert gif[0, 15].tolist() == [255, 255, 255]


def test_cmyk_red_stays_red(tmp_path: Path) -> None:
    image = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    for name in ("red.jpg", "red.tif"):
        r, g, b = _load_mode(tmp_path, image, name)[8, 8].astype(int)
        assert r > 200 and g < 60 and b < 60, name


def test_exif_orientation_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 255, 255))
    image.paste((0, 0, 0), (0, 0, 10, 20))  # dark left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)
    loaded = np.asarray(load_image(path))
    assert loaded.shape[:2] == (40, 20)
    assert loaded[:10].mean() < 60 and loaded[-10:].mean() > 200  # the dark edge is now on top


# --- directories ------------------------------------------------------------------------


def test_image_files_expands_directories(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("b.PNG", "a.jpg", "c.webp", "notes.txt", "d.tiff"):
        (folder / name).write_bytes(b"")
    (folder / "sub.png").mkdir()
    loose = tmp_path / "loose.dat"
    found = image_files([loose, folder])
    assert found == [loose] + [folder / n for n in ("a.jpg", "b.PNG", "c.webp", "d.tiff")]


# --- a 20 000 × 20 000 JPEG -------------------------------------------------------------


@pytest.fixture(scope="session")
def huge_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A uniform 20 000 × 20 000 JPEG, encoded in a subprocess so its 400 MB buffer is freed."""
    path = tmp_path_factory.mktemp("huge") / "huge.jpg"
    script = (
        "import sys; from PIL import Image; "
        "Image.MAX_IMAGE_PIXELS = None; "
        "Image.new('L', (20000, 20000), 128).save(sys.argv[1], quality=50)"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    return path


def test_huge_jpeg_decoded_at_reduced_scale_in_little_memory(huge_jpeg: Path) -> None:
    script = textwrap.dedent(
        """
        import resource, sys
        sys.path.insert(0, sys.argv[2])
        from recollection.data.images import load_image
        image = load_image(sys.argv[1], shorter_side=224)
        # VmHWM is this process's own peak; ru_maxrss would carry the parent's across exec
        peak_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
        print(image.mode, min(image.size), peak_kib)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(huge_jpeg), SRC],
        check=True,
        capture_output=True,
        text=True,
    )
    mode, shorter, peak_kib = result.stdout.split()
    assert mode == "RGB"
    assert 224 <= int(shorter) <= 20_000 // 8
    assert int(peak_kib) < 600 * 1024, f"peak RSS {int(peak_kib) // 1024} MB"


def test_huge_jpeg_without_target_is_drafted_not_refused(huge_jpeg: Path) -> None:
    image = load_image(huge_jpeg)
    assert image.size == (2500, 2500)
    assert abs(int(np.asarray(image)[1000, 1000, 0]) - 128) <= 2
