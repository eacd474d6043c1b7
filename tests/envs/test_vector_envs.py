"""Vector envs of the registered ids carry observations whole, prompts included."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from physground import envs  # noqa: F401  (registers the ids)


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_async_vector_envs_with_shared_memory_keep_their_prompts(context):
    """A worker process hashes strings with its own seed: the prompt's characters must not be
    encoded in a set's order. (Forked workers are not tested: forking a process that already
    holds an EGL context, as this test process does, can hang the child's first render.)"""
    kwargs = {"scene": {"image_size": 32, "multisamples": 0}}
    sync = gym.make_vec("physground/TowerBuild-v0", num_envs=2, vectorization_mode="sync", **kwargs)
    vector_kwargs = {"shared_memory": True, "context": context}
    async_ = gym.make_vec("physground/TowerBuild-v0", num_envs=2, vectorization_mode="async", vector_kwargs=vector_kwargs, **kwargs)
    try:
        expected, _ = sync.reset(seed=[5, 6])
        got, _ = async_.reset(seed=[5, 6])
        assert tuple(got["prompt"]) == tuple(expected["prompt"]) and all(p.startswith("Where") for p in got["prompt"])
        assert np.array_equal(got["image"], expected["image"])
        for seeds in ([7, 8], [9, 10]):  # later observations too: the workers' writes are read back
            expected, _ = sync.reset(seed=seeds)
            got, _ = async_.reset(seed=seeds)
            assert tuple(got["prompt"]) == tuple(expected["prompt"]) and np.array_equal(got["image"], expected["image"])
    finally:
        sync.close()
        async_.close()
