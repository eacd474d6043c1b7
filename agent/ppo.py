"""PPO: the math as pure functions, and one trainer for every policy.

``compute_gae`` and ``ppo_loss`` follow CleanRL's readable formulation. The trainer runs on
Lightning Fabric over gymnasium vector envs (sync or async) in ``SAME_STEP`` autoreset mode, so every
stored step is a real transition; a truncated episode (time limit) is bootstrapped with the value of
its final observation, a terminated one is not. Checkpoints are taken at update boundaries and
hold everything needed to continue exactly (policy, optimizer, RNG states, env states, counters).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from physground.agent.configs import PPOConfig
from physground.agent.env_state import StateCapture
from physground.agent.episode_seeds import EpisodeSeeds
from physground.agent.policies import ORACLE_INFO_KEYS, Inputs, Policy, concat, oracle_infos, select, to_device
from physground.agent.run import (
    RunDir,
    StopRequest,
    TrainerCallback,
    guarded_policy_call,
    non_finite_error,
    restore_rng_states,
    rng_states,
    seed_everything,
)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    last_value: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    final_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over a rollout.

    Args:
        rewards: (T, N) reward of step t.
        values: (T, N) V(s_t).
        last_value: (N,) V of the observation after the last step.
        terminated: (T, N) 1 where the episode ended at step t for good (no bootstrap).
        truncated: (T, N) 1 where it was cut by a time limit at step t (bootstrap from
            ``final_values``).
        final_values: (T, N) V(final observation) where truncated (ignored elsewhere).
        gamma: Discount.
        gae_lambda: GAE lambda.

    Returns:
        (advantages (T, N), returns (T, N) = advantages + values).
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    for t in reversed(range(steps)):
        next_value = last_value if t == steps - 1 else values[t + 1]
        done = torch.maximum(terminated[t], truncated[t])
        bootstrap = torch.where(truncated[t] > 0, final_values[t], next_value * (1.0 - done))
        delta = rewards[t] + gamma * bootstrap - values[t]
        running = delta + gamma * gae_lambda * (1.0 - done) * running
        advantages[t] = running
    return advantages, advantages + values


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target); nan when the target is constant."""
    var = target.var()
    return float("nan") if var == 0 else float(1 - (target - predicted).var() / var)


def ppo_loss(
    new_log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    clip_coef: float = 0.2,
    clip_vloss: bool = True,
    vf_coef: float = 0.5,
    ent_coef: float = 0.0,
    norm_adv: bool = True,
    with_stats: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped PPO objective for one minibatch (all inputs (B,)).

    Returns:
        (loss to minimise, stats as 0-d tensors: policy_loss, value_loss, entropy, approx_kl,
        old_approx_kl, clipfrac; empty when ``with_stats`` is False).
    """
    log_ratio = new_log_probs - old_log_probs
    ratio = log_ratio.exp()
    if norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    pg_loss = torch.max(-advantages * ratio, -advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)).mean()
    if clip_vloss:
        clipped = old_values + torch.clamp(new_values - old_values, -clip_coef, clip_coef)
        v_loss = 0.5 * torch.max((new_values - returns) ** 2, (clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((new_values - returns) ** 2).mean()
    ent = entropy.mean()
    loss = pg_loss - ent_coef * ent + vf_coef * v_loss
    if not with_stats:
        return loss, {}
    with torch.no_grad():
        stats = {
            "policy_loss": pg_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": ent.detach(),
            "old_approx_kl": (-log_ratio).mean(),
            "approx_kl": ((ratio - 1) - log_ratio).mean(),
            "clipfrac": ((ratio - 1.0).abs() > clip_coef).float().mean(),
        }
    return loss, stats


def make_vector_env(env_fns: list[Callable[[], gym.Env]], async_envs: bool = False) -> gym.vector.VectorEnv:
    """A vector env whose envs can report and restore their state (``StateCapture``)."""
    wrapped = [lambda fn=fn: StateCapture(fn()) for fn in env_fns]
    if async_envs:
        return gym.vector.AsyncVectorEnv(wrapped, autoreset_mode=AutoresetMode.SAME_STEP, context="spawn")
    return gym.vector.SyncVectorEnv(wrapped, autoreset_mode=AutoresetMode.SAME_STEP)


def _stack_observations(items: list[Any]) -> Any:
    if isinstance(items[0], dict):
        return {k: (np.stack([o[k] for o in items]) if isinstance(items[0][k], np.ndarray) else tuple(o[k] for o in items)) for k in items[0]}
    return np.stack(items)


def _info_column(infos: dict[str, Any], key: str, n: int) -> list[Any]:
    """Per-env entries of a vector-env info ``key`` (None where absent). Nested info dicts
    (``final_info``) are dicts of arrays; they are split into one dict per env."""
    if key not in infos:
        return [None] * n
    mask = infos.get(f"_{key}", np.ones(n, bool))
    return [_env_entry(infos[key], i) if mask[i] else None for i in range(n)]


def _env_entry(value: Any, i: int) -> Any:
    """Env ``i``'s part of a vector-env info value (recursing into nested dicts of arrays)."""
    if isinstance(value, dict):
        return {k: _env_entry(v, i) for k, v in value.items() if not k.startswith("_") and value.get(f"_{k}", np.ones(i + 1, bool))[i]}
    return value[i]


@dataclass
class EpisodeStats:
    """Returns, lengths and successes of the most recent finished episodes (a window of
    ``EPISODE_WINDOW``), so every update reports a value even when no episode ended in it."""

    returns: list[float]
    lengths: list[int]
    successes: list[float]

    @classmethod
    def empty(cls) -> EpisodeStats:
        return cls([], [], [])

    def trim(self) -> None:
        for values in (self.returns, self.lengths, self.successes):
            del values[:-EPISODE_WINDOW]


EPISODE_WINDOW = 100


def train_ppo(
    policy: Policy,
    env_fns: list[Callable[[], gym.Env]],
    config: PPOConfig,
    run: RunDir,
    seed: int,
    resume: bool = False,
    accelerator: str = "cpu",
    progress: bool = True,
    hyperparameters: dict[str, Any] | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> dict[str, Any]:
    """Train ``policy`` with PPO on ``len(env_fns)`` envs; see the module docstring.

    ``callbacks`` are told of every update and checkpoint (``TrainerCallback``).

    Returns:
        Final metrics (also written to ``metrics.json``).

    Raises:
        TrainingError: A non-finite loss; the last good checkpoint is kept.
    """
    import lightning as L
    from tqdm import tqdm

    if len(env_fns) != config.num_envs:
        raise ValueError(f"got {len(env_fns)} env constructors for ppo.num_envs={config.num_envs}")
    fabric = L.Fabric(accelerator=accelerator, devices=1)
    seed_everything(seed)
    # env i plays the run's episodes i, i + N, ... (agent.episode_seeds): independent across seeds, shared across agents
    seeded = [lambda fn=fn, i=i: EpisodeSeeds(fn(), seed, i, len(env_fns)) for i, fn in enumerate(env_fns)]
    envs = make_vector_env(seeded, config.async_envs)
    trainable = [p for p in policy.parameters() if p.requires_grad]
    fused = accelerator in ("cpu", "cuda", "gpu")  # one fused kernel instead of a loop over tensors
    optimizer = torch.optim.Adam(trainable, lr=config.lr, eps=1e-5, fused=fused, foreach=None if fused else True)
    policy, optimizer = fabric.setup(policy, optimizer)
    device = fabric.device

    update, global_step = 0, 0
    history: list[dict[str, float]] = []
    obs, raw_infos = envs.reset()
    infos = policy_infos(raw_infos, config.num_envs)
    running_return = np.zeros(config.num_envs)
    running_length = np.zeros(config.num_envs, dtype=int)
    if resume:
        state, tensors, opt_state = run.load_checkpoint()
        policy.load_trainable_state({k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")})
        if opt_state is not None:
            optimizer.load_state_dict(opt_state)
        restore_rng_states({**state["rng"], "torch": tensors["rng.torch"]})
        update, global_step, history = state["update"], state["global_step"], state["history"]
        _restore_envs(envs, state["envs"])
        obs = _decode_obs(state["obs"], tensors)
        infos = state["infos"]
        running_return = np.asarray(state["running_return"])
        running_length = np.asarray(state["running_length"], dtype=int)
        recent = EpisodeStats(**state["episodes"])
    writer = run.writer(purge_step=global_step if resume else None)
    if not resume and hyperparameters is not None:
        table = "\n".join(f"|{k}|{v}|" for k, v in {**asdict(config), **hyperparameters}.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    T, N = config.num_steps, config.num_envs
    bar = tqdm(total=config.num_updates * config.batch_size, initial=update * config.batch_size, disable=not progress, unit="step", dynamic_ncols=True)
    stats = recent if resume else EpisodeStats.empty()
    started, started_step = time.time(), global_step
    next_inputs = None
    with StopRequest() as stop:
        while update < config.num_updates and not stop.requested:
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = (1.0 - update / config.num_updates) * config.lr
            rollout: list[Inputs] = []
            actions = torch.zeros((T, N), dtype=torch.long, device=device)
            log_probs, values, rewards = (torch.zeros((T, N), device=device) for _ in range(3))
            terminated, truncated, final_values = (torch.zeros((T, N), device=device) for _ in range(3))
            policy.eval()
            for t in range(T):
                with torch.no_grad():
                    if next_inputs is None:  # the first rollout, or after a resume
                        next_inputs = to_device(policy.prepare(obs, infos), device)
                    inputs, next_inputs = next_inputs, None
                    out = guarded_policy_call(run, update, policy.act, inputs)
                rollout.append(inputs)
                actions[t], log_probs[t], values[t] = out.actions, out.log_probs, out.values
                obs, reward, term, trunc, raw_infos = envs.step(out.env_actions if out.env_actions is not None else out.actions.cpu().numpy())
                infos = policy_infos(raw_infos, N)
                global_step += N
                rewards[t] = torch.as_tensor(reward, dtype=torch.float32, device=device)
                terminated[t] = torch.as_tensor(term, dtype=torch.float32, device=device)
                truncated[t] = torch.as_tensor(trunc & ~term, dtype=torch.float32, device=device)
                running_return += reward
                running_length += 1
                done = np.logical_or(term, trunc)
                if done.any():
                    final_obs = _info_column(raw_infos, "final_obs", N)
                    final_info = _info_column(raw_infos, "final_info", N)
                    for i in np.flatnonzero(done):
                        stats.returns.append(float(running_return[i]))
                        stats.lengths.append(int(running_length[i]))
                        if final_info[i] is not None and "is_success" in final_info[i]:
                            stats.successes.append(float(final_info[i]["is_success"]))
                    running_return[done], running_length[done] = 0.0, 0
                    cut = np.flatnonzero(trunc & ~term)
                    if len(cut):
                        with torch.no_grad():
                            batch = _stack_observations([final_obs[i] for i in cut])
                            cut_infos = oracle_infos([final_info[i] for i in cut])
                            _, v = policy(to_device(policy.prepare(batch, cut_infos), device))
                        final_values[t, torch.as_tensor(cut, device=device)] = v
            with torch.no_grad():
                next_inputs = to_device(policy.prepare(obs, infos), device)  # also the next rollout's first inputs
                _, last_value = policy(next_inputs)
            advantages, returns = compute_gae(rewards, values, last_value, terminated, truncated, final_values, config.gamma, config.gae_lambda)

            flat = concat(rollout)
            b_actions, b_log_probs = actions.reshape(-1), log_probs.reshape(-1)
            b_adv, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
            policy.train()
            minibatch = config.batch_size // config.num_minibatches
            epoch_stats: list[dict[str, torch.Tensor]] = []
            for _ in range(config.update_epochs):
                order = torch.randperm(config.batch_size)
                for start in range(0, config.batch_size, minibatch):
                    idx = order[start : start + minibatch]
                    last = start + minibatch >= config.batch_size  # statistics of each epoch's last minibatch
                    new_lp, entropy, new_values = guarded_policy_call(run, update, policy.evaluate, select(flat, idx), b_actions[idx])
                    loss, mb = ppo_loss(new_lp, b_log_probs[idx], b_adv[idx], new_values, b_values[idx], b_returns[idx], entropy,
                                        config.clip_coef, config.clip_vloss, config.vf_coef, config.ent_coef, config.norm_adv, with_stats=last)
                    if not torch.isfinite(loss):
                        raise non_finite_error(f"non-finite PPO loss ({float(loss)})", run, update)
                    optimizer.zero_grad()
                    fabric.backward(loss)
                    fabric.clip_gradients(policy, optimizer, max_norm=config.max_grad_norm)
                    optimizer.step()
                    if mb:
                        epoch_stats.append(mb)
                if config.target_kl is not None and float(epoch_stats[-1]["approx_kl"]) > config.target_kl:
                    break
            update += 1
            record = _log_update(writer, update, global_step, stats, epoch_stats, optimizer, b_values, b_returns, started, started_step)
            history.append(record)
            stats.trim()
            bar.update(config.batch_size)
            bar.set_postfix(ret=f"{record.get('episodic_return', float('nan')):.2f}", sps=f"{record['sps']:.0f}")
            for callback in callbacks:
                callback.on_update(run, update, record)
            if update % config.checkpoint_every == 0 or update == config.num_updates or stop.requested:
                _save(run, policy, optimizer, envs, obs, infos, update, global_step, history, running_return, running_length, stats)
                for callback in callbacks:
                    callback.on_checkpoint(run, update)
    bar.close()
    envs.close()
    metrics = {"updates": update, "global_step": global_step, "finished": update >= config.num_updates, "history": history}
    if history:
        metrics["final"] = history[-1]
    run.write_metrics(metrics)
    return metrics


def _log_update(writer: Any, update: int, step: int, stats: EpisodeStats, epoch_stats: list[dict[str, float]], optimizer: Any,
                values: torch.Tensor, returns: torch.Tensor, started: float, started_step: int) -> dict[str, float]:
    record: dict[str, float] = {"update": update, "global_step": step, "learning_rate": optimizer.param_groups[0]["lr"]}
    if stats.returns:
        record["episodic_return"] = float(np.mean(stats.returns))
        record["episodic_length"] = float(np.mean(stats.lengths))
    if stats.successes:
        record["success_rate"] = float(np.mean(stats.successes))
    for key in epoch_stats[-1]:
        record[key] = float(torch.stack([s[key] for s in epoch_stats]).mean())
    record["explained_variance"] = explained_variance(values, returns)
    record["sps"] = (step - started_step) / max(1e-9, time.time() - started)
    for key in ("episodic_return", "episodic_length", "success_rate", "learning_rate", "sps"):
        if key in record:
            writer.add_scalar(f"charts/{key}", record[key], step)
    for key in ("policy_loss", "value_loss", "entropy", "approx_kl", "old_approx_kl", "clipfrac", "explained_variance"):
        writer.add_scalar(f"losses/{key}", record[key], step)
    writer.flush()
    return record


def _encode_obs(obs: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    if isinstance(obs, dict):
        meta, tensors = {}, {}
        for key, value in obs.items():
            if isinstance(value, np.ndarray):
                tensors[f"obs.{key}"] = torch.from_numpy(np.ascontiguousarray(value))
                meta[key] = {"tensor": f"obs.{key}"}
            else:
                meta[key] = {"list": list(value)}
        return {"dict": meta}, tensors
    return {"tensor": "obs"}, {"obs": torch.from_numpy(np.ascontiguousarray(obs))}


def _decode_obs(meta: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if "dict" in meta:
        return {k: tensors[v["tensor"]].numpy() if "tensor" in v else tuple(v["list"]) for k, v in meta["dict"].items()}
    return tensors[meta["tensor"]].numpy()


def policy_infos(infos: dict[str, Any], n: int) -> dict[str, Any]:
    """What a policy's ``prepare`` may read of vector-env infos (``policies.ORACLE_INFO_KEYS``: each
    env's ground-truth scene and gold program; gymnasium merges per-env info dicts into dicts of
    arrays, this splits them back)."""
    return {key: _info_column(infos, key, n) for key in ORACLE_INFO_KEYS if key in infos}


def _restore_envs(envs: gym.vector.VectorEnv, states: list[dict[str, Any]]) -> None:
    if len(states) != envs.num_envs:
        raise ValueError(f"checkpoint holds {len(states)} env states for {envs.num_envs} envs")
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        # AsyncVectorEnv.call sends the same arguments to every worker: no per-env state.
        raise ValueError("exact resume needs synchronous envs; run without async envs to resume")
    for env, state in zip(envs.envs, states):
        env.set_state(state)


def _save(run: RunDir, policy: Policy, optimizer: Any, envs: gym.vector.VectorEnv, obs: Any, infos: dict[str, Any], update: int,
          global_step: int, history: list[dict[str, float]], running_return: np.ndarray, running_length: np.ndarray, stats: EpisodeStats) -> None:
    rng = rng_states()
    obs_meta, tensors = _encode_obs(obs)
    tensors.update({f"policy.{k}": v for k, v in policy.trainable_state().items()})
    tensors["rng.torch"] = rng.pop("torch")
    env_states = list(envs.call("get_state"))
    state = {
        "update": update,
        "global_step": global_step,
        "history": history,
        "rng": rng,
        "envs": env_states,
        "obs": obs_meta,
        "infos": infos,
        "running_return": running_return.tolist(),
        "running_length": running_length.tolist(),
        "episodes": asdict(stats),
    }
    run.save_checkpoint(state, tensors, optimizer.state_dict())
