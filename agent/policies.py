"""Policies: one interface for every learner, so trainers never know which policy they train.

``prepare(obs, infos)`` turns a batch of vector-env observations into the policy's inputs (a dict
of tensors / arrays / lists with the batch first). Frozen work happens there, once per
observation (the hybrid's grounding and imagination), so PPO's epochs reuse it. Then:

- ``forward(inputs) -> (logits (B, A), values (B,))``;
- ``act(inputs, deterministic) -> ActOutput`` (actions, log-probs, entropy, values);
- ``evaluate(inputs, actions) -> (log-probs, entropy, values)``;
- ``for_task(task) -> Policy``: the same weights answering another task (its answer words, and
  for the hybrid agents its semantics), for transfer evaluation;
- ``reference_log_probs(inputs, actions)``: log-probabilities under the frozen pre-trained model
  (GRPO's KL anchor), None for policies that have none.

A trained policy is loaded from its run directory with ``agent.factory.load_policy(run)``.

``MLPPolicy`` fits any env with a ``Box`` observation and ``Discrete`` action. ``VLMPolicy`` and
``HybridPolicy`` live in ``agent/vlm_policy.py`` and ``agent/hybrid.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical

Inputs = dict[str, Any]


@dataclass
class ActOutput:
    """What ``act`` returns for a batch: (B,) tensors, and what to send to the envs when that is
    not the action index (free-text answers)."""

    actions: torch.Tensor
    log_probs: torch.Tensor
    entropy: torch.Tensor
    values: torch.Tensor
    env_actions: np.ndarray | None = None


def select(inputs: Inputs, index: torch.Tensor | np.ndarray | list[int]) -> Inputs:
    """The rows ``index`` of every entry of ``inputs`` (tensors, arrays, lists)."""
    tensor_index = torch.as_tensor(index, dtype=torch.long)
    idx = tensor_index.tolist() if any(not isinstance(v, torch.Tensor) for v in inputs.values()) else None
    out = {}
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor):
            out[key] = value[tensor_index.to(value.device)]
        elif isinstance(value, np.ndarray):
            out[key] = value[idx]
        else:
            out[key] = [value[i] for i in idx]
    return out


def to_device(inputs: Inputs, device: torch.device) -> Inputs:
    """``inputs`` with every tensor moved to ``device`` (other values as they are)."""
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


def concat(parts: list[Inputs]) -> Inputs:
    """Stack the rows of several inputs (same keys)."""
    out = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        if isinstance(values[0], torch.Tensor):
            out[key] = torch.cat(values)
        elif isinstance(values[0], np.ndarray):
            out[key] = np.concatenate(values)
        else:
            out[key] = [v for p in values for v in p]
    return out


ORACLE_INFO_KEYS = ("scene", "program")
"""What ``prepare`` may read of an env's info: the ground-truth scene and the prompt's gold program
(for the oracle agents only; trainers and evaluators hand both over, a policy takes what it needs)."""


def oracle_infos(infos: Sequence[dict[str, Any] | None]) -> dict[str, list[Any]]:
    """The ``infos`` argument of ``prepare`` for a batch of per-env info dicts (None: no info)."""
    return {key: [(info or {}).get(key) for info in infos] for key in ORACLE_INFO_KEYS}


def batch_size(inputs: Inputs) -> int:
    return len(next(iter(inputs.values())))


class Policy(nn.Module):
    """Base class: subclasses implement ``prepare`` and ``forward``.

    Attributes:
        action_names: The answer words of the task's actions.
        task: The task it answers (a physground task name, or a gymnasium id for the MLP).
        reads_images: Whether ``prepare`` reads the observation's image.
    """

    action_names: tuple[str, ...] = ()
    task: str = ""
    reads_images: bool = True
    """False for policies that never look at the image (the cue baselines): evaluation skips rendering."""

    def prepare(self, obs: Any, infos: dict[str, Any] | None = None) -> Inputs:
        """Model inputs of a batch of observations (and the envs' ``infos``).

        Everything here must be independent of the trainable parameters (raw tensors, frozen
        encoders, imagined rollouts of a frozen model): trainers reuse the inputs of a rollout's
        last observation as the first inputs of the next rollout, across a parameter update.
        """
        raise NotImplementedError

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def act(self, inputs: Inputs, deterministic: bool = False) -> ActOutput:
        logits, values = self(inputs)
        dist = Categorical(logits=finite_logits(logits))
        actions = logits.argmax(-1) if deterministic else dist.sample()
        return ActOutput(actions, dist.log_prob(actions), dist.entropy(), values)

    def evaluate(self, inputs: Inputs, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, values = self(inputs)
        dist = Categorical(logits=finite_logits(logits))
        return dist.log_prob(actions), dist.entropy(), values

    def for_task(self, task: str) -> Policy:
        """This policy answering ``task``: itself for its own task; subclasses that can answer
        other tasks re-target their answer words (and semantics).

        Raises:
            ValueError: The policy cannot act in ``task``.
        """
        if task == self.task:
            return self
        raise ValueError(f"{type(self).__name__} of {self.task or 'its task'} cannot act in {task} (different observation or action space)")

    def export(self, folder: Path) -> list[str]:
        """Write the trained parts in their ecosystem's own format below ``folder`` (e.g. a VLM's
        LoRA as a PEFT adapter folder); returns the names of the folders written (none here)."""
        return []

    def reference_log_probs(self, inputs: Inputs, actions: torch.Tensor) -> torch.Tensor | None:
        """Log-probabilities (B,) of ``actions`` under the frozen pre-trained model; None: no reference."""
        return None

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The tensors a checkpoint must hold (trainable parameters; frozen parts are rebuilt
        from their own checkpoints)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`trainable_state`'s tensors, checking names and shapes.

        Raises:
            ValueError: Missing, unexpected or misshapen tensors (a checkpoint of another policy).
        """
        own = dict(self.named_parameters())
        expected = {n for n, p in own.items() if p.requires_grad}
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(f"checkpoint does not fit this policy: missing {missing[:3]}, unexpected {unexpected[:3]}")
        with torch.no_grad():
            for name, tensor in state.items():
                if own[name].shape != tensor.shape:
                    raise ValueError(f"checkpoint tensor {name!r} has shape {tuple(tensor.shape)}, the policy needs {tuple(own[name].shape)}")
                own[name].copy_(tensor)


class NonFiniteOutput(ValueError):
    """A policy produced NaN or infinite action logits (its parameters or inputs hold them)."""


def finite_logits(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` (B, A), checked: no NaN, no +inf, and in every row at least one finite entry
    (-inf alone may mask an action).

    Raises:
        NonFiniteOutput: The check fails.
    """
    finite = torch.isfinite(logits)
    if not bool(((finite | torch.isneginf(logits)).all(-1) & finite.any(-1)).all()):  # one reduction: one device sync
        raise NonFiniteOutput(f"the policy's action logits are not finite ({int((~finite).sum())} of {logits.numel()} entries)")
    return logits


def log_prob_entropy(logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of ``actions`` (B,) and entropies (B,) of categorical ``logits`` (B, A)."""
    log_p = torch.log_softmax(finite_logits(logits), dim=-1)
    return log_p.gather(-1, actions[:, None].long()).squeeze(-1), -(log_p.exp() * log_p).sum(-1)


class MLPPolicy(Policy):
    """Separate actor and critic MLPs (two tanh layers, orthogonal init as in CleanRL) for vector
    observations.

    Both networks have the same shape, so they are evaluated together: their weights are stacked
    on a leading axis of 2 and run with batched matrix products. That is exactly two separate
    MLPs (no weight is shared) with half the operations per step. The critic's output has as many
    columns as the actor's; only column 0 is read, the others start at zero and never change.

    Args:
        obs_dim: Size of the flattened observation.
        n_actions: Number of discrete actions.
        hidden: Width of the two hidden layers.
        action_names: Names of the actions (default "0", "1", ...).
        task: The env it acts in.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64, action_names: tuple[str, ...] | None = None, task: str = "") -> None:
        super().__init__()
        self.task = task
        self.action_names = tuple(action_names or (str(i) for i in range(n_actions)))
        sizes = [(obs_dim, hidden), (hidden, hidden), (hidden, n_actions)]
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(2, i, o)) for i, o in sizes)
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(2, 1, o)) for _, o in sizes)
        with torch.no_grad():
            for k, w in enumerate(self.weights):
                for net in range(2):
                    last = k == len(sizes) - 1
                    gain = (0.01 if net == 0 else 1.0) if last else float(np.sqrt(2))
                    cols = w.shape[2] if not (last and net == 1) else 1
                    block = torch.empty(cols, w.shape[1])
                    nn.init.orthogonal_(block, gain)
                    w[net].zero_()
                    w[net, :, :cols] = block.t()

    def prepare(self, obs: Any, infos: dict[str, Any] | None = None) -> Inputs:
        if not isinstance(obs, np.ndarray) or obs.dtype.kind not in "fiub":
            raise ValueError(f"MLPPolicy needs a numeric observation array (a Box space), got {type(obs).__name__}")
        return {"obs": torch.as_tensor(obs, dtype=torch.float32).reshape(len(obs), -1)}

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs["obs"].unsqueeze(0).expand(2, -1, -1)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if k < last:
                x = torch.tanh(x)
        return x[0], x[1, :, 0]

    def evaluate(self, inputs: Inputs, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, values = self(inputs)
        log_p, entropy = log_prob_entropy(logits, actions)
        return log_p, entropy, values
