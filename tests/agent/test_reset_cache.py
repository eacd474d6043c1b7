"""Replayed resets (agent.reset_cache): the same episodes as fresh resets, bit for bit."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from physground.agent.factory import env_factory
from physground.agent.reset_cache import CachedResets, cache_key
from tests.conftest import composed_slow

BASE_TASKS = ["TowerStability", "TowerBuild", "BlockRemoval", "RollOff", "Catch", "Push"]


def assert_same(a: object, b: object, where: str = "") -> None:
    """Deep equality that also compares types (a tuple is not a list) and arrays exactly."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b), where
        return
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("task", composed_slow(BASE_TASKS + ["ColourRemoval", "ToppleSpot"]))
def test_a_replayed_reset_is_the_fresh_one_and_continues_alike(task, tmp_path):
    """Images, prompts, infos and every later step agree with a fresh env's, on a miss (drawn and
    written) and on a hit (read by another env, as another cell's process would)."""
    make = env_factory(task, 32, 1, "heldout")
    fresh, writer, reader = make(), CachedResets(make(), tmp_path), CachedResets(make(), tmp_path)
    try:
        for seed in (7, 8):
            first = fresh.reset(seed=seed)
            assert_same(first, writer.reset(seed=seed), "miss")
            assert_same(first, reader.reset(seed=seed), "hit")
            for step in range(6):
                action = (seed + step) % int(fresh.action_space.n)
                results = [env.step(action) for env in (fresh, writer, reader)]
                assert_same(results[0], results[1], f"step {step} after a miss")
                assert_same(results[0], results[2], f"step {step} after a hit")
                if results[0][2] or results[0][3]:
                    break
        assert (writer.misses, writer.hits, reader.misses, reader.hits) == (2, 0, 0, 2)
    finally:
        for env in (fresh, writer, reader):
            env.close()


def test_entries_are_keyed_by_config_and_version(tmp_path):
    """Another phrasing split, image size or task version is another entry, never a replay."""
    keys = {
        cache_key(env_factory("TowerStability", 32, 1, "canonical")()),
        cache_key(env_factory("TowerStability", 32, 1, "heldout")()),
        cache_key(env_factory("TowerStability", 64, 1, "canonical")()),
        cache_key(env_factory("TowerStability", 32, 1, "canonical", task_version=0)()),
    }
    assert len(keys) == 4
    assert cache_key(env_factory("RollOff", 32, 1)()) == cache_key(env_factory("RollOff", 32, 1)())


def test_a_damaged_entry_is_drawn_again_and_rewritten(tmp_path):
    env = CachedResets(env_factory("RollOff", 32, 1)(), tmp_path)
    obs, _ = env.reset(seed=3)
    entry = env.folder / "3.json"
    entry.write_text('{"state": ')
    again, _ = env.reset(seed=3)
    assert (env.misses, env.hits) == (2, 0)
    assert np.array_equal(obs["image"], again["image"]) and obs["prompt"] == again["prompt"]
    assert json.loads(entry.read_text())["state"]["kind"] == "physground"
    env.close()


def test_unseeded_resets_pass_through_and_other_envs_are_refused(tmp_path):
    env = CachedResets(env_factory("RollOff", 32, 1)(), tmp_path)
    env.reset()
    assert (env.misses, env.hits) == (0, 0) and not any(tmp_path.rglob("*.json"))
    env.close()
    with pytest.raises(ValueError, match="CartPoleEnv is not a physground env"):
        CachedResets(gym.make("CartPole-v1"), tmp_path)


def test_evaluation_with_the_cache_scores_the_same_episodes(tmp_path):
    """``evaluate_policy`` with a reset cache, cold and warm, returns what it returns without."""
    from physground.agent.evaluation import evaluate_policy
    from physground.agent.policies import Policy

    class LeftOfCentre(Policy):  # answers from the scene: its successes differ between episodes
        def prepare(self, obs, infos=None):  # noqa: ANN001, ANN201
            return {"action": torch.tensor([int(scene["objects"][0]["position"][0] < 0) for scene in infos["scene"]])}

        def forward(self, inputs):  # noqa: ANN001, ANN201
            return torch.nn.functional.one_hot(inputs["action"], 2).float(), torch.zeros(len(inputs["action"]))

    plain = evaluate_policy(LeftOfCentre(), "RollOff", 10, image_size=32, batch=4)
    cold = evaluate_policy(LeftOfCentre(), "RollOff", 10, image_size=32, batch=4, reset_cache=tmp_path)
    warm = evaluate_policy(LeftOfCentre(), "RollOff", 10, image_size=32, batch=4, reset_cache=tmp_path)
    assert 0 < sum(plain["successes"]) < 10, "the check needs episodes that differ"
    assert plain == cold == warm
    assert len(list(tmp_path.rglob("*.json"))) == 10


def test_a_seed_another_process_is_drawing_is_awaited(tmp_path):
    import threading
    import time

    from physground.envs.files import exclusive_lock

    drawer = CachedResets(env_factory("RollOff", 32, 1)(), tmp_path / "draw")
    _, info = drawer.reset(seed=5)
    entry = (drawer.folder / "5.json").read_text()
    waiter = CachedResets(env_factory("RollOff", 32, 1)(), tmp_path)
    held = threading.Event()

    def other_process() -> None:  # holds seed 5's lock (a separate open file: flock conflicts as across processes), then writes the entry
        with exclusive_lock(waiter.folder / "5.lock", "test"):
            held.set()
            time.sleep(0.3)
            (waiter.folder / "5.json").write_text(entry)

    thread = threading.Thread(target=other_process)
    thread.start()
    held.wait()
    assert_same(waiter.reset(seed=5)[1], info)
    thread.join()
    assert (waiter.hits, waiter.misses) == (1, 0), "it waited for the entry instead of drawing the seed again"
