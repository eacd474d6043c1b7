"""``physground bench-agents``: PPO correctness and speed (benchmarks, not tests).

- CartPole-v1 with the ``mlp`` agent: mean return of 20 greedy episodes after 100k steps, per seed.
- Speed: env steps/s of physground's PPO against Stable-Baselines3's PPO with the same
  hyper-parameters (rl-zoo's CartPole settings), in the same run, alternating, on the same threads.
  SB3 is a benchmark-only extra: ``pip install 'physground[bench]'``.
- VLM-PPO env steps/s with the tiny VLM (rollout + update, TowerStability, 8 envs), beside the
  env-only steps/s of the same vector envs stepped with random actions (no policy), measured
  before and after it in the same run: their ratio is the share of the host's env throughput
  that training keeps.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from physground.agent.policies import MLPPolicy
from physground.agent.ppo import PPOConfig, train_ppo
from physground.agent.run import RunDir, TrainerCallback


def greedy_return(policy: MLPPolicy, episodes: int = 20, seed: int = 10_000) -> float:
    env = gym.make("CartPole-v1")
    total = []
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        done, ret = False, 0.0
        while not done:
            with torch.no_grad():
                action = int(policy.act(policy.prepare(obs[None]), deterministic=True).actions[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            ret += reward
            done = terminated or truncated
        total.append(ret)
    return float(np.mean(total))


def ours(steps: int, seed: int) -> tuple[float, MLPPolicy]:
    """Steps/s of physground PPO on CartPole (imports and env creation excluded)."""
    policy = MLPPolicy(4, 2)
    config = PPOConfig(total_steps=steps)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train_ppo(policy, [lambda: gym.make("CartPole-v1")] * config.num_envs, config, RunDir(tmp), seed=seed, progress=False)
        return steps / (time.perf_counter() - t0), policy


def stable_baselines(steps: int, seed: int) -> float:
    """Steps/s of SB3 PPO with the same hyper-parameters."""
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError as exc:
        raise RuntimeError("the SB3 comparison needs stable-baselines3: pip install 'physground[bench]'") from exc
    c = PPOConfig()
    env = make_vec_env("CartPole-v1", n_envs=c.num_envs, seed=seed)
    model = PPO(
        "MlpPolicy", env, n_steps=c.num_steps, batch_size=c.batch_size // c.num_minibatches, gae_lambda=c.gae_lambda, gamma=c.gamma,
        n_epochs=c.update_epochs, ent_coef=c.ent_coef, learning_rate=lambda f: f * c.lr, clip_range=c.clip_coef, max_grad_norm=c.max_grad_norm,
        vf_coef=c.vf_coef, seed=seed, device="cpu", verbose=0,
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": torch.nn.Tanh},
    )
    t0 = time.perf_counter()
    model.learn(steps)
    return steps / (time.perf_counter() - t0)


def speed_comparison(steps: int = 50_000, repeats: int = 3) -> dict[str, Any]:
    """Alternating runs of both; medians and their ratio."""
    a, b = [], []
    for r in range(repeats):
        a.append(ours(steps, seed=r)[0])
        b.append(stable_baselines(steps, seed=r))
    return {"steps": steps, "repeats": repeats, "physground_steps_per_s": float(np.median(a)), "sb3_steps_per_s": float(np.median(b)),
            "ratio": float(np.median(a) / np.median(b)), "all_physground": a, "all_sb3": b, "torch_threads": torch.get_num_threads()}


def cartpole_correctness(seeds: tuple[int, ...] = (1, 2, 3), steps: int = 100_000) -> dict[str, Any]:
    """Greedy mean return after ``steps`` for each seed (goal >= 475)."""
    out = {}
    for seed in seeds:
        torch.manual_seed(seed)
        _, policy = ours(steps, seed)
        out[str(seed)] = greedy_return(policy)
    return {"steps": steps, "greedy_mean_return": out, "all_at_least_475": all(v >= 475 for v in out.values())}


class UpdateClock(TrainerCallback):
    """The wall-clock time of every update's end."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_update(self, run: RunDir, update: int, record: dict[str, float]) -> None:
        self.times.append(time.perf_counter())


def vlm_ppo_speed(accelerator: str = "cpu", updates: int = 3, num_envs: int = 8, vlm: str | None = None) -> dict[str, Any]:
    """Env steps/s of vlm-ppo on TowerStability (rollouts and updates; the first update, which
    includes warm-up, is not timed)."""
    from physground.agent.factory import AgentSpec, build_policy, env_factory
    from physground.agent.training import agent_ppo_config

    spec = AgentSpec("vlm-ppo", "TowerStability", vlm=vlm)
    config = dataclasses.replace(agent_ppo_config(spec.agent, steps=(updates + 1) * num_envs * 16), num_envs=num_envs)
    policy = build_policy(spec)
    clock = UpdateClock()
    with tempfile.TemporaryDirectory() as tmp:
        train_ppo(policy, [env_factory("TowerStability")] * num_envs, config, RunDir(tmp), seed=0, accelerator=accelerator, progress=False, callbacks=[clock])
    timings = clock.times
    per_update = num_envs * config.num_steps
    return {"accelerator": accelerator, "env_steps_per_s": per_update * (len(timings) - 1) / (timings[-1] - timings[0]), "num_envs": num_envs,
            "updates_timed": len(timings) - 1, "env_steps_timed": per_update * (len(timings) - 1)}


def env_only_speed(steps: int, num_envs: int = 8, seed: int = 0) -> dict[str, Any]:
    """Env steps/s of the vector envs vlm-ppo trains on (``ppo.make_vector_env`` over
    ``env_factory("TowerStability")``, same-step autoreset), stepped with uniformly random actions:
    the host's ceiling for any agent on them. One warm-up step of every env is not timed."""
    from physground.agent.factory import env_factory
    from physground.agent.ppo import make_vector_env

    envs = make_vector_env([env_factory("TowerStability")] * num_envs)
    try:
        envs.reset(seed=seed)
        envs.action_space.seed(seed)
        envs.step(envs.action_space.sample())
        batches = max(1, steps // num_envs)
        t0 = time.perf_counter()
        for _ in range(batches):
            envs.step(envs.action_space.sample())
        elapsed = time.perf_counter() - t0
    finally:
        envs.close()
    return {"env_steps_per_s": batches * num_envs / elapsed, "num_envs": num_envs, "env_steps_timed": batches * num_envs}


def vlm_ppo_against_env_only(accelerator: str = "cpu", updates: int = 3, num_envs: int = 8, vlm: str | None = None) -> dict[str, Any]:
    """vlm-ppo's env steps/s (``vlm_ppo_speed``) against the env-only steps/s of the same vector
    envs (``env_only_speed``, as many env steps as vlm-ppo timed), measured before and after it;
    ``ratio`` = vlm-ppo / the mean of the two env-only figures."""
    from physground.agent.training import agent_ppo_config

    per_update = num_envs * agent_ppo_config("vlm-ppo", steps=num_envs).num_steps
    before = env_only_speed(per_update * updates, num_envs)
    trained = vlm_ppo_speed(accelerator, updates, num_envs, vlm)
    after = env_only_speed(per_update * updates, num_envs)
    env_only = (before["env_steps_per_s"] + after["env_steps_per_s"]) / 2
    return {"vlm_ppo": trained, "env_only_before": before, "env_only_after": after, "env_only_env_steps_per_s": env_only,
            "ratio": trained["env_steps_per_s"] / env_only}
