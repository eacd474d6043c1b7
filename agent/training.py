"""Train an agent: resolve its whole configuration, make its run directory, run its trainer.

The library call behind ``physground train-agent`` and every ablation cell::

    spec = training_spec(AgentSpec("vlm-ppo", "TowerStability", seed=0), steps=4096, overrides={"ppo": {"gamma": 0.97}})
    run = train_agent(spec, "runs/my-run")
    run.read_metrics()["final"]

``TrainingSpec`` is the one source of truth of a run: the agent, the environment steps, where it
trains, and the typed hyper-parameters of its trainer (``PPOConfig``, ``GRPOConfig`` or
``SFTConfig``; the cue baselines' fit: ``CueConfig``). It is validated whole before anything is written and saved resolved in the run's
``config.json``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from physground.agent.configs import CueConfig, GRPOConfig, PPOConfig, SFTConfig
from physground.agent.cues import CUE_AGENTS, train_cue_policy
from physground.agent.factory import AGENTS, AgentSpec, build_policy, env_factory, weight_digests
from physground.agent.grpo import train_grpo
from physground.agent.ppo import train_ppo
from physground.agent.run import RunDir, TrainerCallback, seed_everything
from physground.envs.typed_config import replace_fields

DEFAULT_STEPS = {
    "mlp": 100_000, "vlm-ppo": 4096, "vlm-grpo": 4096, "vlm-sft": 2000, "vlm-zero-shot": 0,
    **{agent: 2048 for agent in AGENTS if agent.startswith("hybrid")},
    **{agent: 2000 for agent in CUE_AGENTS},
}
"""Environment steps (answers) an agent trains on when the caller names none."""
TRAINER_CONFIGS = {"ppo": PPOConfig, "grpo": GRPOConfig, "sft": SFTConfig, "fit": CueConfig}
"""Each trainer's hyper-parameter dataclass (the key is also its section in configs and presets)."""
STEP_FIELDS = {"ppo": "total_steps", "grpo": "updates", "sft": "examples", "fit": "examples"}
"""The field of each trainer's config that ``steps`` sets (not overridable on its own)."""
ACCELERATORS = ("cpu", "cuda", "gpu", "mps", "auto")


def agent_ppo_config(agent: str, steps: int) -> PPOConfig:
    """The PPO settings of ``agent`` before overrides: rl-zoo's CartPole settings for the MLP;
    for VLM and hybrid agents short rollouts of many envs (most tasks are one-step) and a few epochs."""
    if agent == "mlp":
        return PPOConfig(total_steps=steps)
    return PPOConfig(
        total_steps=steps, num_envs=8, num_steps=16, gamma=0.99, gae_lambda=0.95, num_minibatches=4, update_epochs=4, clip_coef=0.2,
        clip_vloss=True, vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5, lr=3e-4 if agent.startswith("vlm") else 1e-3,
        anneal_lr=True, checkpoint_every=4,
    )


def agent_grpo_config(steps: int, overrides: Mapping[str, Any]) -> GRPOConfig:
    """GRPO settings for ``steps`` answers: as many updates as ``steps`` fills with groups
    (``prompts_per_update`` x ``group_size`` answers per update, after ``overrides``)."""
    base = replace_fields(GRPOConfig(), overrides, "grpo")
    return dataclasses.replace(base, updates=max(1, steps // (base.prompts_per_update * base.group_size)))


@dataclasses.dataclass(frozen=True)
class TrainingSpec:
    """Everything that defines a training run (saved resolved in its ``config.json``).

    Attributes:
        agent: The agent (policy, task, seed, components).
        steps: Environment steps (answers) to train on; 0 only for agents that do not train.
        accelerator: Where the policy trains: "cpu", "cuda" (or "gpu"), "mps", "auto".
        trainer_config: The trainer's hyper-parameters (``PPOConfig``, ``GRPOConfig``,
            ``SFTConfig``); None for agents that do not train.
    """

    agent: AgentSpec
    steps: int
    accelerator: str = "cpu"
    trainer_config: PPOConfig | GRPOConfig | SFTConfig | CueConfig | None = None

    def __post_init__(self) -> None:
        check_steps(self.agent, self.steps)
        if self.accelerator not in ACCELERATORS:
            raise ValueError(f"unknown accelerator {self.accelerator!r}; valid: {', '.join(ACCELERATORS)}")
        expected = TRAINER_CONFIGS.get(self.trainer)
        if (expected is None) != (self.trainer_config is None) or (expected is not None and not isinstance(self.trainer_config, expected)):
            raise ValueError(f"{self.agent.agent} trains with {self.trainer}, not with {type(self.trainer_config).__name__}")

    @property
    def trainer(self) -> str:
        return self.agent.trainer

    @property
    def env_steps(self) -> int:
        """The environment steps (answers) the trainer will take: ``steps`` rounded to whole PPO
        rollouts (``num_envs`` x ``num_steps``, at least one) or GRPO updates."""
        config = self.trainer_config
        if isinstance(config, PPOConfig):
            return config.num_updates * config.batch_size
        if isinstance(config, GRPOConfig):
            return config.updates * config.prompts_per_update * config.group_size
        return self.steps

    @property
    def env_steps_reason(self) -> str:
        """Why ``env_steps`` differs from ``steps``, in words."""
        config = self.trainer_config
        if isinstance(config, PPOConfig):
            return f"whole PPO rollouts of {config.num_envs} envs x {config.num_steps} steps"
        if isinstance(config, GRPOConfig):
            return f"whole GRPO updates of {config.prompts_per_update} scenes x {config.group_size} answers"
        return "as asked"

    def to_config(self) -> dict[str, Any]:
        """The run's ``config.json`` content (without the component digests)."""
        config: dict[str, Any] = {"agent": self.agent.to_dict(), "trainer": self.trainer, "steps": self.steps, "env_steps": self.env_steps,
                                  "accelerator": self.accelerator}
        if self.trainer_config is not None:
            config[self.trainer] = dataclasses.asdict(self.trainer_config)
        return config



def training_spec(agent: AgentSpec, steps: int | None = None, accelerator: str = "cpu", overrides: Mapping[str, Mapping[str, Any]] | None = None) -> TrainingSpec:
    """The resolved training configuration of ``agent``.

    Args:
        agent: The agent to train.
        steps: Environment steps (answers); default ``DEFAULT_STEPS[agent.agent]``.
        accelerator: Where the policy trains.
        overrides: Hyper-parameters by trainer section, e.g. ``{"ppo": {"gamma": 0.97}}``, applied
            over the agent's defaults and type-checked field by field.

    Raises:
        ValueError: A section for a trainer the agent does not use, an unknown field, a value of
            the wrong type or range, or a field that ``steps`` sets; naming it.
    """
    overrides = {k: dict(v) for k, v in (overrides or {}).items() if v}
    steps = DEFAULT_STEPS[agent.agent] if steps is None else steps
    trainer = agent.trainer
    for section, values in overrides.items():
        if section not in TRAINER_CONFIGS:
            raise ValueError(f"unknown trainer section {section!r}; valid: {', '.join(TRAINER_CONFIGS)}")
        if section != trainer:
            raise ValueError(f"{agent.agent} trains with {trainer}; it has no {section} settings (got {section}.{next(iter(values))})")
        if STEP_FIELDS[section] in values:
            raise ValueError(f"{section}.{STEP_FIELDS[section]} follows from steps; set steps instead")
    check_steps(agent, steps)
    own = overrides.get(trainer, {})
    config: PPOConfig | GRPOConfig | SFTConfig | CueConfig | None
    if trainer == "ppo":
        config = replace_fields(agent_ppo_config(agent.agent, steps), own, "ppo")
    elif trainer == "grpo":
        config = agent_grpo_config(steps, own)
    elif trainer == "sft":
        config = replace_fields(SFTConfig(examples=steps), own, "sft")
    elif trainer == "fit":
        config = replace_fields(CueConfig(examples=steps), own, "fit")
    else:
        config = None
    return TrainingSpec(agent=agent, steps=steps, accelerator=accelerator, trainer_config=config)


def check_steps(agent: AgentSpec, steps: Any) -> None:
    """Refuse ``steps`` that are not a positive integer (0 only for agents that do not train)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0 or (steps == 0 and agent.trainer != "none"):
        raise ValueError(f"steps must be a positive integer for {agent.agent}, got {steps!r}")


def default_run_dir(agent: AgentSpec) -> Path:
    """``runs/{task}__{agent}__{seed}__{time}`` (CleanRL's naming)."""
    return Path(f"runs/{agent.task.replace('/', '_')}__{agent.agent}__{agent.seed}__{int(time.time())}")


def train_agent(spec: TrainingSpec, out: str | Path, resume: bool = False, progress: bool = True, callbacks: Sequence[TrainerCallback] = (),
                reset_cache: str | Path | None = None) -> RunDir:
    """Train ``spec``'s agent into run directory ``out`` (``metrics.json`` says whether it finished).

    Args:
        spec: The resolved configuration (``training_spec``).
        out: The run directory.
        resume: Continue the run in ``out`` from its checkpoint (same config required).
        progress: Show a progress bar.
        callbacks: Told of every update and checkpoint.
        reset_cache: A folder: PPO's and GRPO's training resets are replayed from it when drawn
            before, e.g. by another agent of the same seed (``agent.reset_cache``; the training
            episodes of a seed are the same for every agent, ``agent.episode_seeds``). The run is
            the same with or without it.

    Returns:
        The run directory (``read_metrics()`` holds the final metrics). A VLM agent's run also
        holds its LoRA as a PEFT adapter folder, ``adapter/``.

    Raises:
        FileNotFoundError: ``resume`` without a checkpoint in ``out``.
        ValueError: ``out`` already holds a trained run (without ``resume``), or a run of another config.
    """
    run = RunDir(out)
    if resume and not run.has_checkpoint():
        raise FileNotFoundError(f"--resume: no checkpoint in {str(Path(out) / 'checkpoint')!r}")
    if not resume and run.has_checkpoint():
        raise ValueError(f"{str(out)!r} already holds a trained run; pass --resume to continue it or choose another --out")
    agent = spec.agent
    config_json = {**spec.to_config(), "weights_sha256": weight_digests(agent)}
    if spec.trainer == "none":
        build_policy(agent)  # its components load (a bad checkpoint is refused before anything is written)
        run.write_config(config_json)
        run.write_metrics({"note": "zero-shot: nothing to train"})
        return run
    seed_everything(agent.seed)  # the policy's initialisation, too, comes from the run's seed
    policy = build_policy(agent)  # before anything is written: a component that cannot load leaves no run behind
    run.write_config(config_json)
    try:
        hyper = {"agent": agent.agent, "task": agent.task, "seed": agent.seed}
        config = spec.trainer_config
        if isinstance(config, PPOConfig):
            fns = [env_factory(agent.task, agent.image_size, agent.multisamples, task_version=agent.task_version, reset_cache=reset_cache)] * config.num_envs
            train_ppo(policy, fns, config, run, seed=agent.seed, resume=resume, accelerator=spec.accelerator, progress=progress, hyperparameters=hyper,
                      callbacks=callbacks)
        elif isinstance(config, GRPOConfig):
            train_grpo(policy, env_factory(agent.task, agent.image_size, agent.multisamples, task_version=agent.task_version, reset_cache=reset_cache), config, run, seed=agent.seed, resume=resume, progress=progress,
                       hyperparameters=hyper, accelerator=spec.accelerator, callbacks=callbacks)
        elif isinstance(config, CueConfig):
            train_cue_policy(policy, run, agent.seed, config, agent.task_version)
        else:
            from physground.agent.sft import train_sft

            train_sft(policy, agent.task, run, agent.seed, config, image_size=agent.image_size, progress=progress, multisamples=agent.multisamples,
                      callbacks=callbacks, task_version=agent.task_version)
        policy.export(run.path)  # the trained weights in their ecosystem's format too (a PEFT adapter folder)
    finally:
        run.close()
    return run
