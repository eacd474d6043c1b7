"""The trainers' hyper-parameters as typed dataclasses: one source of truth for PPO, GRPO and SFT.

Each field is settable from the command line (``physground train-agent --ppo.gamma 0.97``) and
from a preset's YAML (``ppo: {gamma: 0.97}``); ``agent.training.training_spec`` applies such
overrides over an agent's defaults, and every run saves the resolved values in ``config.json``.
This module imports nothing heavy, so that the command line can list the fields cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class PPOConfig:
    """PPO hyper-parameters (the defaults are rl-zoo's CartPole settings)."""

    total_steps: int = 100_000
    num_envs: int = 8
    num_steps: int = 32
    gamma: float = 0.98
    gae_lambda: float = 0.8
    num_minibatches: int = 8
    update_epochs: int = 20
    clip_coef: float = 0.2
    clip_vloss: bool = False
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    lr: float = 1e-3
    anneal_lr: bool = True
    norm_adv: bool = True
    target_kl: float | None = None
    async_envs: bool = False
    checkpoint_every: int = 20

    def __post_init__(self) -> None:
        for name in ("total_steps", "num_envs", "num_steps", "num_minibatches", "update_epochs", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"ppo.{name} must be a positive integer, got {value!r}")
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(f"ppo.num_minibatches ({self.num_minibatches}) must divide num_envs * num_steps ({self.num_envs * self.num_steps})")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"ppo.{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ("clip_coef", "vf_coef", "ent_coef", "max_grad_norm", "lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"ppo.{name} must be a finite number >= 0, got {value!r}")
        if self.lr == 0:
            raise ValueError(f"ppo.lr must be a finite number > 0, got {self.lr!r}")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)


@dataclass(frozen=True)
class GRPOConfig:
    """GRPO hyper-parameters (group size and LoRA rank as in the paper)."""

    updates: int = 50
    prompts_per_update: int = 8
    group_size: int = 16
    lr: float = 1e-4
    clip_coef: float = 0.2
    kl_coef: float = 0.04
    epochs: int = 1
    minibatch: int = 32
    max_grad_norm: float = 1.0
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        for name in ("updates", "prompts_per_update", "group_size", "epochs", "minibatch", "checkpoint_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"grpo.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.group_size < 2:
            raise ValueError(f"grpo.group_size must be at least 2 (advantages are relative), got {self.group_size}")
        for name in ("clip_coef", "kl_coef", "max_grad_norm", "lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"grpo.{name} must be a finite number >= 0, got {value!r}")
        if self.lr == 0:
            raise ValueError(f"grpo.lr must be a finite number > 0, got {self.lr!r}")


@dataclass(frozen=True)
class SFTConfig:
    """SFT hyper-parameters.

    Attributes:
        examples: Simulator-labelled examples (a tenth of them held out for validation).
        epochs: Passes over the training examples.
        batch_size: Examples per optimiser step.
        lr: AdamW learning rate of the trainable (LoRA) parameters.
    """

    examples: int = 2000
    epochs: int = 3
    batch_size: int = 16
    lr: float = 2e-4

    def __post_init__(self) -> None:
        for name in ("examples", "epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"sft.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"sft.lr must be a finite number > 0, got {self.lr!r}")


@dataclass(frozen=True)
class CueConfig:
    """Settings of the cue baselines' fit (``agent.cues``).

    Attributes:
        examples: Expert steps (simulator-labelled answers) the classifier is fit on.
        regularisation: Inverse L2 strength of the logistic regression (scikit-learn's ``C``).
    """

    examples: int = 2000
    regularisation: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.examples, int) or isinstance(self.examples, bool) or self.examples < 1:
            raise ValueError(f"cue.examples must be a positive integer, got {self.examples!r}")
        if not isinstance(self.regularisation, (int, float)) or not math.isfinite(self.regularisation) or self.regularisation <= 0:
            raise ValueError(f"cue.regularisation must be a finite number > 0, got {self.regularisation!r}")
