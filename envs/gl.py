"""Choose MuJoCo's OpenGL backend before ``mujoco`` is imported.

MuJoCo reads ``MUJOCO_GL`` once, at import time. physground renders headless, so it asks for
EGL (works on CPU through Mesa's llvmpipe and on NVIDIA GPUs) and falls back to OSMesa, with a
message saying why, when no EGL library can be loaded. A value the user set is respected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings

IMPORTED_TOO_EARLY = False
"""True when mujoco was imported before the backend was chosen (MuJoCo then ignored it)."""

_BACKEND_LIBRARIES = {"egl": ("EGL", "libEGL.so.1"), "osmesa": ("OSMesa", "libOSMesa.so.8")}


def _can_load(backend: str) -> bool:
    """Return True when the shared library behind ``backend`` can be opened."""
    short_name, soname = _BACKEND_LIBRARIES[backend]
    for candidate in (soname, ctypes.util.find_library(short_name)):
        if not candidate:
            continue
        try:
            ctypes.CDLL(candidate)
            return True
        except OSError:
            continue
    return False


def configure_gl_backend() -> str:
    """Set ``MUJOCO_GL`` (EGL, else OSMesa) unless the user chose one; return the backend.

    Returns:
        The backend name MuJoCo will use ("egl", "osmesa", "glfw" ...).
    """
    chosen = os.environ.get("MUJOCO_GL")
    if chosen:
        backend = chosen.lower()
    elif _can_load("egl"):
        backend = "egl"
    else:
        backend = "osmesa"
        warnings.warn(
            "physground: no EGL library (libEGL.so.1) could be loaded, so MuJoCo will render with "
            "OSMesa (slower). Install Mesa's libegl1 for headless EGL rendering.",
            RuntimeWarning,
            stacklevel=2,
        )
    global IMPORTED_TOO_EARLY
    if "mujoco" in sys.modules and os.environ.get("MUJOCO_GL", "").lower() != backend:
        IMPORTED_TOO_EARLY = True
        warnings.warn(
            f"physground: mujoco was imported before physground could set MUJOCO_GL={backend}; "
            "set MUJOCO_GL in the environment or import physground's envs first.",
            RuntimeWarning,
            stacklevel=2,
        )
    os.environ["MUJOCO_GL"] = backend
    if backend in ("egl", "osmesa"):
        # PyOpenGL must use the same platform as MuJoCo's context.
        os.environ.setdefault("PYOPENGL_PLATFORM", backend)
    return backend
