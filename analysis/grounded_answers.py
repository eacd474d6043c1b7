"""Shared by the grounding experiments in analysis/ (refiner-cascade.py, refiner-test-time-shifts.py,
tower-grounding-errors.py):
score a batch of perceived objects against the simulator's scenes — each block's position error and
the answer the hybrid reads from imagining the grounded scene — and print one line per variant.
Imported by scripts run as `python analysis/NAME.py` (their folder is on the path)."""

import numpy as np

from physground.dynamics.rollout import imagined_events
from physground.envs.scene import BLOCK_SIZE
from physground.perception.grounders import graph_from_objects


def cubes(scene: dict) -> list[dict]:
    """The scene's blocks, lowest first."""
    return sorted((o for o in scene["objects"] if o["shape"] == "cube"), key=lambda o: o["position"][2])


def score(policy, objects: list, truths: list[dict], answers: list[bool], hits: list, errors: list) -> None:
    """Append to ``hits`` whether each episode's imagined answer is right and to ``errors`` each block's
    position error (block sizes, (3,) x/y/z) where the grounder found as many blocks as there are.

    Args:
        policy: A hybrid policy (its semantics and dynamics imagine the answer).
        objects: Per episode, the grounder's ``PerceivedObject`` list.
        truths: Per episode, the simulator's scene (interpreted).
        answers: Per episode, whether the true answer is "yes" (the asked event happens).
    """
    semantics = policy.semantics
    scenes = [semantics.interpret(graph_from_objects(objs).to_scene()) for objs in objects]
    for s, t in zip(scenes, truths):
        if len(cubes(s)) == len(cubes(t)):
            errors += [np.subtract(a["position"], b["position"]) / BLOCK_SIZE for a, b in zip(cubes(s), cubes(t))]
    starts = [semantics.counterfactual(s, 0) for s in scenes]
    events = imagined_events(semantics, starts, policy.dynamics.step, semantics._sim_seconds(), policy.dynamics.config.dt)
    hits += [e["any_fell"] == a for e, a in zip(events, answers)]


def report(task: str, name: str, hits: list, errors: list, width: int = 15) -> None:
    """One line: imagined-answer accuracy and the blocks' x / z errors."""
    e = np.abs(np.array(errors))
    print(f"{task:15s} {name:{width}s} imagined answer {100 * np.mean(hits):.1f} %   block error x / z mean {e[:, 0].mean():.4f} / {e[:, 2].mean():.4f}, x 95th pct {np.quantile(e[:, 0], 0.95):.4f}", flush=True)
