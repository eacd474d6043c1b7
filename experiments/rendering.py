"""Render an episode of a task to a PNG of its first frame and a GIF of the whole episode."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np

from physground.envs import SceneConfig, task_spec
from physground.envs.files import atomic_write


@dataclass
class RenderedEpisode:
    """Where an episode's pictures went and how it ended."""

    first_frame: Path
    gif: Path
    actions: list[str]
    reward: float
    frames: int


def resolve_action(env: Any, action: str | None) -> int | None:
    """Action index from a name ("yes", "+2") or an index ("0"); None keeps actions random.

    Raises:
        ValueError: An action the task does not have, listing its actions.
    """
    if action is None:
        return None
    names = list(env.action_names)
    if action in names:
        return names.index(action)
    if action.isdigit() and int(action) < len(names) and action not in names:
        return int(action)
    raise ValueError(f"unknown action {action!r} for {env.task_name}; valid: {', '.join(names)}")


def render_episode(
    task: str,
    out_dir: str | Path,
    seed: int = 0,
    action: str | None = None,
    image_size: int = 128,
    domain_randomization: bool = False,
) -> RenderedEpisode:
    """Play one episode of ``task`` and save ``{task}_seed{seed}.png`` and ``.gif`` in ``out_dir``.

    Args:
        task: Task name or gymnasium id.
        out_dir: Folder for the pictures (created).
        seed: Episode seed (also seeds the random actions).
        action: Fixed action name/index for every step; random actions when None.
        image_size: Side of the rendered frames (pixels).
        domain_randomization: Render with randomised lighting, cloth, camera and shades.
    """
    spec = task_spec(task)
    env = spec.env_class(scene=SceneConfig(image_size=image_size, domain_randomization=domain_randomization))
    fixed = resolve_action(env, action)
    rng = np.random.default_rng(seed)
    env.record_frames = True
    obs, _ = env.reset(seed=seed)
    first = obs["image"]
    frames: list[np.ndarray] = [first]
    taken: list[str] = []
    total = 0.0
    for _ in range(spec.max_episode_steps):
        a = fixed if fixed is not None else int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, _ = env.step(a)
        taken.append(env.action_names[a])
        total += reward
        frames.extend(env.frames or [obs["image"]])
        env.frames = []
        if terminated or truncated:
            break
    env.close()
    out = Path(out_dir)
    png, gif = out / f"{spec.name}_seed{seed}.png", out / f"{spec.name}_seed{seed}.gif"
    atomic_write(png, lambda p: imageio.imwrite(p, first, format="PNG"))
    fps = spec.env_class.metadata["render_fps"]
    atomic_write(gif, lambda p: imageio.mimsave(p, frames, format="GIF", duration=1000 / fps, loop=0))
    return RenderedEpisode(png, gif, taken, total, len(frames))
