"""Batched autoregressive rollouts on object graphs, and event readouts from imagined scenes."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from physground.dynamics.data import apply_state, scene_arrays
from physground.envs.scene import BLOCK_SIZE, Scene

StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def rollout_states(step: StepFn, state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor, steps: int) -> torch.Tensor:
    """Apply ``step`` ``steps`` times: (steps + 1, N, 13), the start included."""
    out = [state]
    for _ in range(steps):
        state = step(state, props, batch)
        out.append(state)
    return torch.stack(out)


def mean_position_error(pred: torch.Tensor, truth: torch.Tensor, props: torch.Tensor) -> float:
    """Mean distance (block sizes) between predicted and true centres of the dynamic objects;
    ``pred`` and ``truth`` (..., N, 13), ``props`` (N, PROP_DIM)."""
    dynamic = props[:, -1] < 0.5
    return float((pred[..., dynamic, :3] - truth[..., dynamic, :3]).norm(dim=-1).mean() / BLOCK_SIZE)


def pack_scenes(scenes: list[Scene], device: torch.device | str = "cpu") -> tuple[list[list[str]], torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack scenes into one batch: (ids per scene, state (N, 13), props (N, P), batch (N,))."""
    ids, states, props, batch = [], [], [], []
    for g, scene in enumerate(scenes):
        i, s, p = scene_arrays(scene)
        ids.append(i)
        states.append(s)
        props.append(p)
        batch.append(np.full(len(i), g))
    as_tensor = lambda a, dt: torch.as_tensor(np.concatenate(a), dtype=dt, device=device)  # noqa: E731
    return ids, as_tensor(states, torch.float32), as_tensor(props, torch.float32), as_tensor(batch, torch.long)


def imagine(step: StepFn, scenes: list[Scene], seconds: float, dt: float, device: torch.device | str = "cpu") -> list[list[Scene]]:
    """Roll every scene forward ``seconds`` in one batch; the imagined scenes every ``dt``.

    Returns:
        Per scene, its frames as scene dicts (the start first).
    """
    ids, state, props, batch = pack_scenes(scenes, device)
    steps = int(round(seconds / dt))
    trajectory = rollout_states(step, state, props, batch, steps).cpu().numpy()
    out = []
    offset = 0
    for scene, scene_ids in zip(scenes, ids):
        n = len(scene_ids)
        frames = [apply_state(scene, scene_ids, trajectory[t, offset : offset + n], scene.get("time", 0.0) + t * dt) for t in range(steps + 1)]
        out.append(frames)
        offset += n
    return out


def imagination_backend(step: StepFn, dt: float, device: torch.device | str = "cpu") -> Callable[[Scene, float], Scene]:
    """A learned model as a dynamics backend of the query language's executor
    (``envs.executor.execute``): ``(start scene, seconds) -> imagined end scene``. One scene per
    call; for many, ``imagine`` batches them."""

    def backend(start: Scene, seconds: float) -> Scene:
        return imagine(step, [start], seconds, dt, device)[0][-1]

    return backend


def imagined_events(env: object, starts: list[Scene], step: StepFn, seconds: float, dt: float, device: torch.device | str = "cpu") -> list[dict]:
    """The task's ``events`` read from imagined end states (the env's symbolic semantics)."""
    frames = imagine(step, starts, seconds, dt, device)
    return [env.events(start, traj[-1]) for start, traj in zip(starts, frames)]
