"""Which imagined step costs BlockRemoval its answers? The GNN imagines each selection episode's
removal from MuJoCo's own state at t0 = 0, 0.1, 0.2, 0.3 and 0.5 s after the removal (to the task's
3 s), exact scenes; accuracy of the answer read from each, and the episodes imagined wrong from t0 = 0.

    MUJOCO_GL=egl python analysis/blockremoval-impact-step.py 300 [DYNAMICS_DIR]   # 2-core CPU, ~4 min

Measured 2026-11-26 (2-core CPU, shipped round-9 GNN, selection episodes from seed 8,000,001):

    accuracy by start time: 0.0 s 94.0 %, 0.1 s 93.3 %, 0.2 s 97.7 %, 0.3 s 98.3 %, 0.5 s 98.0 %
    from 0 s: 12 imagined falls of towers that stand, 6 missed falls
    18 episodes wrong from 0 s; 16 of them right from 0.2 s

The blocks above the gap fall freely for 0.11 s and hit the block below inside the model's second
step (0.1 -> 0.2 s). Handed MuJoCo's state after that impact, the GNN gets 16 of its 18 errors right:
the impact step, not the long rollout, is where BlockRemoval's imagination fails.

Round 13's GNN trained from random weights with the absolute-error loss (`d13l1s`, not shipped;
`analysis/dynamics-selection.md`), same episodes and machine:

    accuracy by start time: 0.0 s 87.0 %, 0.1 s 88.7 %, 0.2 s 94.7 %, 0.3 s 96.3 %, 0.5 s 98.0 %
    from 0 s: 11 imagined falls of towers that stand, 28 missed falls
"""

import sys

import numpy as np

from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.rollout import imagine

SELECTION_SEED = 8_000_001
STARTS = (0, 1, 2, 3, 5)  # in model steps of 0.1 s

episodes = int(sys.argv[1])
policy = build_policy(AgentSpec("hybrid-oracle", "BlockRemoval", dynamics=sys.argv[2] if len(sys.argv) > 2 else None))
env = env_factory("BlockRemoval", 128)()
base, semantics, dt = env.unwrapped, policy.semantics, policy.dynamics.config.dt
seconds = semantics._sim_seconds()
hits: dict[int, list[bool]] = {t: [] for t in STARTS}
false_falls = missed_falls = 0  # from 0 s: imagined fall where the tower stands, imagined standing where it falls
for i in range(episodes):
    _, info = env.reset(seed=SELECTION_SEED + i)
    truth = info["label"] == base.YES
    start = semantics.counterfactual(semantics.interpret(info["scene"]), 0)
    states = [start]
    for _ in range(max(STARTS)):
        states.append({**base.simulate(states[-1], seconds=dt), "meta": start["meta"]})
    for t in STARTS:
        end = imagine(policy.dynamics.step, [states[t]], seconds - t * dt, dt)[0][-1]
        events = semantics.events(start, end)
        imagined_fall = bool(events[events["asked"]])
        hits[t].append(imagined_fall == truth)
        if t == 0:
            false_falls += imagined_fall and not truth
            missed_falls += truth and not imagined_fall
wrong = [i for i, hit in enumerate(hits[0]) if not hit]
print("accuracy by start time: " + ", ".join(f"{t * dt:.1f} s {100 * np.mean(h):.1f} %" for t, h in hits.items()))
print(f"from 0 s: {false_falls} imagined falls of towers that stand, {missed_falls} missed falls")
print(f"{len(wrong)} episodes wrong from 0 s; {sum(hits[2][i] for i in wrong)} of them right from {2 * dt:.1f} s; wrong: {wrong}")
