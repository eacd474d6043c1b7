"""Speed of the task suite on one CPU core (``physground bench-envs``).

Three numbers per task:

* **physics overhead** — every rollout the env simulates during full episodes (rendering off) is
  recorded as (start scene, steps). The same work is then replayed with a bare ``mj_step`` loop
  on the same model. The ratio env-steps/s over raw-steps/s says how much of an env's time is
  physics (1.0: no overhead). Two raw loops are timed: one ``mujoco.mj_step(m, d)`` call per
  step from Python (the usual hand-written loop) and ``mj_step(m, d, nstep=n)`` (the loop in C).
* **rendered observations/s** at the configured size, on scenes of the task.
* **resets/s** with everything a reset does: sampling, simulating the label, rendering.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from typing import Any

import mujoco  # noqa: E402  (envs chose the GL backend)
import numpy as np

from physground.envs import TASKS, task_spec
from physground.envs.scene import DEFAULT_MULTISAMPLES, SceneConfig, World


@dataclass
class TaskBenchmark:
    """Measured speeds of one task (rates per wall-clock second)."""

    task: str
    env_steps_per_s: float
    env_physics_steps_per_s: float
    raw_loop_steps_per_s: float
    raw_nstep_steps_per_s: float
    renders_per_s: float
    resets_per_s: float
    physics_steps: int
    wall_seconds: float

    @property
    def ratio_vs_loop(self) -> float:
        """Env physics throughput over a per-step Python ``mj_step`` loop's."""
        return self.env_physics_steps_per_s / self.raw_loop_steps_per_s

    @property
    def step_microseconds(self) -> tuple[float, float]:
        """(physics, everything else) per env step, in microseconds."""
        total = 1e6 / self.env_steps_per_s
        physics = 1e6 * self.physics_steps / (self.env_steps_per_s * self.wall_seconds) / self.raw_loop_steps_per_s
        return physics, total - physics

    @property
    def ratio_vs_nstep(self) -> float:
        """Env physics throughput over a C-side ``mj_step(nstep=...)`` loop's."""
        return self.env_physics_steps_per_s / self.raw_nstep_steps_per_s


class _Recorder:
    """Wraps ``World.load``/``World.step`` to record every rollout's start scene and length."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rollouts: list[list[Any]] = []
        self._load, self._step, self._set_basket = world.load, world.step, world.set_basket
        world.load = self.load  # type: ignore[method-assign]
        world.step = self.step  # type: ignore[method-assign]

    def load(self, scene: dict[str, Any]) -> None:
        self._load(scene)
        self.rollouts.append([scene, 0, []])

    def step(self, n: int = 1) -> None:
        if self.rollouts:
            rollout = self.rollouts[-1]
            rollout[1] += n
            # Catch moves the kinematic basket between steps: replay must do the same.
            rollout[2].append((n, self.world.data.mocap_pos.copy()))
        self._step(n)

    def restore(self) -> None:
        self.world.load, self.world.step = self._load, self._step  # type: ignore[method-assign]


def _episodes(env: Any, seconds: float, seed: int) -> tuple[int, int, float]:
    """Run full episodes with random actions for about ``seconds``: (env steps, episodes, wall s)."""
    rng = np.random.default_rng(seed)
    steps = episodes = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or episodes == 0:
        env.reset(seed=seed + episodes)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            steps += 1
            done = terminated or truncated
        episodes += 1
    return steps, episodes, time.perf_counter() - start


def _replay(world: World, rollouts: list[list[Any]], nstep: bool) -> tuple[int, float]:
    """Time bare ``mj_step`` over recorded rollouts (loading is not timed): (steps, seconds)."""
    m, d = world.model, world.data
    total, elapsed = 0, 0.0
    for scene, n, chunks in rollouts:
        if n == 0:
            continue
        world.load(scene)
        t0 = time.perf_counter()
        for k, mocap in chunks:
            d.mocap_pos[:] = mocap
            if nstep:
                mujoco.mj_step(m, d, nstep=k)
            else:
                for _ in range(k):
                    mujoco.mj_step(m, d)
        elapsed += time.perf_counter() - t0
        total += n
    return total, elapsed


def benchmark_task(name: str, seconds: float = 5.0, image_size: int = 128, seed: int = 0, multisamples: int = DEFAULT_MULTISAMPLES) -> TaskBenchmark:
    """Measure one task (see the module docstring); renders with ``multisamples`` anti-aliasing
    samples per pixel (``SceneConfig.multisamples``)."""
    spec = task_spec(name)
    # Physics only: no images, but everything else an episode does.
    env = spec.env_class(scene=SceneConfig(image_size=image_size, render_images=False))
    recorder = _Recorder(env.world)
    before = env.world.physics_steps
    steps, _, wall = _episodes(env, seconds, seed)
    physics = env.world.physics_steps - before
    recorder.restore()
    raw_steps, raw_loop = _replay(env.world, recorder.rollouts, nstep=False)
    _, raw_nstep = _replay(env.world, recorder.rollouts, nstep=True)
    assert raw_steps == physics, (raw_steps, physics)
    env.close()

    env = spec.env_class(scene=SceneConfig(image_size=image_size, multisamples=multisamples))
    env.reset(seed=seed)
    env.world.render()  # create the GL context outside the timing
    n_resets, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n_resets < 3:
        env.reset(seed=seed + 1000 + n_resets)
        n_resets += 1
    resets_per_s = n_resets / (time.perf_counter() - t0)
    n_renders, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds / 2 or n_renders < 10:
        env.world.render()
        n_renders += 1
    renders_per_s = n_renders / (time.perf_counter() - t0)
    env.close()
    return TaskBenchmark(
        task=spec.name,
        env_steps_per_s=steps / wall,
        env_physics_steps_per_s=physics / wall,
        raw_loop_steps_per_s=raw_steps / raw_loop,
        raw_nstep_steps_per_s=raw_steps / raw_nstep,
        renders_per_s=renders_per_s,
        resets_per_s=resets_per_s,
        physics_steps=physics,
        wall_seconds=wall,
    )


def pin_to_one_core() -> str:
    """Run this process (and Mesa's render threads) on one CPU core; return a description."""
    os.environ["LP_NUM_THREADS"] = "1"  # llvmpipe's threads; read when the GL context is made
    if hasattr(os, "sched_setaffinity"):
        core = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}, LP_NUM_THREADS=1"
    return "not pinned (no sched_setaffinity on this OS)"


def machine_description() -> str:
    """CPU model, core count, OS and library versions, for the benchmark record."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"MuJoCo {mujoco.__version__}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
    )


def format_table(results: list[TaskBenchmark], yes_no: set[str]) -> str:
    """Markdown table of results with goal checks (physics ratio >= 0.9, renders >= 150/s,
    yes/no resets >= 20/s)."""

    def mark(ok: bool) -> str:
        return "" if ok else " (below goal)"

    lines = [
        "| task | env steps/s | physics steps/s in env | raw `mj_step` loop steps/s | ratio (goal >= 0.9) | raw `nstep` steps/s | ratio vs `nstep` | per env step: physics / other (µs) | renders/s 128 px (goal >= 150) | resets/s (goal >= 20, yes/no) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        reset_goal = r.task not in yes_no or r.resets_per_s >= 20
        lines.append(
            f"| {r.task} | {r.env_steps_per_s:,.1f} | {r.env_physics_steps_per_s:,.0f} | {r.raw_loop_steps_per_s:,.0f} | "
            f"{r.ratio_vs_loop:.2f}{mark(r.ratio_vs_loop >= 0.9)} | {r.raw_nstep_steps_per_s:,.0f} | {r.ratio_vs_nstep:.2f} | "
            f"{r.step_microseconds[0]:,.0f} / {r.step_microseconds[1]:,.0f} | {r.renders_per_s:,.0f}{mark(r.renders_per_s >= 150)} | {r.resets_per_s:,.1f}{mark(reset_goal)} |"
        )
    return "\n".join(lines)


def run_benchmarks(tasks: list[str] | None = None, seconds: float = 5.0, image_size: int = 128, multisamples: int = DEFAULT_MULTISAMPLES) -> list[TaskBenchmark]:
    """Benchmark ``tasks`` (all by default) in order."""
    return [benchmark_task(name, seconds=seconds, image_size=image_size, multisamples=multisamples) for name in (tasks or list(TASKS))]
