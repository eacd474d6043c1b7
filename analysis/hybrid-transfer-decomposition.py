"""Why a hybrid trained on one yes/no task does or does not answer another: its two logit terms, on
60 episodes each, and the bilinear answer x event weight per event slot.

    physground train-agent --agent hybrid-task-slots --task RollOff --seed 0 --out /tmp/ro-slots   # 111 s, 2-core CPU
    physground train-agent --agent hybrid-oracle --task RollOff --seed 0 --out /tmp/ro-oracle      # 2.5 min
    MUJOCO_GL=egl python analysis/hybrid-transfer-decomposition.py /tmp/ro-slots

Measured 2026-11-26 (2-core CPU). hybrid-task-slots (the first event encoding: the tasks' own event
keys next to "asked"), trained on RollOff (95.2 % running success):

    RollOff         asked 0: scorer yes-no -6.00, agreement yes-no  0.00 (truth yes 0.00)
    RollOff         asked 1: scorer yes-no -4.51, agreement yes-no 10.83 (truth yes 0.97)
    TowerStability  asked 0: scorer yes-no -6.57, agreement yes-no  0.00 (truth yes 0.09)
    TowerStability  asked 1: scorer yes-no -6.39, agreement yes-no  5.41 (truth yes 0.96)
    agreement weight yes - no per event: asked 5.41, ball_left_platform 5.41, every other 0.00

On RollOff the generic "asked" slot and the task's own "ball_left_platform" slot are always equal,
so PPO splits the bilinear weight between them; the MLP scorer adds about -6 towards "no". On
TowerStability only "asked" fires (its own slot is "any_fell"), 5.41 < 6.39, and the agent answers
"no": 50 %. (The same measurement on the previous session's hybrid-oracle, the same encoding: 5.91
on each slot, scorer -7.)

hybrid-oracle with the role encoding (every slot a role that each task names), trained the same way
(97.8 % running success):

    RollOff         asked 0: scorer yes-no -6.33, agreement yes-no 0.00 (truth yes 0.00)
    RollOff         asked 1: scorer yes-no -4.42, agreement yes-no 9.71 (truth yes 0.94)
    TowerStability  asked 0: scorer yes-no -6.36, agreement yes-no 0.00 (truth yes 0.03)
    TowerStability  asked 1: scorer yes-no -6.21, agreement yes-no 9.71 (truth yes 0.97)
    agreement weight yes - no per event: asked 9.71, goal 0, failure 0, distance_to_goal 0, not_imagined 0

The whole weight sits on "asked", which fires on TowerStability as on RollOff: 9.71 > 6.21, and the
agent answers "yes" exactly when the fall is imagined (97 % on TowerStability in the full ablation).
"""

import sys

import numpy as np
import torch

from physground.agent.evaluation import _stack_observations, load_agent, policy_for_task
from physground.agent.factory import env_factory

spec, policy = load_agent(sys.argv[1])
for task in ("RollOff", "TowerStability"):
    pol = policy_for_task(spec, policy, task)
    env = env_factory(task, 128)()
    rows = []
    for i in range(60):
        obs, info = env.reset(seed=50_000_000 + i)
        inputs = pol.prepare(_stack_observations([obs]), {"scene": [info["scene"]]})
        with torch.no_grad():
            scorer, agreement = (t[0] for t in pol.logit_terms(inputs))
        yes, no = pol.action_names.index("yes"), pol.action_names.index("no")
        asked = float(inputs["events"][0, 0, pol.event_features.index("asked")])
        rows.append((asked, float(scorer[yes] - scorer[no]), float(agreement[yes] - agreement[no]), info["label"] == env.unwrapped.YES))
    r = np.array(rows)
    for asked in (0, 1):
        m = r[:, 0] == asked
        if m.any():
            print(f"{task:15s} asked {asked}: scorer yes-no {r[m, 1].mean():.2f}, agreement yes-no {r[m, 2].mean():.2f} (truth yes {r[m, 3].mean():.2f})")
with torch.no_grad():
    answers = policy.answer_norm(policy.answer_embeddings)
    yes, no = policy.action_names.index("yes"), policy.action_names.index("no")
    weight = (answers[yes] - answers[no]) @ policy.agreement.weight[0]
print("agreement weight yes - no per event:", {k: round(float(v), 2) for k, v in zip(policy.event_features, weight)})
