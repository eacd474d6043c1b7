"""(Shared helper) Write a computation on recorded cells as a markdown measurement file: title,
the command that reproduces it, the machine, the date and what the numbers rest on, then the body."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def write_measurement(path: str | Path, title: str, command: str, basis: str, lines: list[str]) -> None:
    """Write ``lines`` under a header naming ``command`` (as run from the repository root), this
    machine, today's date and ``basis`` (e.g. the seeds and episodes the numbers rest on)."""
    text = (f"# {title}\n\n- command: `{command}`\n"
            f"- machine: {platform.machine()}, {os.cpu_count()} cores (CPU; a computation on the recorded cells)\n"
            f"- date: {time.strftime('%Y-%m-%d')}; {basis}\n\n" + "\n".join(lines) + "\n")
    Path(path).write_text(text)
    print(f"written: {path}")
