"""How much memory does `physground ground` take for the worst pictures a user can hand it?

Crafts pictures in a temporary folder — the largest accepted (40 MP, 8-bit RGB and 16-bit RGBA
PNG, a JPEG), one just over the limit, a 1 x 6000 strip, a 20000 x 20000 decompression-bomb header,
a 16-bit greyscale picture — runs `physground ground PICTURE --out DRAWING` on each in a fresh
process, and reports its peak resident memory (``wait4``'s ``ru_maxrss``), exit status and the
first line of its error. Goal: under 1 GB for every input.

    MUJOCO_GL=egl .venv/bin/python analysis/picture-memory.py [--out docs/measurements/picture-memory.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def bomb_header(path: Path, width: int, height: int) -> None:
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    path.write_bytes(bytes(data))


def pictures(folder: Path) -> dict[str, Path]:
    """The crafted inputs, by description."""
    w, h = 8000, 5000
    ramp = (np.arange(w, dtype=np.uint32)[None, :] * 255 // w).astype(np.uint8)
    rgb = np.repeat(np.repeat(ramp, h, axis=0)[..., None], 3, axis=2)
    out = {}
    Image.fromarray(rgb).save(folder / "rgb-40mp.png", compress_level=1)
    out["8000 x 5000 RGB PNG (the largest accepted)"] = folder / "rgb-40mp.png"
    Image.fromarray(rgb).save(folder / "rgb-40mp.jpg", quality=90)
    out["8000 x 5000 JPEG"] = folder / "rgb-40mp.jpg"
    deep = (np.repeat(ramp, h, axis=0).astype(np.uint16) * 257)
    Image.fromarray(deep).save(folder / "grey16-40mp.png", compress_level=1)
    out["8000 x 5000 16-bit greyscale PNG"] = folder / "grey16-40mp.png"
    bomb_header(folder / "over.png", 8000, 8000)
    out["8000 x 8000 header (just over the limit)"] = folder / "over.png"
    Image.new("RGB", (1, 6000), (200, 10, 10)).save(folder / "strip.png")
    out["1 x 6000 strip"] = folder / "strip.png"
    bomb_header(folder / "bomb.png", 20000, 20000)
    out["20000 x 20000 header (decompression bomb)"] = folder / "bomb.png"
    return out


def peak_of(command: list[str]) -> tuple[int, float, int, str]:
    """(exit status, peak RSS in MB, seconds, last stderr line) of ``command`` in a fresh process."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    err = process.stderr.read().strip().splitlines() if process.stderr else []
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.time() - started, (err[-1] if err else "")[:110]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="write the table as markdown here")
    args = parser.parse_args()
    physground = shutil.which("physground") or str(Path(sys.executable).with_name("physground"))
    rows = ["| picture | file size | exit | peak RSS (MB) | seconds | last line of stderr |", "|---|---:|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, path in pictures(folder).items():
            code, peak, seconds, err = peak_of([physground, "ground", str(path), "--out", str(folder / f"{path.stem}-drawn.png")])
            rows.append(f"| {name} | {path.stat().st_size:,} B | {code} | {peak:.0f} | {seconds:.1f} | {err.replace('|', '/')} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    if args.out:
        text = (f"# Peak memory of `physground ground` per picture\n\n- command: `python analysis/picture-memory.py --out {args.out}`\n"
                f"- machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n- date: {time.strftime('%Y-%m-%d')}\n\n{table}\n")
        Path(args.out).write_text(text)
        print(f"written: {args.out}")


if __name__ == "__main__":
    main()
