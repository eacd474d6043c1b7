"""Speed of imagination (``physground bench-dynamics``): batched GNN rollouts of many scenes
against MuJoCo simulating the same scenes one after another on one core, in the same run;
and training throughput (graphs per second)."""

from __future__ import annotations

import time
from typing import Any

import torch

from physground.dynamics.gnn import DynamicsModel
from physground.dynamics.rollout import pack_scenes, rollout_states
from physground.envs import SceneConfig, TowerStabilityEnv


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rollout_benchmark(model: DynamicsModel, n_scenes: int = 256, seconds: float = 3.0, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Simulated scene-seconds per wall second: MuJoCo (sequential, one core) vs the model
    (one batch of ``n_scenes``) on ``device``. Scenes are towers of 2-6 blocks."""
    env = TowerStabilityEnv(scene=SceneConfig(render_images=False))
    scenes = [env.propose_scene(seed + i) for i in range(n_scenes)]
    t0 = time.perf_counter()
    for scene in scenes:
        env.simulate(scene, seconds)
    mujoco_s = time.perf_counter() - t0
    model = model.to(device).eval()
    _, state, props, batch = pack_scenes(scenes, device)
    steps = int(round(seconds / model.config.dt))
    rollout_states(model.step, state, props, batch, 2)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    rollout_states(model.step, state, props, batch, steps)
    _sync(device)
    model_s = time.perf_counter() - t0
    return {
        "scenes": n_scenes,
        "simulated_seconds_each": seconds,
        "mujoco_scene_seconds_per_s": n_scenes * seconds / mujoco_s,
        "model_scene_seconds_per_s": n_scenes * seconds / model_s,
        "ratio": mujoco_s / model_s,
        "device": device if not device.startswith("cuda") else torch.cuda.get_device_name(0),
    }


def training_throughput(model: DynamicsModel, batch: dict[str, torch.Tensor], steps: int = 20, device: str = "cpu") -> float:
    """Graphs per second of forward + backward + Adam steps on ``batch``."""
    model = model.to(device).train()
    batch = {k: v.to(device) for k, v in batch.items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    graphs = int(batch["batch"].max()) + 1

    def one() -> None:
        loss = model(batch["state"], batch["props"], batch["batch"]).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    one()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(device)
    return graphs * steps / (time.perf_counter() - t0)
