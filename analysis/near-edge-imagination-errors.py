"""Where the shipped GNN's imagination disagrees with MuJoCo on a "will it fall" task, by the static
margin of the tower (``envs.towers.static_margin``: the smallest distance, in block sizes, from the
centre of mass above any block to that block's edge; for BlockRemoval the column left after the
removal), from exact simulator scenes.

    MUJOCO_GL=egl python analysis/near-edge-imagination-errors.py TowerStability 1000   # 2-core CPU, 30 s
    MUJOCO_GL=egl python analysis/near-edge-imagination-errors.py BlockRemoval 1000     # 2-core CPU, 60 s

Measured 2026-11-26 (the first 1,000 evaluation episodes; round-6 GNN, shipped then):

    TowerStability: imagination right 95.1 %, symbolic statics right 93.2 %; errors 49 (28 imagined falls, 21 missed)
    margin [-1.00, 0.00)  n=445  truth falls 100 %  imagination wrong  0.0 %
    margin [ 0.00, 0.02)  n= 47  truth falls  81 %  imagination wrong 31.9 %
    margin [ 0.02, 0.05)  n= 66  truth falls  35 %  imagination wrong 34.8 %
    margin [ 0.05, 0.10)  n= 90  truth falls   7 %  imagination wrong 11.1 %
    margin [ 0.10, 1.00)  n=352  truth falls   0 %  imagination wrong  0.3 %

    BlockRemoval: imagination right 91.3 %, symbolic statics right 79.7 %; errors 87 (56 imagined falls, 31 missed)
    margin [-1.00, 0.00)  n=310  truth falls 100 %  imagination wrong  0.0 %
    margin [ 0.00, 0.02)  n= 48  truth falls  92 %  imagination wrong  8.3 %
    margin [ 0.02, 0.05)  n=109  truth falls  69 %  imagination wrong 20.2 %
    margin [ 0.05, 0.10)  n=127  truth falls  43 %  imagination wrong 26.8 %
    margin [ 0.10, 0.20)  n=185  truth falls  16 %  imagination wrong 14.6 %
    margin [ 0.20, 1.00)  n=221  truth falls   0 %  imagination wrong  0.0 %

Round-8 GNN (twice the play data; shipped after round 6, until round 9):

    TowerStability: imagination right 97.1 %, symbolic statics right 93.2 %; errors 29 (8 imagined falls, 21 missed)
    margin [ 0.00, 0.02)  imagination wrong 19.1 %   [0.02, 0.05) 18.2 %   [0.05, 0.10) 6.7 %
    BlockRemoval: imagination right 90.9 %, symbolic statics right 79.7 %; errors 91 (49 imagined falls, 42 missed)
    margin [ 0.02, 0.05)  imagination wrong 23.9 %   [0.05, 0.10) 29.1 %   [0.10, 0.20) 13.0 %

Every error of the round-6 GNN is a tower that statics calls stable but whose margin is small: there MuJoCo's answer
is not statics (81 % of TowerStability's towers with a margin under 0.02 block sizes fall: the
blocks settle into their soft contacts and rock), and for BlockRemoval the drop onto the gap widens
the undecided band to 0.2. ``analysis/near-edge-learnability.py`` checks that the answer there is
predictable from the geometry; round 7 (``analysis/dynamics-selection.md``) put such towers in the
GNN's play.
"""

import sys

import numpy as np

from physground.agent.evaluation import EVAL_SEED
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.rollout import imagined_events
from physground.envs.scene import find_object
from physground.envs.towers import static_margin

task, episodes = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else EVAL_SEED
policy = build_policy(AgentSpec("hybrid-oracle", task))
env, semantics = env_factory(task, 128)(), policy.semantics
starts, truth, margins = [], [], []
for i in range(episodes):
    _, info = env.reset(seed=seed + i)
    scene = semantics.interpret(info["scene"])
    start = semantics.counterfactual(scene, 0)
    truth.append(env.unwrapped.outcome(scene, 0)[2]["any_fell"])
    margins.append(static_margin(sorted((find_object(start, k) for k in start["meta"]["tower"]), key=lambda o: o["position"][2])))
    starts.append(start)
imagined = []
for k in range(0, episodes, 50):
    events = imagined_events(semantics, starts[k : k + 50], policy.dynamics.step, semantics._sim_seconds(), policy.dynamics.config.dt)
    imagined += [e["any_fell"] for e in events]
imagined, truth, margins = np.array(imagined), np.array(truth), np.array(margins)
wrong = imagined != truth
print(f"{task}: imagination right {100 * (1 - wrong.mean()):.1f} %, symbolic statics right {100 * ((margins < 0) == truth).mean():.1f} %; "
      f"errors {wrong.sum()} ({(wrong & imagined).sum()} imagined falls, {(wrong & ~imagined).sum()} missed)")
edges = [-1.0, 0.0, 0.02, 0.05, 0.1] + ([0.2] if task == "BlockRemoval" else []) + [1.0]
for low, high in zip(edges, edges[1:]):
    m = (margins >= low) & (margins < high)
    print(f"margin [{low:5.2f}, {high:5.2f})  n={m.sum():3d}  truth falls {100 * truth[m].mean():3.0f} %  imagination wrong {100 * wrong[m].mean():4.1f} %")
