"""Per-episode imagined answers of several GNNs (and their mean-step ensembles) on one yes/no task,
from one grounding pass (learned grounder and simulator scenes):

    MUJOCO_GL=egl OMP_NUM_THREADS=1 python analysis/dynamics-ensemble-selection.py TASK EPISODES SEED GROUNDER OUT.npz

The model folders are the device outputs of rounds 8 and 9 (analysis/dynamics-gpu-train-round8*.sh,
-round9.sh), unpacked under /tmp; only the round-9 control is shipped. Summary with majority votes:
analysis/dynamics-ensemble-selection.json (2-core CPU, ~7.5 min per task of 1,500 episodes)."""

import sys
import time

import numpy as np
import torch

from physground.agent.evaluation import reset_batches
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.dynamics.checkpoint import load_dynamics

task, episodes, seed, grounder, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
MODELS = {
    "d9k1": "/tmp/r9/d9k1",
    "d9k2": "/tmp/r9/d9k2",
    "d9k3": "/tmp/r9/d9k3",
    "d8r-s0": "/tmp/r8/d8r-s0",
    "d8r-s1": "/tmp/r8s/d8r-s1",
    "d8r-s2": "/tmp/r8s/d8r-s2",
    "d8eq-s0": "/tmp/r8/d8eq-s0",
}
models = {k: load_dynamics(v) for k, v in MODELS.items()}


class MeanStep(torch.nn.Module):
    def __init__(self, members):
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.config = members[0].config

    def step(self, state, props, batch):
        nxt = torch.stack([m.step(state, props, batch) for m in self.members])
        q = nxt[:, :, 3:7]
        q = q * torch.where((q * q[:1]).sum(-1, keepdim=True) < 0, -1.0, 1.0)
        out = nxt.mean(0)
        out[:, 3:7] = torch.nn.functional.normalize(q.mean(0), dim=-1)
        return out


ENS = {"mean3": ["d9k1", "d8r-s1", "d8r-s2"], "mean7": list(MODELS)}
for k, names in ENS.items():
    models[k] = MeanStep([models[n] for n in names])
env = env_factory(task, 128)()
pols = {"learned": build_policy(AgentSpec("hybrid", task, grounder=grounder)), "sim": build_policy(AgentSpec("hybrid-oracle", task))}
ans = {f"{s}/{m}": [] for s in pols for m in models}
truth = []
t0 = time.time()
for obs, reset_infos in reset_batches(env, seed, episodes):
    infos = {"scene": [i["scene"] for i in reset_infos]}
    truth += [i["label"] == env.unwrapped.YES for i in reset_infos]
    for s, p in pols.items():
        scenes = p.grounded_scenes(obs, infos)
        for m, model in models.items():
            p.dynamics = model
            ans[f"{s}/{m}"] += list(p.imagined_events(scenes)[:, 0, p.event_features.index("asked")] > 0.5)
np.savez(out, truth=np.array(truth), **{k: np.array(v) for k, v in ans.items()})
t = np.array(truth)
print(task, f"{time.time() - t0:.0f}s")
for k, v in ans.items():
    print(f"{k:20s} {np.mean(np.array(v) == t):.4f}")
