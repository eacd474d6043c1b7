"""One offscreen renderer per world model, shared by every :class:`~envs.scene.World` that uses it.

Creating a ``mujoco.Renderer`` (a GL context plus MuJoCo's GPU-side copies of the model's textures
and buffers) costs about 0.2 s on a CPU with Mesa, and an evaluation makes one env per episode in
a batch for each of six tasks: half of a quick-preset evaluation went into creating renderers.
Worlds built from the same model XML hold identical textures, meshes and framebuffer settings, so
they can draw through one renderer: each render rebuilds the renderer's scene from the calling
world's own ``MjModel`` and ``MjData`` (colours, materials, lights and camera are read there, per
frame), and the pixels are the same as with a renderer of its own (tests/envs/test_renderers.py).

A renderer is shared only within one process and one thread: a GL context must not be current on
two threads at once, and a forked child must not use its parent's context. It is closed when the
last world using it releases it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass

import numpy as np

from physground.envs import gl

gl.configure_gl_backend()
import mujoco  # noqa: E402  (MUJOCO_GL must be set first)

_ALL_CATEGORIES = mujoco.mjtCatBit.mjCAT_ALL


@dataclass
class _Shared:
    renderer: mujoco.Renderer
    users: int


PoolKey = tuple[int, int, str, int]
"""(process, thread, model key, image size): what one shared renderer serves."""

_POOL: dict[PoolKey, _Shared] = {}
_DEFAULT_OPTION = mujoco.MjvOption()  # never changed: what ``Renderer.update_scene`` uses by default


def model_key(xml: str) -> str:
    """The key under which worlds built from ``xml`` share a renderer (its SHA-1)."""
    return hashlib.sha1(xml.encode()).hexdigest()


def acquire(model: mujoco.MjModel, key: str, size: int) -> tuple[mujoco.Renderer, PoolKey]:
    """The shared renderer for worlds of model ``key`` drawing ``size`` x ``size`` images.

    Args:
        model: A model built from the XML that ``key`` names (used only if the renderer is new).
        key: :func:`model_key` of the model's XML.
        size: Image side in pixels.

    Returns:
        The renderer and the handle to give to :func:`release` once (per call).

    Raises:
        Exception: Whatever the GL stack raises when no context can be made.
    """
    handle = (os.getpid(), threading.get_ident(), key, size)
    shared = _POOL.get(handle)
    if shared is None:
        shared = _POOL[handle] = _Shared(mujoco.Renderer(model, size, size), 0)
    shared.users += 1
    return shared.renderer, handle


def release(handle: PoolKey) -> None:
    """Drop one use of a renderer; the last use closes it. A forked child, which inherits its
    parent's pool, never closes the parent's context.

    Args:
        handle: From :func:`acquire`.
    """
    shared = _POOL.get(handle)
    if shared is None or handle[0] != os.getpid():
        return
    shared.users -= 1
    if shared.users <= 0:
        del _POOL[handle]
        shared.renderer.close()


def render_view(renderer: mujoco.Renderer, model: mujoco.MjModel, data: mujoco.MjData, camera_id: int) -> np.ndarray:
    """Draw ``data`` of ``model`` from fixed camera ``camera_id`` with a (shared) renderer.

    Args:
        renderer: From :func:`acquire`, for a model built from the same XML as ``model``.
        model: The calling world's model (its colours, materials, lights and camera are used).
        data: Its state.
        camera_id: Fixed camera to look through.

    Returns:
        The image, shape (H, W, 3), uint8, a new array.
    """
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
    camera.fixedcamid = camera_id
    mujoco.mjv_updateScene(model, data, _DEFAULT_OPTION, None, camera, _ALL_CATEGORIES, renderer.scene)
    return renderer.render()


def open_renderers() -> int:
    """Number of renderers open in this process (all threads); for tests and diagnostics."""
    return sum(1 for (pid, *_rest) in _POOL if pid == os.getpid())
