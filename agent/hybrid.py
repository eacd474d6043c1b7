"""The hybrid neuro-symbolic agent.

grounder -> SceneGraph -> for every candidate action, the task program's intervention
(``counterfactual``) -> the GNN imagines the rollout -> the program's predicates (``events``) are
read from the imagined end state -> a small network over [the VLM's embedding of
the prompt, the VLM's embedding of each answer word, that answer's imagined events, a pooled
encoding of the graph], plus a bilinear term between each answer's embedding and its imagined
events -> one logit per answer, and a value.

**The task's program (its intervention and predicates, executed by ``envs.executor``) is explicit
prior knowledge given to this agent, not learned: it is told its task**; every result that uses it must say so. Grounder,
dynamics model and VLM are frozen; PPO trains only the decision network. Variants:
``use_dynamics=False`` (``hybrid-no-dynamics``: no imagined rollouts, the event features are
zero) and the oracle grounder (``hybrid-oracle``: ground-truth scenes from the simulator).

Event features are one vector per answer (``EVENT_ENCODINGS``); by default each slot is a role
that every task names (asked event, goal, failure, distance to the goal), so one decision network
can be evaluated on every task and what it learned about a slot means the same there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from physground.agent.executor import APPLY_ERRORS
from physground.agent.policies import Inputs, Policy
from physground.dynamics.gnn import DynamicsModel
from physground.dynamics.rollout import imagine
from physground.envs import SceneConfig, task_spec
from physground.envs.scene import BLOCK_SIZE, Scene
from physground.perception.grounders import Grounder, OracleGrounder
from physground.perception.scene_graph import NODE_FEATURES, SceneGraph
from physground.perception.vlm import VLM

EVENT_ENCODINGS: dict[str, tuple[str, ...]] = {
    "roles": ("asked", "goal", "failure", "distance_to_goal", "not_imagined"),
    "task-slots": (
        "asked", "any_fell", "outcome_success", "outcome_miss", "outcome_collapse", "left_surface",
        "caught", "missed", "in_zone", "distance_to_target", "offset", "not_imagined",
    ),
}
"""How an imagined outcome becomes the decision network's event vector.

``roles`` (the default): the outcome through the roles every task's ``events`` names — did the
asked event happen (question tasks), was the goal reached, did the failure happen, how far from
the goal (action tasks). A slot means the same on every task, so what the network learns about it
carries over. ``task-slots`` (the ``hybrid-task-slots`` ablation, the agent's first design): the
union of the tasks' own event keys next to ``asked``; within a task a slot and ``asked`` are
always equal, PPO splits its weight between them, and on another task only half of it fires
(docs/experiments.md). ``not_imagined`` is 1 when the task's semantics could not be applied to the
grounded scene (a grounder missed an object the task needs): the answer then carries no imagined
outcome."""
EVENT_FEATURES = EVENT_ENCODINGS["roles"]
IMAGINE_SECONDS = {"Catch": 1.0}
"""Imagination horizon per task (the task's simulated seconds otherwise)."""
DISTANCE_SCALE = 2 * BLOCK_SIZE
"""Distances are given to the network in units of two block sizes, clipped at 3."""


def _check_encoding(encoding: str) -> None:
    if encoding not in EVENT_ENCODINGS:
        raise ValueError(f"unknown event encoding {encoding!r}; valid: {', '.join(EVENT_ENCODINGS)}")


def event_vector(events: dict[str, Any], encoding: str = "roles") -> np.ndarray:
    """One imagined outcome as the event vector of ``encoding`` (zeros where not applicable),
    shape (len(EVENT_ENCODINGS[encoding]),)."""
    _check_encoding(encoding)
    if encoding == "task-slots":
        return _task_slot_vector(events)
    v = np.zeros(len(EVENT_FEATURES), np.float32)
    for i, role in enumerate(("asked", "goal", "failure")):
        if role in events:
            v[i] = float(events[events[role]])
    if "distance_to_goal" in events:
        v[3] = min(3.0, events["distance_to_goal"] / DISTANCE_SCALE)
    return v


def _task_slot_vector(events: dict[str, Any]) -> np.ndarray:
    names = EVENT_ENCODINGS["task-slots"]
    v = np.zeros(len(names), np.float32)
    if "asked" in events:
        v[0] = float(events[events["asked"]])
    for i, key in enumerate(names):
        if key in ("any_fell", "left_surface", "caught", "missed", "in_zone") and key in events:
            v[i] = float(events[key])
    if "placed_on_top" in events:  # a drop onto a tower: success, miss or collapse
        outcome = "collapse" if events["any_fell"] else "success" if events["placed_on_top"] else "miss"
        v[2:5] = [outcome == o for o in ("success", "miss", "collapse")]
    if "distance_to_target" in events:
        v[9] = min(3.0, events["distance_to_target"] / DISTANCE_SCALE)
    if "offset" in events:
        v[10] = float(np.clip(events["offset"] / BLOCK_SIZE, -5, 5))
    return v


def graph_encoding(graph: SceneGraph) -> np.ndarray:
    """Mean and max of the graph's node features, shape (2 * len(NODE_FEATURES),)."""
    x = graph.to_pyg().x.numpy() if graph.nodes else np.zeros((1, len(NODE_FEATURES)), np.float32)
    return np.concatenate([x.mean(0), x.max(0)]).astype(np.float32)


class HybridPolicy(Policy):
    """See the module docstring.

    Args:
        task: The task whose semantics the agent uses (name or id).
        vlm: Frozen VLM (prompt and answer embeddings).
        grounder: Image -> scene graph (an ``OracleGrounder`` reads ``infos["scene"]``).
        dynamics: Frozen dynamics model (None with ``use_dynamics=False``).
        use_dynamics: Imagine rollouts (False: ``hybrid-no-dynamics``).
        hidden: Width of the decision network.
        event_encoding: ``"roles"`` or ``"task-slots"`` (see ``EVENT_ENCODINGS``).
    """

    def __init__(
        self, task: str, vlm: VLM, grounder: Grounder, dynamics: DynamicsModel | None, use_dynamics: bool = True, hidden: int = 128, event_encoding: str = "roles"
    ) -> None:
        super().__init__()
        if use_dynamics and dynamics is None:
            raise ValueError("a hybrid agent with imagination needs a dynamics model")
        _check_encoding(event_encoding)
        self.vlm, self.grounder, self.dynamics, self.use_dynamics = vlm, grounder, dynamics, use_dynamics
        self.event_encoding = event_encoding
        for module in (vlm.model, dynamics):
            for p in module.parameters() if module is not None else ():
                p.requires_grad_(False)
        self._bind_task(task)
        d, g, e = vlm.hidden_size, 2 * len(NODE_FEATURES), len(self.event_features)
        self.prompt_norm, self.answer_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.scorer = nn.Sequential(nn.Linear(2 * d + e + g, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.critic = nn.Sequential(nn.Linear(d + e + g, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        # "does this answer word agree with what was imagined for it?": a direct answer x event
        # interaction, which the scorer MLP alone has to discover through the high-dimensional
        # prompt and answer embeddings and learns only slowly
        self.agreement = nn.Bilinear(d, e, 1)
        nn.init.zeros_(self.agreement.weight)
        nn.init.zeros_(self.agreement.bias)

    @property
    def event_features(self) -> tuple[str, ...]:
        """Names of the event vector's slots."""
        return EVENT_ENCODINGS[self.event_encoding]

    def _bind_task(self, task: str) -> None:
        from physground.envs.phrasings import PHRASINGS, QUESTION_SLOTS

        spec = task_spec(task)
        asked = [slot for slot in PHRASINGS[spec.name].train[0].slots if slot in QUESTION_SLOTS]
        if asked:
            raise ValueError(
                f"a hybrid agent is told its task's program, and {spec.name}'s depends on what each question names ({', '.join(asked)}): "
                "only an agent that reads the question can answer it"
            )
        self.task = spec.name
        self.semantics = spec.env_class(scene=SceneConfig(render_images=False))
        self.action_names = self.semantics.action_names
        with torch.no_grad():
            table = self.vlm.model.get_input_embeddings().weight
            rows = []
            for name in self.action_names:
                ids = self.vlm.tokenizer(self.vlm.answer_prefix + name, add_special_tokens=False)["input_ids"]
                rows.append(table[ids].float().mean(0))
        self.register_buffer("answer_embeddings", torch.stack(rows).cpu(), persistent=False)

    def for_task(self, task: str) -> HybridPolicy:
        """The same networks deciding ``task`` (its semantics and answer words)."""
        return self if task == self.task else self.with_task(task)

    def with_task(self, task: str) -> HybridPolicy:
        """The same networks deciding another task (its semantics and answer words)."""
        clone = object.__new__(HybridPolicy)
        nn.Module.__init__(clone)
        for name in ("vlm", "grounder", "dynamics", "use_dynamics", "event_encoding", "prompt_norm", "answer_norm", "scorer", "agreement", "critic"):
            setattr(clone, name, getattr(self, name))
        clone._bind_task(task)
        return clone

    # -- the frozen part: grounding and imagination -------------------------------------------------

    def grounded_scenes(self, obs: Any, infos: dict[str, Any] | None) -> list[Scene]:
        images = list(obs["image"])
        if isinstance(self.grounder, OracleGrounder):
            truth = (infos or {}).get("scene")
            if truth is None or any(s is None for s in truth):
                raise ValueError("hybrid-oracle needs the simulator's scene in infos['scene']")
            return list(truth)
        return [g.to_scene() for g in self.grounder.ground(images)]

    @torch.no_grad()
    def imagined_events(self, scenes: list[Scene]) -> np.ndarray:
        """Event features of every (scene, action): (B, A, len(self.event_features))."""
        n_actions = len(self.action_names)
        features = self.event_features
        out = np.zeros((len(scenes), n_actions, len(features)), np.float32)
        if not self.use_dynamics:
            return out
        starts, owners = [], []
        self.grounding_failures = 0
        for b, scene in enumerate(scenes):
            seen: dict[str, int] = {}
            try:
                counterfactuals = [self.semantics.counterfactual(scene, a) for a in range(n_actions)]
            except APPLY_ERRORS:  # imperfect grounding: an object the task needs is missing
                out[b, :, features.index("not_imagined")] = 1.0
                self.grounding_failures += 1
                continue
            for a, start in enumerate(counterfactuals):
                key = repr(start["objects"])
                if key not in seen:  # yes/no answers leave the scene alone: imagine it once
                    seen[key] = len(starts)
                    starts.append(start)
                owners.append((b, a, seen[key]))
        seconds = IMAGINE_SECONDS.get(self.task, self.semantics._sim_seconds())
        device = next(self.dynamics.parameters()).device
        if not starts:
            return out
        frames = imagine(self.dynamics.step, starts, seconds, self.dynamics.config.dt, device)
        vectors = []
        for start, f in zip(starts, frames):
            try:
                vectors.append(event_vector(self.semantics.events(start, f[-1]), self.event_encoding))
            except APPLY_ERRORS:
                vectors.append(np.eye(len(features), dtype=np.float32)[features.index("not_imagined")])
        for b, a, k in owners:
            out[b, a] = vectors[k]
        return out

    def prepare(self, obs: Any, infos: dict[str, Any] | None = None) -> Inputs:
        if not isinstance(obs, dict) or "image" not in obs:
            raise ValueError("HybridPolicy needs image + prompt observations (a physground task)")
        scenes = self.grounded_scenes(obs, infos)
        graphs = np.stack([graph_encoding(SceneGraph.from_scene(s)) for s in scenes])
        with torch.no_grad():
            prompt = self.vlm.hidden_states(list(obs["image"]), list(obs["prompt"]))[-1].float().cpu()
        return {"prompt": prompt, "graph": torch.from_numpy(graphs), "events": torch.from_numpy(self.imagined_events(scenes))}

    # -- the trained part -------------------------------------------------------------------------

    def logit_terms(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """The two parts of the answer logits: the scorer MLP's and the answer x event agreement's,
        each (B, A); their sum is the logits."""
        _, scorer, agreement = self._decide(inputs)
        return scorer, agreement

    def _decide(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(normalised prompt (B, d), scorer logits (B, A), agreement logits (B, A))."""
        prompt = self.prompt_norm(inputs["prompt"])
        events, graph = inputs["events"], inputs["graph"]
        b, a, _ = events.shape
        answers = self.answer_norm(self.answer_embeddings.to(prompt.device))[None].expand(b, a, -1)
        x = torch.cat([prompt[:, None].expand(b, a, -1), answers, events, graph[:, None].expand(b, a, -1)], dim=-1)
        return prompt, self.scorer(x).squeeze(-1), self.agreement(answers, events).squeeze(-1)

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        prompt, scorer, agreement = self._decide(inputs)
        value = self.critic(torch.cat([prompt, inputs["events"].mean(1), inputs["graph"]], dim=-1)).squeeze(-1)
        return scorer + agreement, value
