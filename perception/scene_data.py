"""Rendered static scenes of every task, drawn deterministically: the data of perception
training (tiny VLM pre-training, learned grounder) and evaluation."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from physground.envs import BASE_TASKS, TASKS, SceneConfig
from physground.envs.base import PhysicsTaskEnv
from physground.envs.scene import DEFAULT_MULTISAMPLES, Scene


def scene_seed(seed: int, index: int) -> int:
    """The seed of scene ``index`` of a stream: independent of how the stream is split up."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def draw_and_render(envs: dict[str, PhysicsTaskEnv], seed: int, index: int, dr_fraction: float, tasks: list[str]) -> tuple[np.ndarray, Scene, np.random.Generator, str]:
    """Scene ``index`` of stream ``seed``: task ``tasks[index % len(tasks)]``, a proposed scene
    (no outcome simulated), randomised looks with probability ``dr_fraction``, rendered.

    Returns:
        (image uint8 (H, W, 3), scene, the scene's generator for further draws, task name).
    """
    rng = np.random.default_rng(scene_seed(seed, index))
    name = tasks[index % len(tasks)]
    env = envs[name]
    scene = env.propose_scene(int(rng.integers(2**31)))
    if rng.random() < dr_fraction:
        env.world.randomize_appearance(rng)
    else:
        env.world.reset_appearance()
    env.world.load(scene)
    return env.world.render(), scene, rng, name


@dataclass
class RenderedScenes:
    """Images (N, H, W, 3) uint8, their scenes and tasks."""

    images: np.ndarray
    scenes: list[Scene]
    tasks: list[str]


def _scenes_chunk(args: tuple[int, list[int], int, float, tuple[str, ...], int]) -> tuple[np.ndarray, list[Scene], list[str]]:
    seed, indices, image_size, dr_fraction, tasks, multisamples = args
    envs = {n: TASKS[n].env_class(scene=SceneConfig(image_size=image_size, multisamples=multisamples)) for n in set(tasks)}
    out = [draw_and_render(envs, seed, i, dr_fraction, list(tasks)) for i in indices]
    for env in envs.values():
        env.close()
    return np.stack([o[0] for o in out]), [o[1] for o in out], [o[3] for o in out]


def run_chunks(worker: Callable[[Any], Any], jobs: list[Any], workers: int) -> list[Any]:
    """``worker`` over ``jobs`` in order, in ``workers`` spawned processes (each builds its own
    renderer; no GL context crosses a fork)."""
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return list(pool.map(worker, jobs))
    return [worker(job) for job in jobs]


def render_scenes(
    n: int, seed: int, image_size: int = 128, dr_fraction: float = 0.0, workers: int = 1, tasks: tuple[str, ...] | None = None,
    multisamples: int = DEFAULT_MULTISAMPLES,
) -> RenderedScenes:
    """``n`` scenes of stream ``seed``, tasks in turn (the six tasks by default), rendered with
    ``multisamples`` anti-aliasing samples per pixel (``SceneConfig.multisamples``)."""
    if n < 1:
        raise ValueError(f"need at least one scene, got {n}")
    tasks = tuple(tasks or BASE_TASKS)
    chunks = [list(range(i, min(i + 256, n))) for i in range(0, n, 256)]
    results = run_chunks(_scenes_chunk, [(seed, c, image_size, dr_fraction, tasks, multisamples) for c in chunks], workers)
    return RenderedScenes(np.concatenate([r[0] for r in results]), [s for r in results for s in r[1]], [t for r in results for t in r[2]])
