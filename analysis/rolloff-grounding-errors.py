"""Where RollOff's grounding costs the hybrid (97.3 % from the learned grounder's scenes, 98.5 % from
exact ones on the 1,000 evaluation episodes): the imagined answer with one object at a time taken
from the simulator's scene instead of the grounder's — the ball, the platform, the ramp (and its
support) — on the evaluation episodes.

    MUJOCO_GL=egl OMP_NUM_THREADS=2 python analysis/rolloff-grounding-errors.py 1000   # 2-core CPU, ~5 min

Measured 2026-11-26 (2-core CPU, shipped grounder and round-9 GNN, 1,000 evaluation episodes):

    learned grounder           97.3 %
    + true ball                97.5 %
    + true platform            97.5 %
    + true ramp                97.8 %
    + true ball and platform   97.8 %
    simulator scene            98.5 %

No single object carries the 1.2 points: the ball's height (1.1 mm mean error) sets its speed, the
platform's far end (3.5 mm) where it must stop, the ramp's pitch its path; the answers that flip are
balls stopping within a centimetre or two of the end. Refining the ball alone would win 0.2.
"""

import copy
import sys

import numpy as np

from physground.agent.evaluation import EVAL_SEED, reset_batches
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.rollout import imagined_events
from physground.envs.scene import find_object

episodes = int(sys.argv[1])
policy = build_policy(AgentSpec("hybrid", "RollOff"))
semantics, env = policy.semantics, env_factory("RollOff", 128)()
seconds, dt = semantics._sim_seconds(), policy.dynamics.config.dt
SWAPS = {"learned grounder": (), "+ true ball": ("ball0",), "+ true platform": ("platform",), "+ true ramp": ("ramp", "ramp_support"),
         "+ true ball and platform": ("ball0", "platform"), "simulator scene": None}


def swapped(learned: dict, truth: dict, ids: tuple[str, ...] | None) -> dict:
    if ids is None:
        return truth
    out = copy.deepcopy(learned)
    for oid in ids:
        try:
            obj = find_object(out, oid)
        except KeyError:
            continue
        obj.update(copy.deepcopy(find_object(truth, oid)))
    return out


hits = {name: [] for name in SWAPS}
for obs, infos in reset_batches(env, EVAL_SEED, episodes):
    learned = policy.grounded_scenes(obs, None)
    truths = [semantics.interpret(info["scene"]) for info in infos]
    answers = [info["label"] == env.unwrapped.YES for info in infos]
    for name, ids in SWAPS.items():
        starts = [swapped(sl, st, ids) for sl, st in zip(learned, truths)]
        events = imagined_events(semantics, starts, policy.dynamics.step, seconds, dt)
        hits[name] += [e["ball_left_platform"] == a for e, a in zip(events, answers)]
for name, h in hits.items():
    print(f"{name:26s} {100 * np.mean(h):.1f} %")
