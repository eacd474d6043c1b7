"""Writing files so that nothing half-written is ever left behind, and locks (envs is the
dependency root, so every package can use this).

Atomic writes are durable: the data is flushed to disk (``fsync``) before the rename that makes it
visible, and the folder holding it after, so a crash or power cut leaves the old file or the new
one. A folder swap interrupted between its two renames is put right by
:func:`recover_directory`."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Example:
        >>> with atomic_path("out.png") as tmp:
        ...     image.save(tmp, format="PNG")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; if the block succeeds, the folder replaces
    ``path`` (a folder already there is moved aside first and deleted after), otherwise it is
    deleted. Readers of ``path`` see the old folder or the new one, never a mix.

    Example:
        >>> with atomic_directory("runs/x/checkpoint") as work:
        ...     (work / "state.json").write_text("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield work
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(work, 0o777 & ~umask)  # mkdtemp makes it private (0700)
        for item in work.rglob("*"):
            if item.is_file():
                _fsync(item)
        _fsync(work)
        old = _old_copy(path)
        recover_directory(path)
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            os.replace(path, old)
        os.replace(work, path)  # a crash between the two renames leaves only ``old``: see recover_directory
        _fsync(path.parent)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _old_copy(path: Path) -> Path:
    return path.parent / f".{path.name}.old"


def recover_directory(path: str | Path) -> bool:
    """Put back a folder that :func:`atomic_directory` had moved aside when it was interrupted
    before renaming the new one in (the old one is complete). Returns whether it did.

    Leftover temporary folders of interrupted swaps (``.NAME.*.partial``) are deleted.
    """
    path = Path(path)
    old = _old_copy(path)
    for partial in path.parent.glob(f".{path.name}.*.partial") if path.parent.exists() else ():
        if not _recently_changed(partial):  # a swap still writing in another process is left alone
            shutil.rmtree(partial, ignore_errors=True)
    if not path.exists() and old.is_dir():
        os.replace(old, path)
        _fsync(path.parent)
        return True
    return False


def _recently_changed(path: Path, seconds: float = 60.0) -> bool:
    try:
        return time.time() - path.stat().st_mtime < seconds
    except FileNotFoundError:
        return False


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's entries to disk (folders: where the OS allows it)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:  # e.g. folders on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def exclusive_lock(path: str | Path, what: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) while the block runs; the OS frees
    it when the holding process dies, however it dies.

    Args:
        path: The lock file (kept afterwards: deleting lock files races with other holders).
        what: How errors name the locked thing, e.g. "ablation out/x".
        wait_seconds: How long to wait for another holder to let go.

    Raises:
        RuntimeError: Another process holds it for longer than ``wait_seconds`` (naming its pid).
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "unknown"
                    raise RuntimeError(f"{what} is in use by another process (pid {holder}); wait for it to end or stop it") from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)


def weights_digest(folder: str | Path) -> str:
    """SHA-256 over every ``*.safetensors`` file under ``folder`` (relative names and contents, in
    sorted order): identifies the weights a run loaded, whatever the folder's cards or configs say.

    Raises:
        FileNotFoundError: ``folder`` holds no ``.safetensors`` file.
    """
    folder = Path(folder)
    files = sorted(folder.rglob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors weights in {str(folder)!r}")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.relative_to(folder).as_posix().encode() + b"\0")
        with open(f, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
