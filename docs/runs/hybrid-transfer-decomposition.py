"""Why a hybrid trained on one yes/no task fails on another: its two logit terms, on 60 episodes each.

    physground train-agent --agent hybrid-oracle --task RollOff --seed 0 --out /tmp/ro-oracle   # 68 s, 2-core CPU
    MUJOCO_GL=egl python docs/runs/hybrid-transfer-decomposition.py /tmp/ro-oracle

Measured 2026-11-26 (2-core CPU), trained on RollOff (97.8 % running success):

    RollOff         asked 0: scorer yes-no -7.01, agreement yes-no  0.00 (truth yes 0.00)
    RollOff         asked 1: scorer yes-no -6.12, agreement yes-no 11.83 (truth yes 0.94)
    TowerStability  asked 0: scorer yes-no -7.36, agreement yes-no  0.00 (truth yes 0.03)
    TowerStability  asked 1: scorer yes-no -7.24, agreement yes-no  5.91 (truth yes 0.97)
    agreement weight yes - no per event: asked 5.91, ball_left_platform 5.91, every other 0.00

On RollOff the generic "asked" slot and the task's own "ball_left_platform" slot are always equal,
so PPO splits the bilinear weight between them; the MLP scorer adds a constant -7 towards "no". On
TowerStability only "asked" fires (its own slot is "any_fell"), 5.91 < 7.24, and the agent always
answers "no": 50 %. The imagined physics is right; the decision layer learned a redundant,
task-specific encoding of it.
"""

import sys

import numpy as np
import torch

from agent.evaluation import _stack_observations, load_agent, policy_for_task
from agent.factory import env_factory

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
