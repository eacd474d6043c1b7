"""GRPO for one-step tasks (the RL setting of arXiv 2602.06033: G = 16 answers per scene, LoRA r = 16).

For each scene, G answers are sampled from the policy; each is scored by the env restored to the
very same scene (its plain-data state), so the G rewards differ only by the answer. Advantages are
the rewards normalised within the group; the objective is PPO's clipped surrogate, with an optional
KL penalty to the frozen pre-trained model (k3 estimator; LoRA adapters switched off). No critic.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
import torch

from physground.agent.configs import GRPOConfig
from physground.agent.env_state import StateCapture
from physground.agent.episode_seeds import episode_seed
from physground.agent.policies import Policy, concat, oracle_infos, select, to_device
from physground.agent.run import RunDir, StopRequest, TrainerCallback, guarded_policy_call, non_finite_error, restore_rng_states, rng_states, seed_everything


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """(r - mean) / (std + eps) within each group; (P, G) -> (P, G). Groups whose answers all
    scored the same get zero advantage."""
    mean = rewards.mean(dim=1, keepdim=True)
    std = rewards.std(dim=1, keepdim=True, unbiased=False)
    return torch.where(std > eps, (rewards - mean) / (std + eps), torch.zeros_like(rewards))


def grpo_loss(new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor, ref_log_probs: torch.Tensor | None,
              clip_coef: float = 0.2, kl_coef: float = 0.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate plus ``kl_coef`` times the k3 estimate of KL(policy || reference)."""
    ratio = (new_log_probs - old_log_probs).exp()
    surrogate = torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages).mean()
    loss = -surrogate
    stats = {"policy_loss": (-surrogate).detach(), "clipfrac": ((ratio - 1).abs() > clip_coef).float().mean().detach()}
    if ref_log_probs is not None:
        log_r = ref_log_probs - new_log_probs
        kl = (log_r.exp() - log_r - 1).mean()
        loss = loss + kl_coef * kl
        stats["kl_to_reference"] = kl.detach()
    return loss, stats


def train_grpo(policy: Policy, env_fn: Callable[[], gym.Env], config: GRPOConfig, run: RunDir, seed: int, resume: bool = False,
               progress: bool = True, hyperparameters: dict[str, Any] | None = None, accelerator: str = "cpu",
               callbacks: Sequence[TrainerCallback] = ()) -> dict[str, Any]:
    """Train ``policy`` with GRPO on a one-step task; see the module docstring.

    ``callbacks`` are told of every update and checkpoint (``TrainerCallback``).

    The policy runs where ``accelerator`` says (Lightning Fabric, as in PPO); the env stays on the CPU.
    """
    import lightning as L
    from tqdm import tqdm

    fabric = L.Fabric(accelerator=accelerator, devices=1)
    seed_everything(seed)
    env = StateCapture(env_fn())
    optimizer = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=config.lr)
    policy, optimizer = fabric.setup(policy, optimizer)
    device = fabric.device
    update, history = 0, []
    if resume:
        state, tensors, opt_state = run.load_checkpoint()
        policy.load_trainable_state({k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")})
        optimizer.load_state_dict(opt_state)
        restore_rng_states({**state["rng"], "torch": tensors["rng.torch"]})
        update, history = state["update"], state["history"]
    writer = run.writer(purge_step=update if resume else None)
    if not resume and hyperparameters is not None:
        table = "\n".join(f"|{k}|{v}|" for k, v in {**asdict(config), **hyperparameters}.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
    bar = tqdm(total=config.updates, initial=update, disable=not progress, unit="update", dynamic_ncols=True)
    started = time.time()
    with StopRequest() as stop:
        while update < config.updates and not stop.requested:
            groups, actions, old_lp, rewards, successes, invalid = [], [], [], [], [], []
            policy.eval()
            for p in range(config.prompts_per_update):
                obs, info = env.reset(seed=episode_seed(seed, update * config.prompts_per_update + p))  # resume needs no env state
                saved = env.get_state()
                batch = {k: (np.asarray(v)[None] if isinstance(v, np.ndarray) else (v,)) for k, v in obs.items()}
                with torch.no_grad():
                    inputs = to_device(policy.prepare(batch, oracle_infos([info])), device)
                    group = concat([inputs] * config.group_size)
                    out = guarded_policy_call(run, update, policy.act, group)
                row = []
                for g in range(config.group_size):
                    env.set_state(saved)
                    action = out.env_actions[g] if out.env_actions is not None else int(out.actions[g])
                    _, reward, terminated, truncated, step_info = env.step(action)
                    if not terminated:
                        raise ValueError("GRPO is for one-step tasks: the episode did not end after one answer")
                    row.append(float(reward))
                    successes.append(float(step_info.get("is_success", reward > 0)))
                    invalid.append(float(bool(step_info.get("invalid_answer", False))))
                groups.append(group)
                actions.append(out.actions)
                old_lp.append(out.log_probs)
                rewards.append(row)
            reward_t = torch.tensor(rewards)
            advantages = group_advantages(reward_t).reshape(-1).to(device)
            flat, b_actions, b_old = concat(groups), torch.cat(actions), torch.cat(old_lp)
            policy.train()
            stats: list[dict[str, torch.Tensor]] = []
            n = len(b_actions)
            for _ in range(config.epochs):
                order = torch.randperm(n)
                for start in range(0, n, config.minibatch):
                    idx = order[start : start + config.minibatch]
                    mb_inputs = select(flat, idx)
                    new_lp, _, _ = guarded_policy_call(run, update, policy.evaluate, mb_inputs, b_actions[idx])
                    ref = policy.reference_log_probs(mb_inputs, b_actions[idx]) if config.kl_coef else None
                    loss, mb = grpo_loss(new_lp, b_old[idx], advantages[idx], ref, config.clip_coef, config.kl_coef)
                    if not torch.isfinite(loss):
                        raise non_finite_error(f"non-finite GRPO loss ({float(loss)})", run, update)
                    optimizer.zero_grad()
                    fabric.backward(loss)
                    fabric.clip_gradients(policy, optimizer, max_norm=config.max_grad_norm)
                    optimizer.step()
                    stats.append(mb)
            update += 1
            record = {"update": update, "reward": float(reward_t.mean()), "success_rate": float(np.mean(successes)),
                      "invalid_rate": float(np.mean(invalid)), "sps": update * config.prompts_per_update * config.group_size / max(1e-9, time.time() - started)}
            for key in stats[-1]:
                record[key] = float(torch.stack([s[key] for s in stats]).mean())
            step = update * config.prompts_per_update
            writer.add_scalar("charts/reward", record["reward"], step)
            writer.add_scalar("charts/success_rate", record["success_rate"], step)
            writer.add_scalar("charts/invalid_rate", record["invalid_rate"], step)
            for key in ("policy_loss", "clipfrac", "kl_to_reference"):
                if key in record:
                    writer.add_scalar(f"losses/{key}", record[key], step)
            writer.flush()
            history.append(record)
            bar.update(1)
            bar.set_postfix(reward=f"{record['reward']:.2f}", acc=f"{record['success_rate']:.2f}")
            for callback in callbacks:
                callback.on_update(run, update, record)
            if update % config.checkpoint_every == 0 or update == config.updates or stop.requested:
                rng = rng_states()
                tensors = {f"policy.{k}": v for k, v in policy.trainable_state().items()}
                tensors["rng.torch"] = rng.pop("torch")
                run.save_checkpoint({"update": update, "history": history, "rng": rng}, tensors, optimizer.state_dict())
                for callback in callbacks:
                    callback.on_checkpoint(run, update)
    bar.close()
    env.close()
    metrics = {"updates": update, "finished": update >= config.updates, "history": history, "final": history[-1] if history else {}}
    run.write_metrics(metrics)
    return metrics
