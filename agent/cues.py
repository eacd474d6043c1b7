"""Cue baselines: what a shortcut scores.

A cue baseline (agent ``cue-<name>``) answers from one simulator-given cue of the scene, with no
physics: a logistic-regression classifier on that cue, fit on the simulator expert's answers of the
training task (``agent.experts``; yes/no tasks: the answer to the task's own question). ``cue-all``
uses every cue at once (additively: a strong non-physical baseline). If an agent's accuracy is not
clearly above its task's cue baselines, the cue explains it as well as physics does.

The cues are ``envs.cues.CUES`` (features of ``info["scene"]``: count, top-offset, top-x, surface,
zone, ball-start, asked); the yes/no tasks from v1 on balance their answers within each stratum of
their cues, which these baselines check.

What the baselines are given: the ground-truth scene (no perception error) and, on yes/no tasks,
whether the prompt asks the task's question or its negation (read from the gold program:
``info["program"]``), so that a cue's answer is flipped with the question. They never see the
outcome. On a test task whose answers differ from the training task's (yes/no against a choice,
or other option words) a baseline has nothing to apply and answers uniformly at random.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from physground import envs
from physground.agent.configs import CueConfig
from physground.agent.experts import ExpertStep
from physground.agent.policies import Inputs, Policy
from physground.envs.cues import CUES, cue_features, feature_size
from physground.envs.programs import negate

CUE_AGENTS: tuple[str, ...] = (*(f"cue-{name}" for name in CUES), "cue-all")
"""The cue baseline agents."""


def agent_cues(agent: str) -> tuple[str, ...]:
    """The cues of a cue agent (``cue-all``: every cue).

    Raises:
        ValueError: Not a cue agent.
    """
    if agent not in CUE_AGENTS:
        raise ValueError(f"{agent!r} is not a cue baseline; valid: {', '.join(CUE_AGENTS)}")
    return tuple(CUES) if agent == "cue-all" else (agent[len("cue-") :],)


class CuePolicy(Policy):
    """A linear classifier on cue features: the policy of every cue baseline.

    Yes/no tasks: one logit z = w.x + b for "yes" to the task's own question; the answer logits are
    (z/2, -z/2), swapped when the prompt asks the negation. Choice tasks: one logit per option.

    Args:
        cues: The cues it reads.
        task: The task it answers.
        weight: (O, F) parameters (O = 1 for yes/no, else the number of options); fresh zeros when None.
        bias: (O,) parameters.
        uniform: Answer uniformly at random (a test task the classifier does not apply to).
    """

    reads_images = False

    def __init__(self, cues: Sequence[str], task: str, weight: nn.Parameter | None = None, bias: nn.Parameter | None = None, uniform: bool = False) -> None:
        super().__init__()
        self.cues, self.task, self.uniform = tuple(cues), task, uniform
        self.semantics = envs.task_spec(task).env_class(scene=envs.SceneConfig(render_images=False))
        self.action_names = self.semantics.action_names
        self.yes_no = envs.task_spec(task).is_yes_no
        outputs = 1 if self.yes_no else len(self.action_names)
        self.weight = weight if weight is not None else nn.Parameter(torch.zeros(outputs, feature_size(self.cues)))
        self.bias = bias if bias is not None else nn.Parameter(torch.zeros(outputs))

    def prepare(self, obs: Any, infos: dict[str, Any] | None = None) -> Inputs:
        scenes = (infos or {}).get("scene")
        if not scenes or any(s is None for s in scenes):
            raise ValueError("a cue baseline reads the ground-truth scene: pass the envs' infos (agent.policies.oracle_infos)")
        features = torch.as_tensor(np.stack([cue_features(s, self.cues) for s in scenes]))
        flipped = [False] * len(scenes)
        if self.yes_no:
            programs = infos.get("program") or [None] * len(scenes)
            flipped = [p is not None and p == negate(self.semantics.task_program(s)) for p, s in zip(programs, scenes)]
        return {"features": features, "flipped": torch.tensor(flipped)}

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs["features"].to(self.weight.dtype)
        values = torch.zeros(len(x), device=x.device)
        if self.uniform:
            return torch.zeros(len(x), len(self.action_names), device=x.device), values
        z = x @ self.weight.t() + self.bias
        if not self.yes_no:
            return z, values
        logits = torch.cat([z / 2, -z / 2], dim=1)
        return torch.where(inputs["flipped"].to(x.device)[:, None], logits.flip(1), logits), values

    def for_task(self, task: str) -> CuePolicy:
        """The same classifier on ``task`` where its answers are the training task's kind (yes/no,
        or the same option words); otherwise a uniform guesser."""
        if task == self.task:
            return self
        other = CuePolicy(self.cues, task, self.weight, self.bias)
        other.uniform = self.uniform or other.yes_no != self.yes_no or (not self.yes_no and other.action_names != self.action_names)
        return other


def fit_logistic(x: np.ndarray, y: np.ndarray, classes: int, regularisation: float = 1.0, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray, float]:
    """Multinomial logistic regression with an L2 penalty on the weights (not the biases): the
    minimiser of ``regularisation * sum_i CE(W x_i + b, y_i) + |W|^2 / 2`` (scikit-learn's objective
    for ``C = regularisation``), by L-BFGS in float64.

    Args:
        x: (N, F) features.
        y: (N,) class indices in [0, ``classes``).
        classes: Number of classes K.
        regularisation: Inverse penalty strength.
        max_iter: L-BFGS iterations at most.

    Returns:
        (W (K, F), b (K,), training accuracy).
    """
    features = torch.as_tensor(x, dtype=torch.float64)
    targets = torch.as_tensor(y, dtype=torch.long)
    weight = torch.zeros(classes, features.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        loss = regularisation * nn.functional.cross_entropy(features @ weight.t() + bias, targets, reduction="sum") + 0.5 * (weight * weight).sum()
        loss.backward()
        return loss

    optimiser.step(objective)
    with torch.no_grad():
        accuracy = float(((features @ weight.t() + bias).argmax(-1) == targets).double().mean())
    return weight.detach().numpy(), bias.detach().numpy(), accuracy


def fit_cue_policy(policy: CuePolicy, steps: Sequence[ExpertStep], regularisation: float = 1.0) -> dict[str, Any]:
    """Fit ``policy``'s classifier (``fit_logistic``) to expert steps of its task; returns fit metrics.

    Yes/no tasks are fit to the answer of the task's own question (``task_label``), choice tasks
    to the expert's option; an option the expert never chose gets a logit of -30.

    Raises:
        ValueError: No steps.
    """
    if not steps:
        raise ValueError("fit_cue_policy needs at least one expert step")
    x = np.stack([cue_features(s.scene, policy.cues) for s in steps]).astype(np.float64)
    y = np.array([s.task_label if policy.yes_no else s.action for s in steps])
    classes = sorted({int(c) for c in y})
    weight = np.zeros(tuple(policy.weight.shape))
    bias = np.full(tuple(policy.bias.shape), -30.0)
    if len(classes) == 1:  # one answer throughout: the classifier is that answer
        if policy.yes_no:
            bias[0] = 30.0 if classes[0] == envs.YesNoTaskEnv.YES else -30.0
        else:
            bias[classes[0]] = 0.0
        accuracy = 1.0
    else:
        index = {c: i for i, c in enumerate(classes)}
        w, b, accuracy = fit_logistic(x, np.array([index[int(c)] for c in y]), len(classes), regularisation)
        if policy.yes_no:  # classes (YES, NO) = (0, 1): the policy's one logit is z = logit(yes) - logit(no)
            weight[0], bias[0] = w[0] - w[1], b[0] - b[1]
        else:
            for row, action in enumerate(classes):
                weight[action], bias[action] = w[row], b[row]
    with torch.no_grad():
        policy.weight.copy_(torch.as_tensor(weight))
        policy.bias.copy_(torch.as_tensor(bias))
    return {"examples": len(steps), "train_accuracy": accuracy, "cue_coverage": float(np.mean(x.any(axis=1))), "regularisation": regularisation,
            "classes": classes}


def train_cue_policy(policy: CuePolicy, run: Any, seed: int, config: CueConfig, task_version: int = envs.TASK_VERSION) -> dict[str, Any]:
    """Fit ``policy`` on ``config.examples`` expert steps of its task and save it as ``run``'s
    checkpoint and metrics. Run seed ``seed`` fits on the episodes seeded ``seed * examples`` ...
    (disjoint for different seeds; the evaluation seeds, ``agent.evaluation.EVAL_SEED`` on, lie
    beyond them for every seed below ``EVAL_SEED / examples``)."""
    from physground.agent.experts import expert_steps

    steps = list(expert_steps(policy.task, config.examples, seed * config.examples, render=False, task_version=task_version))
    metrics = fit_cue_policy(policy, steps, config.regularisation)
    run.save_checkpoint({"fit": metrics}, {f"policy.{k}": v for k, v in policy.trainable_state().items()}, None)
    metrics = {**metrics, "cues": list(policy.cues), "final": {"train_accuracy": metrics["train_accuracy"]}}
    run.write_metrics(metrics)
    return metrics
