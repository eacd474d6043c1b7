"""Where the GNN's imagination goes wrong on BlockRemoval (the hybrid's weakest yes/no task), from
exact simulator scenes: imagined vs simulated fall, per tower height.

    MUJOCO_GL=egl python analysis/blockremoval-imagination-errors.py     # 2-core CPU, about 2 min

Measured 2026-11-26 (2-core CPU, the 200 evaluation episodes of `physground ceiling`), round-3 GNN
(towers of at most 4 blocks in its play):

    accuracy 0.875 of 200
    imagined fall, truth stands: 21   imagined stands, truth falls: 4
    true max displacement where a fall was imagined: 0.01-0.10 block sizes; imagined: 1.2-5.4
    true max displacement where a fall was missed: 0.51-1.03 (threshold 0.5); imagined: 0.08-0.14
    blocks 3: 81 episodes, 97.5 %   blocks 4: 59, 89.8 %   blocks 5: 37, 67.6 %   blocks 6: 23, 78.3 %

The errors were almost all imagined collapses of towers that stand: after the removal the blocks
above the gap drop one block size and settle, and the GNN's rollout of that drop destabilised tall
towers (5-6 blocks). The four missed falls are near the 0.5-block threshold.

Round-4 GNN (towers of up to 6 blocks in play; shipped since, `analysis/dynamics-selection.md`):

    accuracy 0.895 of 200
    imagined fall, truth stands: 15   imagined stands, truth falls: 6
    true max displacement where a fall was imagined: 0.00-0.10; imagined: 1.16-3.27
    true max displacement where a fall was missed: 0.51-0.96; imagined: 0.08-0.15
    blocks 3: 81 episodes, 91.4 %   blocks 4: 59, 88.1 %   blocks 5: 37, 86.5 %   blocks 6: 23, 91.3 %

Tall towers improved (5 blocks 68 -> 86 %, 6 blocks 78 -> 91 %), 3-block towers lost 6 points: the
imagined drop still topples some towers that stand, now at every height.

Round-6 choice (round 4's candidate with removals twice as often in its play; shipped since):

    accuracy 0.930 of 200
    imagined fall, truth stands: 10   imagined stands, truth falls: 4
    true max displacement where a fall was imagined: 0.01-0.05; imagined: 1.14-4.55
    true max displacement where a fall was missed: 0.53-1.03; imagined: 0.13-0.19
    blocks 3: 81 episodes, 97.5 %   blocks 4: 59, 89.8 %   blocks 5: 37, 94.6 %   blocks 6: 23, 82.6 %

Imagined collapses of standing towers 15 -> 10; the 6-block towers lost 2 of their 23 again.

Round-8 choice (the same recipe on twice the play data; shipped since):

    accuracy 0.930 of 200
    imagined fall, truth stands: 9   imagined stands, truth falls: 5
    true max displacement where a fall was imagined: 0.01-0.10; imagined: 1.02-4.48
    true max displacement where a fall was missed: 0.51-1.03; imagined: 0.06-0.16
    blocks 3: 81 episodes, 97.5 %   blocks 4: 59, 91.5 %   blocks 5: 37, 91.9 %   blocks 6: 23, 82.6 %

The same accuracy on these 200 episodes: twice the data did not remove the imagined collapses.
"""

import numpy as np

from physground.agent.evaluation import EVAL_SEED
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.rollout import imagine

policy = build_policy(AgentSpec("hybrid-oracle", "BlockRemoval"))
env, semantics = env_factory("BlockRemoval", 128)(), policy.semantics
rows = []
for i in range(200):
    _, info = env.reset(seed=EVAL_SEED + i)
    scene = semantics.interpret(info["scene"])
    start = semantics.counterfactual(scene, 0)
    frames = imagine(policy.dynamics.step, [start], semantics._sim_seconds(), policy.dynamics.config.dt, "cpu")
    imagined = semantics.events(start, frames[0][-1])
    _, _, simulated = env.unwrapped.outcome(scene, 0)
    rows.append((imagined["any_fell"], simulated["any_fell"], imagined["max_displacement"], simulated["max_displacement"], len(scene["meta"]["tower"])))
r = np.array(rows, dtype=float)
print(f"accuracy {(r[:, 0] == r[:, 1]).mean():.3f} of {len(r)}")
false_fall, missed_fall = (r[:, 0] == 1) & (r[:, 1] == 0), (r[:, 0] == 0) & (r[:, 1] == 1)
print(f"imagined fall, truth stands: {false_fall.sum()}   imagined stands, truth falls: {missed_fall.sum()}")
for name, m in (("a fall was imagined", false_fall), ("a fall was missed", missed_fall)):
    if m.any():
        print(f"true max displacement where {name}: {r[m, 3].min():.2f}-{r[m, 3].max():.2f}; imagined: {r[m, 2].min():.2f}-{r[m, 2].max():.2f}")
for n in sorted(set(r[:, 4])):
    m = r[:, 4] == n
    print(f"blocks {int(n)}: {m.sum()} episodes, {100 * (r[m, 0] == r[m, 1]).mean():.1f} %")
