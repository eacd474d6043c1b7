"""Training episodes' seeds: one stream per run seed, shared by every trainer.

Episode ``j`` of a training run with seed ``s`` is reset with :func:`episode_seed` ``(s, j)``: PPO's
env ``i`` of ``N`` plays the run's episodes ``i, i + N, i + 2N, ...`` (:class:`EpisodeSeeds`),
GRPO's prompt ``p`` of update ``u`` is episode ``u * prompts_per_update + p``, and SFT's example
``e`` comes from episode ``e``. So:

- runs of different seeds train on independent scenes (consecutive seeds ``s + i`` would share
  all but one of their envs' streams);
- runs of one seed on one task train on the same scenes whatever their trainer (common random
  numbers: their differences are the agents', not the draws'), and with a reset cache
  (:mod:`physground.agent.reset_cache`) an ablation simulates each training scene once, not once
  per agent;
- the seeds lie below :data:`TRAINING_SEEDS`, which is below the evaluation seeds
  (``agent.evaluation.EVAL_SEED``) and the probing seeds: a training scene is never an
  evaluation scene.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

TRAINING_SEEDS = 40_000_000
"""Training episodes' seeds lie in ``[0, TRAINING_SEEDS)``."""


def episode_seed(run_seed: int, episode: int) -> int:
    """The env seed of episode ``episode`` (>= 0) of a training run seeded ``run_seed`` (>= 0)."""
    return int(np.random.SeedSequence([int(run_seed), int(episode)]).generate_state(1)[0] % TRAINING_SEEDS)


class EpisodeSeeds(gym.Wrapper):
    """Seeds every unseeded reset from the run's stream: the ``k``-th reset (``k`` = 0, 1, ...) is
    ``reset(seed=episode_seed(run_seed, index + k * stride))``. A reset with an explicit seed is passed
    through and does not advance the stream. The counter is a plain attribute, so
    ``agent.env_state.StateCapture`` saves and restores it with the env (exact resume).

    Args:
        env: Any env.
        run_seed: The training run's seed.
        index: This env's place among ``stride`` envs (a vector env's sub-env index).
        stride: How many envs share the stream (the vector env's size).
    """

    def __init__(self, env: gym.Env, run_seed: int, index: int = 0, stride: int = 1) -> None:
        if not 0 <= index < stride:
            raise ValueError(f"EpisodeSeeds: index must be in [0, {stride}), got {index}")
        super().__init__(env)
        self.run_seed, self.index, self.stride, self.resets = int(run_seed), int(index), int(stride), 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is None:
            seed = episode_seed(self.run_seed, self.index + self.resets * self.stride)
            self.resets += 1
        return self.env.reset(seed=seed, options=options)
