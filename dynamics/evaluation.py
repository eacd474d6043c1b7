"""``physground eval-dynamics``: the dynamics model against MuJoCo on held-out scenes.

Errors on held-out play trajectories (one step, and rollouts of 0.5 s and 2 s, in block sizes),
and event accuracy read from imagined rollouts with each task's symbolic ``events``: does the
tower fall (towers of 2-4, 5-6 and 7 blocks; which sizes a model saw in training is in its card),
does it fall after a block is removed (3-4 and 5-6 blocks: BlockRemoval asks about 3-6), does the
ball leave the platform, where does the caught ball land (within one basket width). Baselines in the
same table: constant velocity, an MLP without message passing, and the symbolic stability check.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from physground.dynamics.data import PlaySettings, generate_play
from physground.dynamics.gnn import DynamicsModel, constant_velocity_step
from physground.dynamics.rollout import StepFn, imagine, mean_position_error, rollout_states
from physground.envs import BlockRemovalEnv, CatchEnv, RollOffEnv, SceneConfig, TowerStabilityEnv
from physground.envs.scene import BALL_RADIUS, BASKET_RIM_HEIGHT, BASKET_SIZE, find_object
from physground.perception.scene_graph import SceneGraph, settle, symbolic_stability

DT = 0.1


def predictors(gnn: DynamicsModel | None, mlp: DynamicsModel | None) -> dict[str, StepFn]:
    """The rollout step functions compared: GNN, MLP baseline, constant velocity."""
    out: dict[str, StepFn] = {}
    if gnn is not None:
        out["GNN (ours)"] = gnn.step
    if mlp is not None:
        out["MLP, no message passing"] = mlp.step
    out["constant velocity"] = lambda s, p, b: constant_velocity_step(s, p, DT)
    return out


def trajectory_errors(step: StepFn, n: int, seed: int, device: str) -> dict[str, float]:
    """One-step and rollout position errors (block sizes) on fresh play trajectories."""
    data = generate_play(PlaySettings(n_trajectories=n, seed=seed))
    truth, props, batch = data.stacked(list(range(data.n_trajectories)), device)
    with torch.no_grad():
        one = torch.stack([step(truth[t], props, batch) for t in range(truth.shape[0] - 1)])
        roll = rollout_states(step, truth[0], props, batch, 20)
    return {
        "one_step": mean_position_error(one, truth[1:], props),
        "rollout_0.5s": mean_position_error(roll[5], truth[5], props),
        "rollout_2s": mean_position_error(roll[20], truth[20], props),
    }


def _landing_x(frames: list[dict[str, Any]]) -> float:
    """x where the ball's centre first reaches rim height (interpolated between frames)."""
    level = BALL_RADIUS + BASKET_RIM_HEIGHT
    previous = None
    for frame in frames:
        x, _, z = find_object(frame, "ball0")["position"]
        if z <= level:
            if previous is None:
                return x
            (px, pz) = previous
            w = (pz - level) / max(pz - z, 1e-9)
            return px + w * (x - px)
        previous = (x, z)
    return float("nan")


def event_suites(n: int, seed: int) -> dict[str, tuple[Any, list[Any]]]:
    """Held-out scenes with MuJoCo's answers: name -> (env, [(start scene, truth), ...])."""
    quiet = SceneConfig(render_images=False)
    suites: dict[str, tuple[Any, list[Any]]] = {}
    for name, env in (
        ("tower falls, 2-4 blocks", TowerStabilityEnv(scene=quiet, min_blocks=2, max_blocks=4)),
        ("tower falls, 5-6 blocks", TowerStabilityEnv(scene=quiet, min_blocks=5, max_blocks=6)),
        ("tower falls, 7 blocks", TowerStabilityEnv(scene=quiet, min_blocks=7, max_blocks=7)),
        ("tower falls after a block is removed, 3-4 blocks", BlockRemovalEnv(scene=quiet, max_blocks=4)),
        ("tower falls after a block is removed, 5-6 blocks", BlockRemovalEnv(scene=quiet, min_blocks=5, max_blocks=6)),
        ("ball leaves the platform", RollOffEnv(scene=quiet)),
    ):
        cases = []
        for i in range(n):
            _, info = env.reset(seed=seed + i)
            cases.append((env.counterfactual(info["scene"], None), info["label"] == env.YES))
        suites[name] = (env, cases)
    catch = CatchEnv(scene=quiet)
    cases = []
    for i in range(n):
        _, info = catch.reset(seed=seed + i)
        cases.append((info["scene"], info["landing_x"]))
    suites["catch: landing within one basket width"] = (catch, cases)
    return suites


def event_accuracy(step: StepFn, suites: dict[str, tuple[Any, list[Any]]], device: str) -> dict[str, float]:
    """Accuracy of events read from imagined rollouts of each suite."""
    out = {}
    for name, (env, cases) in suites.items():
        starts = [c[0] for c in cases]
        if name.startswith("catch"):
            frames = imagine(step, starts, 1.5, DT, device)
            errors = [abs(_landing_x(f) - c[1]) for f, c in zip(frames, cases)]
            out[name] = float(np.mean([e <= BASKET_SIZE[0] for e in errors]))
            finite = [e for e in errors if np.isfinite(e)]
            out["catch: mean landing error (cm)"] = float(np.mean(finite) * 100) if finite else float("nan")
            out["catch: imagined ball never landed"] = 1.0 - len(finite) / len(errors)
            continue
        seconds = env.config.sim_seconds
        frames = imagine(step, starts, seconds, DT, device)
        asked = [env.events(start, f[-1]) for start, f in zip(starts, frames)]
        out[name] = float(np.mean([e[e["asked"]] == c[1] for e, c in zip(asked, cases)]))
    return out


def symbolic_accuracy(suites: dict[str, tuple[Any, list[Any]]]) -> dict[str, float]:
    """The symbolic stability check (settle, then centre of mass over support) on tower suites."""
    out = {}
    for name, (_, cases) in suites.items():
        if "tower" in name:
            out[name] = float(np.mean([(not symbolic_stability(settle(SceneGraph.from_scene(s)))["stable"]) == truth for s, truth in cases]))
    return out


def evaluate(gnn: DynamicsModel | None, mlp: DynamicsModel | None, n_events: int = 200, n_trajectories: int = 140, seed: int = 7_000_001, device: str = "cpu") -> dict[str, dict[str, float]]:
    """Every metric for every predictor (and the symbolic check where it applies)."""
    suites = event_suites(n_events, seed)
    results: dict[str, dict[str, float]] = {}
    for name, step in predictors(gnn, mlp).items():
        with torch.no_grad():
            results[name] = {**trajectory_errors(step, n_trajectories, seed, device), **event_accuracy(step, suites, device)}
    results["symbolic stability check"] = symbolic_accuracy(suites)
    return results


def format_results(results: dict[str, dict[str, float]]) -> str:
    """Markdown table: one column per predictor."""
    names = list(results)
    metrics = list(dict.fromkeys(m for r in results.values() for m in r))
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for m in metrics:
        cells = []
        for n in names:
            v = results[n].get(m)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("—")
            elif m.startswith(("one_step", "rollout")):
                cells.append(f"{v:.3f}")
            elif "cm" in m:
                cells.append(f"{v:.1f}")
            else:
                cells.append(f"{v * 100:.1f} %")
        label = {"one_step": "one-step position error (blocks)", "rollout_0.5s": "rollout error at 0.5 s (blocks)", "rollout_2s": "rollout error at 2 s (blocks)"}.get(m, m)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
