"""The simulator's answers: what an expert does in every task, for the supervised learners.

Yes/no tasks: the simulated answer to the prompt. One-step choice tasks (TowerBuild, Push,
ToppleSpot): the env's ``best_action``, found by simulating every option. Catch: a controller that
heads for the ball's landing point (``info["landing_x"]``) one basket step at a time. SFT trains the
VLM on these; the cue baselines (``agent.cues``) fit their classifiers to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

from physground.envs import TASK_VERSION, SceneConfig, task_spec
from physground.envs.scene import DEFAULT_MULTISAMPLES, find_object


@dataclass
class ExpertStep:
    """One observation and the expert's action in it.

    Attributes:
        image: (H, W, 3) uint8 observation (blank when rendering is off).
        prompt: The question.
        scene: The ground-truth scene the observation shows (``info["scene"]``).
        program: The prompt's gold program (``info["program"]``).
        action: The expert's action index.
        task_label: Yes/no tasks: the answer to the task's own, unflipped question; else None.
    """

    image: np.ndarray
    prompt: str
    scene: dict[str, Any]
    program: dict[str, Any]
    action: int
    task_label: int | None = None


def expert_steps(task: str, n: int, seed: int, image_size: int = 128, multisamples: int = DEFAULT_MULTISAMPLES, render: bool = True,
                 task_version: int = TASK_VERSION, seeds: Callable[[int], int] | None = None) -> Iterator[ExpertStep]:
    """``n`` expert steps of ``task`` (at suite version ``task_version``) from episodes seeded
    ``seed``, ``seed + 1``, ... (or, with ``seeds``, episode ``e`` seeded ``seeds(e)``).

    Raises:
        ValueError: A task without an expert (a choice task without ``best_action``).
    """
    spec = task_spec(task)
    env = spec.env_class(scene=SceneConfig(image_size=image_size, multisamples=multisamples, render_images=render), **spec.settings_at(task_version))
    if not spec.is_yes_no and spec.is_one_step and not hasattr(env, "best_action"):
        env.close()
        raise ValueError(f"no expert for task {spec.name!r}")
    made, episode = 0, 0
    try:
        while made < n:
            obs, info = env.reset(seed=seed + episode if seeds is None else seeds(episode))
            episode += 1
            if spec.is_one_step:
                action = int(info["label"]) if spec.is_yes_no else int(env.best_action())
                yield ExpertStep(obs["image"], obs["prompt"], info["scene"], info["program"], action, info.get("task_label"))
                made += 1
                continue
            landing = info["landing_x"]  # Catch: the only multi-step task
            for _ in range(spec.max_episode_steps):
                scene = env.scene_graph()
                gap = landing - find_object(scene, "basket")["position"][0]
                action = 1 if abs(gap) < env.config.basket_step / 2 else (2 if gap > 0 else 0)
                yield ExpertStep(obs["image"], obs["prompt"], scene, info["program"], action)
                made += 1
                obs, _, terminated, truncated, info = env.step(action)
                if terminated or truncated or made >= n:
                    break
    finally:
        env.close()
