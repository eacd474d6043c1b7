"""``physground train-agent``: resolve an agent's configuration, make its run directory, train."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from agent.factory import AgentSpec, build_policy, env_factory, weight_digests
from agent.grpo import GRPOConfig, train_grpo
from agent.ppo import PPOConfig, train_ppo
from agent.run import RunDir, seed_everything
from experiments.cli import given_options

DEFAULT_STEPS = {"mlp": 100_000, "vlm-ppo": 4096, "vlm-grpo": 4096, "vlm-sft": 2000, "hybrid": 2048, "hybrid-no-dynamics": 2048, "hybrid-oracle": 2048, "hybrid-task-slots": 2048, "vlm-zero-shot": 0}


def ppo_config(spec: AgentSpec, steps: int, num_envs: int | None, lr: float | None, async_envs: bool) -> PPOConfig:
    """PPO settings per agent: rl-zoo's CartPole settings for the MLP; for VLM and hybrid agents
    short rollouts of many envs (most tasks are one-step) and a few epochs."""
    if spec.agent == "mlp":
        base = PPOConfig()
        return dataclasses.replace(base, total_steps=steps, num_envs=num_envs or base.num_envs, lr=lr or base.lr, async_envs=async_envs)
    envs = num_envs or 8
    return PPOConfig(
        total_steps=steps, num_envs=envs, num_steps=16, gamma=0.99, gae_lambda=0.95, num_minibatches=4, update_epochs=4, clip_coef=0.2,
        clip_vloss=True, vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5, lr=lr or (3e-4 if spec.agent.startswith("vlm") else 1e-3),
        anneal_lr=True, async_envs=async_envs, checkpoint_every=4,
    )


def train_agent(args: argparse.Namespace) -> dict[str, Any]:
    """Train the agent described by the command-line arguments (see ``physground train-agent -h``)."""
    spec = AgentSpec(
        agent=args.agent, task=args.task, seed=args.seed, vlm=args.vlm, grounder=args.grounder, dynamics=args.dynamics,
        lora_rank=args.lora_rank, lora_targets=args.lora_targets, vlm_mode=args.vlm_mode, image_size=args.image_size,
        **given_options(args, "multisamples"),
    )
    steps = args.steps if args.steps is not None else DEFAULT_STEPS[spec.agent]
    if steps < 0 or (steps == 0 and spec.trainer != "none"):
        raise ValueError(f"--steps must be positive for {spec.agent}, got {steps}")
    out = args.out or f"runs/{spec.task.replace('/', '_')}__{spec.agent}__{spec.seed}__{int(time.time())}"
    run = RunDir(out)
    if args.resume and not run.has_checkpoint():
        raise FileNotFoundError(f"--resume: no checkpoint in {str(Path(out) / 'checkpoint')!r}")
    if not args.resume and run.has_checkpoint():
        raise ValueError(f"{out!r} already holds a trained run; pass --resume to continue it or choose another --out")
    config: dict[str, Any] = {"agent": spec.to_dict(), "trainer": spec.trainer, "steps": steps, "accelerator": args.accelerator, "weights_sha256": weight_digests(spec)}
    if spec.trainer == "ppo":
        ppo = ppo_config(spec, steps, args.num_envs, args.lr, args.async_envs)
        config["ppo"] = dataclasses.asdict(ppo)
    elif spec.trainer == "grpo":
        per_update = 8 * 16
        grpo = GRPOConfig(updates=max(1, steps // per_update), lr=args.lr or 1e-4)
        config["grpo"] = dataclasses.asdict(grpo)
    elif spec.trainer == "sft":
        config["sft"] = {"examples": steps, "epochs": 3, "batch_size": 16, "lr": args.lr or 2e-4}
    run.write_config(config)
    if spec.trainer == "none":
        metrics: dict[str, Any] = {"note": "zero-shot: nothing to train"}
        run.write_metrics(metrics)
    else:
        seed_everything(spec.seed)  # the policy's initialisation, too, comes from the run's seed
        policy = build_policy(spec)
        hyper = {"agent": spec.agent, "task": spec.task, "seed": spec.seed}
        if spec.trainer == "ppo":
            fns = [env_factory(spec.task, spec.image_size, spec.multisamples)] * ppo.num_envs
            metrics = train_ppo(policy, fns, ppo, run, seed=spec.seed, resume=args.resume, accelerator=args.accelerator, hyperparameters=hyper)
        elif spec.trainer == "grpo":
            metrics = train_grpo(
                policy, env_factory(spec.task, spec.image_size, spec.multisamples), grpo, run, seed=spec.seed, resume=args.resume, hyperparameters=hyper, accelerator=args.accelerator
            )
        else:
            from agent.sft import train_sft

            s = config["sft"]
            metrics = train_sft(policy, spec.task, run, spec.seed, examples=s["examples"], epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], image_size=spec.image_size,
                                multisamples=spec.multisamples)
    run.close()
    metrics["run"] = str(run.path)
    return metrics
