"""Pictures from disk are bounded before they are decoded, and read in their own range."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from physground.experiments.cli import main
from physground.perception.images import MAX_PICTURE_PIXELS, read_picture


def png_claiming(path, width: int, height: int) -> None:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's header)."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    path.write_bytes(bytes(data))


def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(tmp_path):
    png_claiming(tmp_path / "bomb.png", 20000, 20000)
    assert (tmp_path / "bomb.png").stat().st_size < 200
    with pytest.raises(ValueError, match=rf"bomb.png' claims 400,000,000 pixels, more than the {MAX_PICTURE_PIXELS:,} accepted") as info:
        read_picture(tmp_path / "bomb.png", 128)
    assert "\n" not in str(info.value)
    png_claiming(tmp_path / "big.png", 9000, 9000)  # under Pillow's own limit, over ours
    with pytest.raises(ValueError, match=rf"big.png' is 9000 x 9000 pixels, more than the {MAX_PICTURE_PIXELS:,} accepted"):
        read_picture(tmp_path / "big.png", 128)


def test_a_picture_too_thin_to_hold_a_scene_is_refused(tmp_path):
    Image.new("RGB", (1, 6000), (200, 10, 10)).save(tmp_path / "thin.png")
    with pytest.raises(ValueError, match="is 1 x 6000 pixels; a side shorter than 16 holds no scene"):
        read_picture(tmp_path / "thin.png", 128)


def test_sixteen_bit_pictures_keep_their_brightness(tmp_path):
    grey = np.full((40, 60), 30000, np.uint16)
    Image.fromarray(grey).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    pixels = read_picture(tmp_path / "deep.png", 32)
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    assert abs(int(pixels.mean()) - round(30000 / 65535 * 255)) <= 1, "scaled by the bit depth, not clipped to white"


def test_wide_and_truncated_pictures(tmp_path):
    Image.new("RGB", (300, 100), (0, 0, 255)).save(tmp_path / "wide.jpg")
    assert read_picture(tmp_path / "wide.jpg", 64).shape == (64, 64, 3)
    Image.new("RGB", (300, 300), (0, 255, 0)).save(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:60])
    with pytest.raises(ValueError, match="cannot read picture .*cut.png"):
        read_picture(tmp_path / "cut.png", 64)
    with pytest.raises(FileNotFoundError, match="no picture at"):
        read_picture(tmp_path / "none.png", 64)


@pytest.mark.parametrize("name", ["bomb.png", "thin.png"])
def test_ground_refuses_a_bad_picture_in_one_line_and_writes_nothing(tmp_path, capsys, name):
    if name == "bomb.png":
        png_claiming(tmp_path / name, 20000, 20000)
    else:
        Image.new("RGB", (1, 6000)).save(tmp_path / name)
    before = set(tmp_path.iterdir())
    assert main(["ground", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("physground: error: picture") and err.count("\n") == 1
    assert set(tmp_path.iterdir()) == before
