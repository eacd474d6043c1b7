"""Is MuJoCo's answer for near-critical towers predictable from their geometry? TowerStability-style
towers (2-6 blocks, offsets U(-0.6, 0.6) block sizes, the task's sampler) are drawn until 5,000 have
a static margin in [-0.02, 0.12); MuJoCo says which fall (the task's own outcome: a block moves more
than half a block size in 3 s). A small MLP on hand-made statics features (per level: the margin
and the number of blocks above; the neighbours' offsets; the height) is trained on 4,000 and tested
on 1,000, next to the best single threshold on the margin and the shipped GNN's imagination of the
same 1,000 test towers.

    MUJOCO_GL=egl python analysis/near-edge-learnability.py        # 2-core CPU, about 1 min

Measured 2026-11-26 (2-core CPU, 55 s), round-6 GNN (shipped then):

    5000 towers, 33.7 % fall; best threshold on the margin: 86.2 % right
    test (1000):  MLP 92.8 %   GNN imagination 85.4 %   best margin threshold 86.7 %
    margin [-0.02,  0.00)  n=141  falls 100 %  MLP  95.7 %  GNN  98.6 %
    margin [ 0.00,  0.02)  n=154  falls  70 %  MLP  87.0 %  GNN  78.6 %
    margin [ 0.02,  0.05)  n=218  falls  29 %  MLP  86.7 %  GNN  75.2 %
    margin [ 0.05,  0.08)  n=241  falls  10 %  MLP  95.9 %  GNN  84.2 %
    margin [ 0.08,  0.12)  n=246  falls   1 %  MLP  97.2 %  GNN  92.3 %

The answer in the undecided band is largely predictable from the geometry: an MLP trained on 4,000
examples gets 87 % of the towers with a margin in [0, 0.05) right, the round-6 GNN's imagination
(shipped then) 75-79 %, and a single threshold on the margin 86-87 % overall. Round 7
(analysis/dynamics-selection.md) gave the GNN such towers in play and did not beat it; round 8 gave
it twice the play data. With the round-8 GNN (shipped after round 6, until round 9) the same run prints:

    test (1000):  MLP 92.8 %   GNN imagination 90.5 %   best margin threshold 86.7 %
    margin [-0.02,  0.00)  n=141  falls 100 %  MLP  95.7 %  GNN  97.9 %
    margin [ 0.00,  0.02)  n=154  falls  70 %  MLP  87.0 %  GNN  79.9 %
    margin [ 0.02,  0.05)  n=218  falls  29 %  MLP  86.7 %  GNN  83.5 %
    margin [ 0.05,  0.08)  n=241  falls  10 %  MLP  95.9 %  GNN  92.5 %
    margin [ 0.08,  0.12)  n=246  falls   1 %  MLP  97.2 %  GNN  97.2 %
"""

import numpy as np
import torch

from physground.dynamics.checkpoint import SHIPPED_GNN, load_dynamics
from physground.dynamics.rollout import imagined_events
from physground.envs import TASKS
from physground.envs.scene import BLOCK_SIZE, SceneConfig, new_scene
from physground.envs.towers import distinct_colours, sample_tower, static_margin

LOW, HIGH, N_TOWERS, N_TRAIN = -0.02, 0.12, 5000, 4000


def features(xs: np.ndarray) -> list[float]:
    """Per level (5 slots): margin, blocks above, present; neighbour offsets (5); height."""
    k, f = len(xs), []
    for i in range(5):
        f += [0.5 - abs(xs[i + 1 :].mean() - xs[i]), k - 1 - i, 1.0] if i < k - 1 else [1.0, 0.0, 0.0]
    return f + list(np.pad(np.abs(np.diff(xs)), (0, 5 - (k - 1)))) + [k]


env = TASKS["TowerStability"].env_class(scene=SceneConfig(render_images=False))
env.reset(seed=0)
rng = np.random.default_rng(12345)
scenes, X, y, margins = [], [], [], []
while len(y) < N_TOWERS:
    n = int(rng.integers(2, 7))
    cubes = sample_tower(rng, n, distinct_colours(rng, n), 0.6)
    margin = static_margin(cubes)
    if not LOW <= margin < HIGH:
        continue
    scene = new_scene("TowerStability", cubes, {"tower": [c["id"] for c in cubes], "question": "any_fell"})
    y.append(env.unwrapped.outcome(scene, 0)[2]["any_fell"])
    X.append(features(np.array([c["position"][0] / BLOCK_SIZE for c in cubes])))
    scenes.append(scene)
    margins.append(margin)
X, y, margins = torch.tensor(X, dtype=torch.float32), np.array(y), np.array(margins)


def best_threshold_accuracy(m: np.ndarray, truth: np.ndarray) -> float:
    return max(((m < t) == truth).mean() for t in np.linspace(LOW, HIGH, 281))


print(f"{N_TOWERS} towers, {100 * y.mean():.1f} % fall; best threshold on the margin: {100 * best_threshold_accuracy(margins, y):.1f} % right")
torch.manual_seed(0)
order = torch.randperm(N_TOWERS)
train, test = order[:N_TRAIN], order[N_TRAIN:]
mean, std = X[train].mean(0), X[train].std(0) + 1e-6
Xn, Y = (X - mean) / std, torch.tensor(y, dtype=torch.float32)
net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))
opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-5)
for _ in range(1000):
    opt.zero_grad()
    torch.nn.functional.binary_cross_entropy_with_logits(net(Xn[train]).squeeze(-1), Y[train]).backward()
    opt.step()
with torch.no_grad():
    mlp = (net(Xn[test]).squeeze(-1) > 0).numpy()
model = load_dynamics(SHIPPED_GNN)
test_scenes = [scenes[i] for i in test.tolist()]
gnn = []
for k in range(0, len(test_scenes), 50):
    gnn += [e["any_fell"] for e in imagined_events(env.unwrapped, test_scenes[k : k + 50], model.step, 3.0, model.config.dt)]
gnn, truth, m = np.array(gnn), y[test.numpy()], margins[test.numpy()]
print(f"test ({len(truth)}):  MLP {100 * (mlp == truth).mean():.1f} %   GNN imagination {100 * (gnn == truth).mean():.1f} %   "
      f"best margin threshold {100 * best_threshold_accuracy(m, truth):.1f} %")
for low, high in [(-0.02, 0.0), (0.0, 0.02), (0.02, 0.05), (0.05, 0.08), (0.08, 0.12)]:
    s = (m >= low) & (m < high)
    print(f"margin [{low:5.2f}, {high:5.2f})  n={s.sum():3d}  falls {100 * truth[s].mean():3.0f} %  MLP {100 * (mlp[s] == truth[s]).mean():5.1f} %  GNN {100 * (gnn[s] == truth[s]).mean():5.1f} %")
