"""Would another threshold on the *imagined* displacement answer "will it fall" better? The hybrid
reads the task's event (a block more than half a block size from where it should rest) from the
GNN's imagined end state; if the GNN's displacements were biased, a calibrated threshold would
gain. Per episode: the imagined largest block displacement (learned grounder's scenes, shipped GNN)
and the simulated answer, on the selection range (1,500 episodes per task from seed 8,000,001) and
on the evaluation episodes (1,000 from seed 50,000,000).

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python analysis/imagined-fall-threshold.py OUT.json   # 2-core CPU, ~15 min
"""

import json
import sys

import numpy as np

from physground.agent.evaluation import EVAL_SEED, reset_batches
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.rollout import imagined_events
from physground.envs.files import atomic_write_text

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)
RANGES = {"selection (1,500 from 8,000,001)": (8_000_001, 1500), "evaluation (1,000 from 50,000,000)": (EVAL_SEED, 1000)}


def displacements(task: str, seed: int, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """(imagined largest displacement in block sizes, simulated answer) per episode."""
    policy = build_policy(AgentSpec("hybrid", task))
    env, semantics = env_factory(task, 128)(), policy.semantics
    seconds, dt = semantics._sim_seconds(), policy.dynamics.config.dt
    imagined, truth = [], []
    for obs, infos in reset_batches(env, seed, episodes):
        starts = [semantics.counterfactual(s, 0) for s in policy.grounded_scenes(obs, None)]
        imagined += [e["max_displacement"] for e in imagined_events(semantics, starts, policy.dynamics.step, seconds, dt)]
        truth += [info["label"] == env.unwrapped.YES for info in infos]
    env.close()
    return np.array(imagined), np.array(truth)


out = {"what": __doc__.split("\n\n")[0], "thresholds": THRESHOLDS, "tasks": {}}
for task in ("TowerStability", "BlockRemoval"):
    for name, (seed, n) in RANGES.items():
        d, t = displacements(task, seed, n)
        acc = {str(th): float(np.mean((d > th) == t)) for th in THRESHOLDS}
        wrong = (d > 0.5) != t
        out["tasks"].setdefault(task, {})[name] = {
            "accuracy by threshold": acc,
            "imagined displacement of errors (block sizes), imagined fall / missed fall": [
                np.round(np.sort(d[wrong & ~t]), 2).tolist(),
                np.round(np.sort(d[wrong & t]), 2).tolist(),
            ],
        }
        print(task, name, " ".join(f"{k}:{v:.3f}" for k, v in acc.items()), flush=True)
atomic_write_text(sys.argv[1], json.dumps(out, indent=1))
