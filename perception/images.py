"""Reading pictures from disk with bounded memory: every picture an agent or a grounder is shown
from a file (``physground ground``, ``eval-images``) comes through here.

A picture is refused, with one line naming the file and the reason, before its pixels are decoded
when its header claims more than ``MAX_PICTURE_PIXELS`` pixels (decompression bombs included) or a
side shorter than ``MIN_PICTURE_SIDE``. JPEGs are decoded at a reduced scale where the target size
allows (``draft``). 16-bit and floating-point pictures are scaled to 8 bits by their own range
instead of being clipped to white. The result is centre-cropped to a square and resized.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PICTURE_PIXELS = 40_000_000
"""Largest picture accepted (width x height): 40 MP, e.g. 8000 x 5000, decodes to at most 320 MB
(16-bit RGBA) before it is reduced."""
MIN_PICTURE_SIDE = 16
"""Shortest side accepted (pixels): a narrower picture holds no scene to see."""


HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
"""Pillow modes of 16-bit and 32-bit (integer or float) greyscale pictures."""


def square_resize(image: Image.Image, size: int) -> np.ndarray:
    """Centre-crop to a square, resize to ``size`` x ``size``, RGB uint8 (H, W, 3). High-depth
    pictures are reduced in their own depth first, so only the small result is rescaled."""
    w, h = image.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    square = image.crop((left, top, left + side, top + side))
    if image.mode in HIGH_DEPTH_MODES:
        depth = 65535.0 if image.mode.startswith("I;16") else None
        values = square.convert("I").convert("F") if image.mode != "F" else square
        return np.asarray(to_rgb8(values.resize((size, size), Image.BICUBIC), depth))
    return np.asarray(to_rgb8(square).resize((size, size), Image.BICUBIC))


def to_rgb8(image: Image.Image, depth: float | None = None) -> Image.Image:
    """An 8-bit RGB copy of ``image``. High-depth greyscale is scaled from ``[0, depth]`` (default:
    65535 for 16-bit modes, for 32-bit integers 65535 or 255 by their values, for floats their own
    maximum), not clipped to white; palettes and alpha are resolved as Pillow does."""
    if image.mode not in HIGH_DEPTH_MODES:
        return image.convert("RGB")
    values = np.asarray(image, dtype=np.float32)
    if depth is None:
        if image.mode.startswith("I;16"):
            depth = 65535.0
        elif image.mode == "I":
            depth = 65535.0 if values.max(initial=0) > 255 else 255.0
        else:
            depth = max(float(values.max(initial=0)), 1e-12)
    grey = np.clip(values * np.float32(255.0 / depth) + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=2))


def read_picture(path: str | Path, size: int) -> np.ndarray:
    """The picture at ``path`` as an RGB uint8 array of shape (size, size, 3).

    Raises:
        FileNotFoundError: No file there.
        ValueError: Not a readable picture, too many pixels, too small, or truncated; naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no picture at {str(path)!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_PICTURE_PIXELS:
                    raise ValueError(f"picture {str(path)!r} is {width} x {height} pixels, more than the {MAX_PICTURE_PIXELS:,} accepted; scale it down first")
                if min(width, height) < MIN_PICTURE_SIDE:
                    raise ValueError(f"picture {str(path)!r} is {width} x {height} pixels; a side shorter than {MIN_PICTURE_SIDE} holds no scene")
                if image.format == "JPEG":
                    image.draft("RGB", (size, size))  # decode at 1/2, 1/4 or 1/8 scale when that still covers the target
                return square_resize(image, size)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's own limit, met while opening
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(claimed.group(1)):,}" if claimed else "too many"
        raise ValueError(f"picture {str(path)!r} claims {count} pixels, more than the {MAX_PICTURE_PIXELS:,} accepted (a decompression bomb?)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"cannot read picture {str(path)!r}: not a readable picture ({exc.__class__.__name__}: {' '.join(str(exc).split())[:120]})") from exc
