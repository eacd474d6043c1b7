"""Why the GNN errs at BlockRemoval's impact: for selection episodes, MuJoCo's state 0.1 s after the
removal (the blocks above the gap just before they land) is (a) stepped once by the GNN and by MuJoCo
— the top block's angular speed after the impact — and (b) perturbed with the dynamics training's
input noise (scaled per component) and simulated to the end, 12 draws: how often the tower falls.

    MUJOCO_GL=egl python analysis/blockremoval-impact-noise.py EPISODES SCALES [DYNAMICS_DIR]
    # EPISODES: comma-separated selection episode indices; SCALES: noise scale of position, velocity,
    # angular velocity and rotation, e.g. 1,1,1,1 (the training's noise) or 0,0,1,0 (angular only)

Measured 2026-11-26 (2-core CPU, shipped round-9 GNN; episodes 4, 10, 24, 63, 92, 203 are imagined
to fall and stand in MuJoCo, 0 and 1 are imagined right; `blockremoval-impact-step.py`):

    top block's |w| after the impact, MuJoCo / GNN (rad/s): 0.01/0.50, 0.11/0.95, 0.08/0.85,
    0.03/1.05, 0.07/1.01, 0.14/0.90 (wrong); 0.03/0.27, 0.00/0.11 (right)
    falls of 12 noisy MuJoCo runs, episodes 4, 10, 24, 63, 92, 203 (episodes 0, 1):
      training noise (1 mm, 0.015 m/s, 0.1 rad/s, 0.005 rad)  7 5 8 6 4 5  (1 0)
      half of it                                              3 3 2 4 1 4
      a quarter                                               3 0 2 1 1 1
      position noise alone (1 mm)                             3 6 7 6 2 5
      velocity noise alone (0.015 m/s)                        6 3 2 6 3 7
      angular velocity noise alone (0.1 rad/s)                3 1 0 1 0 0
      rotation noise alone (0.005 rad)                        5 2 3 6 3 2

At the training's input noise, MuJoCo's own outcome in these episodes is a coin flip, and the GNN
(trained to map a noisy state to the clean next one) predicts the blurred mean: a spin of ~1 rad/s
that topples the tower in its rollout, where the clean state's impact gives 0.01-0.14. Each noise
component alone, position included, is enough to flip the outcome: these towers' fate is set by
sub-millimetre detail of the landing. The GNN's spins in the six wrong episodes for the candidates of
rounds 12-13 (`analysis/dynamics-selection.md`; scales 0,0,0,0 and the model's folder):

    round 12, a quarter of the noise (fine-tuned)      0.33 0.83 0.74 0.71 0.68 0.56
    round 13, L1 loss, a quarter of the noise (f.-t.)  0.07 0.48 0.41 0.43 0.27 0.43
    round 13, L1 loss from random weights              0.05 0.15 0.12 0.25 0.07 0.66

Less noise shrinks the blurred spin only partly; the absolute-error loss (the median instead of the
mean) removes it, but that model also misses falls that do happen (`blockremoval-impact-step.py`).
"""

import sys

import numpy as np
import torch

from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.data import apply_state
from physground.dynamics.gnn import axis_angle_to_quat, quat_multiply
from physground.dynamics.rollout import pack_scenes

SELECTION_SEED = 8_000_001
NOISE = (0.001, 0.015, 0.1, 0.005)  # gnn.yaml: position (m), velocity (m/s), angular (rad/s), rotation (rad)
DRAWS = 12

episodes = [int(i) for i in sys.argv[1].split(",")]
scales = [float(s) for s in sys.argv[2].split(",")]
policy = build_policy(AgentSpec("hybrid-oracle", "BlockRemoval", dynamics=sys.argv[3] if len(sys.argv) > 3 else None))
env = env_factory("BlockRemoval", 128)()
base, semantics, dt = env.unwrapped, policy.semantics, policy.dynamics.config.dt
rng = np.random.default_rng(0)


def draw(n: int, scale: float) -> torch.Tensor:
    return torch.tensor(rng.normal(size=(n, 3)) * scale, dtype=torch.float32)


def top_spin(state: torch.Tensor, dynamic: torch.Tensor, top: int) -> float:
    return float(state[dynamic][top, 10:13].norm())


for i in episodes:
    _, info = env.reset(seed=SELECTION_SEED + i)
    start = semantics.counterfactual(semantics.interpret(info["scene"]), 0)
    before = {**base.simulate(start, seconds=dt), "meta": start["meta"]}
    (ids,), state, props, batch = pack_scenes([before])
    dynamic = props[:, -1] < 0.5
    top = int(state[dynamic][:, 2].argmax())
    _, after, _, _ = pack_scenes([base.simulate(before, seconds=dt)])
    with torch.no_grad():
        imagined = policy.dynamics.step(state, props, batch)
    falls = 0
    n = int(dynamic.sum())
    for _ in range(DRAWS):
        noisy = state.clone()
        noisy[dynamic, 0:3] += draw(n, NOISE[0] * scales[0])
        noisy[dynamic, 7:10] += draw(n, NOISE[1] * scales[1])
        noisy[dynamic, 10:13] += draw(n, NOISE[2] * scales[2])
        noisy[dynamic, 3:7] = quat_multiply(axis_angle_to_quat(draw(n, NOISE[3] * scales[3])), state[dynamic, 3:7])
        end = base.simulate(apply_state(before, ids, noisy.numpy(), before.get("time", dt)), seconds=semantics._sim_seconds() - dt)
        events = base.events(start, end)
        falls += bool(events[events["asked"]])
    print(f"episode {i}: top block |w| after the impact, MuJoCo {top_spin(after, dynamic, top):.2f} / GNN {top_spin(imagined, dynamic, top):.2f} rad/s;"
          f" falls in {falls} of {DRAWS} noisy MuJoCo runs")
