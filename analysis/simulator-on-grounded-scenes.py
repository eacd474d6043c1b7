"""What perfect dynamics would give the hybrid: each yes/no task answered by MuJoCo itself from the
scenes the learned grounder perceives (and from exact scenes jittered by the grounder's error size).

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python analysis/simulator-on-grounded-scenes.py TASK EPISODES [SEED] [OUT.json]

For every episode (the evaluation episodes of `physground ceiling` / `evaluate_policy` by default):
the learned grounder's scene -> the task's `interpret` and `counterfactual` (the hybrid's path) ->
MuJoCo (the task's own simulation and `events`) -> the asked event, against the episode's label.
Also MuJoCo from the exact scene with every dynamic object's x and y jittered by N(0, JITTER) (one
draw per episode and level): how often the truth itself flips under millimetre errors, i.e. how much
of a task no perceiver of that precision can get right even with a perfect simulator. Scenes the
task's semantics cannot be applied to count as wrong.
"""

import json
import sys
import time

import numpy as np

from physground.agent.evaluation import EVAL_SEED, reset_batches
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.envs.files import atomic_write_text

JITTERS_MM = (0.25, 0.5, 1.0)

task, episodes = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else EVAL_SEED
out = sys.argv[4] if len(sys.argv) > 4 else None
policy = build_policy(AgentSpec("hybrid", task))
env = env_factory(task, 128)()
base, semantics = env.unwrapped, policy.semantics
rng = np.random.default_rng(0)


def simulated_answer(scene: dict) -> bool | None:
    try:
        _, _, events = base.outcome(scene, 0)  # the task's counterfactual, simulation and events
    except (KeyError, ValueError, IndexError):  # imperfect grounding: an object the task needs is missing
        return None
    return bool(events[events["asked"]])


def jittered(scene: dict, sigma: float) -> dict:
    objects = []
    for obj in scene["objects"]:
        obj = dict(obj)
        if not obj.get("is_static") and obj.get("shape") != "zone":
            obj["position"] = [obj["position"][0] + rng.normal(0, sigma), obj["position"][1] + rng.normal(0, sigma), obj["position"][2]]
        objects.append(obj)
    return {**scene, "objects": objects}


hits: dict[str, list[bool]] = {"grounded": [], "exact": [], **{f"exact, jitter {j} mm": [] for j in JITTERS_MM}}
t0 = time.time()
for obs, infos in reset_batches(env, seed, episodes, 8):
    truths = [info["label"] == base.YES for info in infos]
    grounded = policy.grounded_scenes(obs, None)
    for scene, info, truth in zip(grounded, infos, truths):
        exact = semantics.interpret(info["scene"])
        hits["grounded"].append(simulated_answer(scene) == truth)
        hits["exact"].append(simulated_answer(exact) == truth)
        for j in JITTERS_MM:
            hits[f"exact, jitter {j} mm"].append(simulated_answer(jittered(exact, j / 1000)) == truth)
result = {k: float(np.mean(v)) for k, v in hits.items()}
print(task, len(hits["grounded"]), "episodes from seed", seed, f"({time.time() - t0:.0f} s):", ", ".join(f"{k} {100 * v:.1f} %" for k, v in result.items()))
if out:
    atomic_write_text(out, json.dumps({"task": task, "episodes": episodes, "seed": seed, "simulator accuracy": result}, indent=1))
