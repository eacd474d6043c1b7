"""Do the device's renders differ from the CPU's, and does the learned grounder see it? The first 20
TowerStability evaluation episodes' images (128 px), rendered on the device host and on the 2-core
CPU, compared pixel by pixel and by the block positions the shipped learned grounder reads from them.

    python analysis/render-device-vs-cpu.py render OUT.npz          # on each machine (MUJOCO_GL=egl)
    python analysis/render-device-vs-cpu.py compare DEVICE.npz CPU.npz

Measured 2026-11-26 (device: one NVIDIA H100 host, EGL through glvnd's NVIDIA vendor `10_nvidia.json`;
CPU: the 2-core AMD EPYC box, Mesa; comparison and grounding on the CPU; the device's file came from
the same rendering loop run as a throw-away script just before this one was written):

    pixels differing: 49.3 %, mean |diff| 3.55 levels, max 36; pixels more than 8 levels off: 16.8 %
    grounded block positions, device vs CPU images: mean |dx| 0.56, |dy| 0.003, |dz| 0.054 mm
    (max 4.27 / 0.026 / 0.71 mm), 79 blocks

The same scenes come out of the two renderers differently enough that the grounder's block x
estimates move by 0.56 mm on average — as much as its own error against the truth (0.6 mm,
`docs/perception.md`), and on TowerStability the answers hang on that (`docs/agents.md`). This is why
`physground ceiling` from the learned grounder's scenes gives 94.3 % on the device and 95.9 % on the
CPU for the same model and episodes (`analysis/dynamics-selection.md`, round 12), and why hybrid
numbers measured on the device (the full grid) and on the CPU should not be mixed.
"""

import sys

import numpy as np

from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.envs.files import atomic_write

EPISODES, SEED = 20, 50_000_000


def render(out: str) -> None:
    env = env_factory("TowerStability", 128)()
    images = [env.reset(seed=SEED + i)[0]["image"] for i in range(EPISODES)]
    atomic_write(out, lambda path: np.savez_compressed(open(path, "wb"), images=np.stack(images)))


def block_positions(policy: object, images: np.ndarray) -> list[dict[str, np.ndarray]]:
    scenes = [g.to_scene() for g in policy.grounder.ground(list(images))]
    return [{o["id"]: np.asarray(o["position"]) for o in s["objects"] if o["id"].startswith("cube")} for s in scenes]


def compare(device_file: str, cpu_file: str) -> None:
    device, cpu = (np.load(f)["images"] for f in (device_file, cpu_file))
    diff = np.abs(device.astype(np.int16) - cpu.astype(np.int16))  # (N, H, W, 3)
    per_pixel = diff.max(-1)
    print(f"pixels differing: {100 * (per_pixel > 0).mean():.1f} %, mean |diff| {diff.mean():.2f} levels,"
          f" max {per_pixel.max()}; pixels more than 8 levels off: {100 * (per_pixel > 8).mean():.1f} %")
    policy = build_policy(AgentSpec("hybrid", "TowerStability"))
    moved = np.array([abs(a[k] - b[k]) for a, b in zip(block_positions(policy, device), block_positions(policy, cpu)) for k in a.keys() & b.keys()]) * 1000
    print("grounded block positions, device vs CPU images: mean |dx|, |dy|, |dz|", np.round(moved.mean(0), 3), "mm; max", np.round(moved.max(0), 3), f"mm; {len(moved)} blocks")


if __name__ == "__main__":
    if sys.argv[1] == "render":
        render(sys.argv[2])
    else:
        compare(sys.argv[2], sys.argv[3])
