"""Shared fixtures. Importing envs first chooses MuJoCo's GL backend (EGL) before MuJoCo loads."""

from __future__ import annotations

import pytest

from physground import envs  # noqa: F401  (registers the ids, sets MUJOCO_GL)
from physground.envs import TASKS, SceneConfig

CORPUS = ["Will this block tower fall? yes no", "What colour is the ball? red green blue yellow", "left right stay 1 2 3 -4 +4"] * 20

YES_NO_TASKS = [name for name, spec in TASKS.items() if spec.is_yes_no]
ALL_TASKS = list(TASKS)


def composed_slow(tasks: list[str]) -> list:
    """``tasks`` as test parameters, the composed ones marked slow: they reuse the six tasks' scene
    builders, so the default run checks them once (gymnasium's checker, the programs' tests) and
    the slow run in full."""
    return [pytest.param(t, marks=pytest.mark.slow) if TASKS[t].composed else t for t in tasks]


@pytest.fixture
def make_env():
    """Build a task env (no images unless asked) and close it after the test.

    Yes/no tasks get v0's sampler (balanced overall) unless ``stratified=True`` is asked: what these
    tests check holds for any scene, and v1's stratified draw simulates about five times as many
    scenes per reset (it has its own tests, and the registered ids are checked at v1)."""
    made = []

    def factory(task: str, render_images: bool = False, **overrides):
        scene = overrides.pop("scene", {})
        scene = {"render_images": render_images, **scene}
        if TASKS[task].is_yes_no:
            overrides.setdefault("stratified", False)
        env = TASKS[task].env_class(scene=SceneConfig(**scene), **overrides)
        made.append(env)
        return env

    yield factory
    for env in made:
        env.close()


@pytest.fixture(scope="session")
def llava_dir(tmp_path_factory):
    """A tiny LLaVA (CLIP vision tower + Llama) saved like any Hugging Face checkpoint."""
    import torch

    from physground.perception.tiny_vlm import SMALL_MODEL, build_model, build_processor, task_texts, train_tokenizer

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("llava")
    tokenizer = train_tokenizer(CORPUS + task_texts(), 400)
    build_model(SMALL_MODEL, tokenizer).save_pretrained(path)
    build_processor(tokenizer, SMALL_MODEL).save_pretrained(path)
    return path


