"""Shared fixtures. Importing envs first chooses MuJoCo's GL backend (EGL) before MuJoCo loads."""

from __future__ import annotations

import pytest

import envs  # noqa: F401  (registers the ids, sets MUJOCO_GL)
from envs import TASKS, SceneConfig

YES_NO_TASKS = [name for name, spec in TASKS.items() if spec.is_yes_no]
ALL_TASKS = list(TASKS)


@pytest.fixture
def make_env():
    """Build a task env (no images unless asked) and close it after the test."""
    made = []

    def factory(task: str, render_images: bool = False, **overrides):
        scene = overrides.pop("scene", {})
        scene = {"render_images": render_images, **scene}
        env = TASKS[task].env_class(scene=SceneConfig(**scene), **overrides)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()
