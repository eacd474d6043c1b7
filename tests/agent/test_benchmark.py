"""The benchmark helpers measure what they say (their speeds are benchmarks, not tested)."""

from __future__ import annotations

from physground.agent.benchmark import env_only_speed


def test_env_only_speed_steps_the_training_vector_envs_a_whole_number_of_batches():
    got = env_only_speed(steps=5, num_envs=2)
    assert got["num_envs"] == 2 and got["env_steps_timed"] == 4, "5 steps over 2 envs: two batches"
    assert got["env_steps_per_s"] > 0
