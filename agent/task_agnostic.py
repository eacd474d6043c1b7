"""The task-agnostic hybrid agent: it reads the question instead of being told the task.

It observes what a VLM agent observes — the image, the prompt and the option words — and nothing
else: no task name, no task code. Per observation:

    image --grounder--> scene graph            prompt --parser--> program (valid by construction)
    (scene, program) --executor + GNN--> imagined events per option of the program
    option words <-> the program's options --> one feature vector per option --> decision network

The decision network is small and permutation-equivariant over options: one scorer MLP maps each
option's features to its logit, a critic MLP maps the options' mean and max features to the value.
PPO trains only it; grounder, parser, dynamics model and VLM are frozen.

Option features (``OPTION_FEATURES``), the same on every task:

- ``good``: the program's answer for this option — for a yes/no program 1 on "yes" when the asked
  predicate is imagined true and on "no" when false; for a choose program 1 when the option reaches
  the goal without the failure;
- ``failure``: the failure predicate held (choose programs);
- ``distance``: how far from the goal it ended (choose programs with a distance, units of two block
  sizes, clipped at 3);
- ``not_imagined``: the program could not be applied to the grounded scene;
- ``unmatched``: the option word is not one of the program's options (a parse that asks another
  kind of question than the options allow);
- ``confidence`` and ``mean_probability``: the parser's (the same for every option).

Variants (``agent.factory``): ``hybrid-gold-program`` reads the env's gold program
(``infos["program"]``: measurement only, the oracle parser), ``hybrid-oracle`` grounds from the
simulator's scene, ``hybrid-no-dynamics`` has no executor (every option ``not_imagined``).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from physground.agent.executor import ProgramExecutor
from physground.agent.policies import Inputs, Policy
from physground.envs.programs import Program, validate
from physground.envs.questions import option_words
from physground.envs.scene import BLOCK_SIZE, Scene
from physground.perception.grounders import Grounder, OracleGrounder

OPTION_FEATURES = ("good", "failure", "distance", "not_imagined", "unmatched", "confidence", "mean_probability")
"""The decision network's per-option inputs (module docstring)."""
DISTANCE_SCALE = 2 * BLOCK_SIZE


def option_features(program: Program | None, outcomes: list[dict[str, Any] | None], words: Sequence[str], confidence: float = 1.0,
                    mean_probability: float = 1.0) -> np.ndarray:
    """The features of each option word, shape (len(words), len(OPTION_FEATURES)).

    Args:
        program: The parsed (or gold) program; None: no program (every option unmatched).
        outcomes: The executor's events per option of the program (None: not imagined).
        words: The option words the agent must choose among.
        confidence, mean_probability: The parse's.
    """
    out = np.zeros((len(words), len(OPTION_FEATURES)), np.float32)
    out[:, 5], out[:, 6] = confidence, mean_probability
    program_words = option_words(program) if program is not None else []
    for a, word in enumerate(words):
        if program is None or (program["head"] == "choose" and word not in program_words) or (program["head"] == "yes_no" and word not in ("yes", "no")):
            out[a, 4] = 1.0
            continue
        events = outcomes[0] if program["head"] == "yes_no" else outcomes[program_words.index(word)] if outcomes else None
        if events is None:
            out[a, 3] = 1.0
            continue
        if program["head"] == "yes_no":
            out[a, 0] = float(events["answer"] == (word == "yes"))
        else:
            out[a, 0] = float(events["reached"] and not events.get("failed", False))
            out[a, 1] = float(events.get("failed", False))
            if "distance_to_goal" in events:
                out[a, 2] = min(3.0, events["distance_to_goal"] / DISTANCE_SCALE)
    return out


def _not_imagined(program: Program | None) -> list[None]:
    """No outcome for any option of ``program`` (the agent without dynamics)."""
    return [] if program is None else [None] * (len(option_words(program)) if program["head"] == "choose" else 1)


def _plain(program: Any) -> Program:
    """A gold program as plain JSON data, validated (vector envs hand info values over as numpy
    scalars and arrays)."""
    return validate(json.loads(json.dumps(program, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))))


class TaskAgnosticHybrid(Policy):
    """See the module docstring.

    Args:
        grounder: Image -> scene graph (an ``OracleGrounder`` reads ``infos["scene"]``).
        parser: Prompt -> program (``perception.parser.Parser``); None reads the gold program
            from ``infos["program"]`` (``hybrid-gold-program``).
        executor: Runs programs with the dynamics model; None: no imagination.
        option_words: The answers to choose among (``for_task`` / ``with_options`` change them).
        hidden: Width of the decision network.
    """

    def __init__(self, grounder: Grounder, parser: Any | None, executor: ProgramExecutor | None, option_words: Sequence[str] = ("yes", "no"),
                 hidden: int = 64) -> None:
        super().__init__()
        self.grounder, self.parser, self.executor = grounder, parser, executor
        self.action_names = tuple(option_words)
        n = len(OPTION_FEATURES)
        self.scorer = nn.Sequential(nn.Linear(n, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.critic = nn.Sequential(nn.Linear(2 * n, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def with_options(self, words: Sequence[str], task: str = "") -> TaskAgnosticHybrid:
        """The same networks choosing among other option words."""
        clone = object.__new__(TaskAgnosticHybrid)
        nn.Module.__init__(clone)
        for name in ("grounder", "parser", "executor", "scorer", "critic"):
            setattr(clone, name, getattr(self, name))
        clone.action_names, clone.task = tuple(words), task
        return clone

    def for_task(self, task: str) -> TaskAgnosticHybrid:
        """The same networks answering with ``task``'s option words (its env's action names; the
        task's name is not used otherwise)."""
        from physground.envs import SceneConfig, task_spec

        env = task_spec(task).env_class(scene=SceneConfig(render_images=False))
        try:
            return self.with_options(env.action_names, task_spec(task).name)
        finally:
            env.close()

    # -- the frozen part -------------------------------------------------------------------------

    def _scenes(self, obs: Any, infos: dict[str, Any] | None) -> list[Scene]:
        if isinstance(self.grounder, OracleGrounder):
            truth = (infos or {}).get("scene")
            if truth is None or any(s is None for s in truth):
                raise ValueError("hybrid-oracle needs the simulator's scene in infos['scene']")
            return list(truth)
        return [g.to_scene() for g in self.grounder.ground(list(obs["image"]))]

    def _programs(self, obs: Any, infos: dict[str, Any] | None) -> tuple[list[Program | None], list[float], list[float]]:
        prompts = list(obs["prompt"])
        if self.parser is None:
            gold = (infos or {}).get("program")
            if gold is None or any(p is None for p in gold):
                raise ValueError("hybrid-gold-program needs the env's gold program in infos['program']")
            return [_plain(p) for p in gold], [1.0] * len(prompts), [1.0] * len(prompts)
        parses = self.parser.parse(prompts)
        return [p.program for p in parses], [p.confidence for p in parses], [p.mean_probability for p in parses]

    @torch.no_grad()
    def prepare(self, obs: Any, infos: dict[str, Any] | None = None) -> Inputs:
        if not isinstance(obs, dict) or "image" not in obs or "prompt" not in obs:
            raise ValueError("TaskAgnosticHybrid needs image + prompt observations (a physground task)")
        scenes = self._scenes(obs, infos)
        programs, confidence, mean_p = self._programs(obs, infos)
        outcomes = self.executor.run(programs, scenes) if self.executor is not None else [_not_imagined(p) for p in programs]
        features = np.stack([option_features(p, o, self.action_names, c, m) for p, o, c, m in zip(programs, outcomes, confidence, mean_p)])
        return {"options": torch.from_numpy(features)}

    # -- the trained part --------------------------------------------------------------------------

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs["options"]
        logits = self.scorer(x).squeeze(-1)
        value = self.critic(torch.cat([x.mean(1), x.max(1).values], -1)).squeeze(-1)
        return logits, value
