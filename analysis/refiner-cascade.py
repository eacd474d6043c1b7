"""A second, fine refiner after the shipped one (experiment, not shipped): the shipped refiner was
trained on coarse centres up to +-0.5 block sizes off and runs twice; its residual x error (about
0.01 block sizes) is what still costs TowerStability 1.2 points (analysis/tower-grounding-errors.py).
A refiner trained on small offsets only (+-0.06 / 0.02 / 0.04 block sizes in x / y / z) then corrects
what the shipped one leaves. Per task: block position errors and the imagined answer on the
evaluation episodes, shipped grounder vs shipped + fine refiner.

    python -c "from physground.perception.refiner_training import RefinerSettings as S, train_refiner as t; t(S(out='FINE', n_scenes=8000, steps=6000, jitter=(0.06, 0.02, 0.04), workers=2, seed=1, eval_per_task=200, accelerator='cpu'))"   # under `if __name__ == '__main__'`
    MUJOCO_GL=egl OMP_NUM_THREADS=2 python analysis/refiner-cascade.py FINE 1000

Measured 2026-11-26 (2-core CPU; the fine refiner trained in 8.6 min; round-9 GNN; 1,000 evaluation
episodes per task):

    TowerStability  shipped         imagined answer 95.5 %   block error x / z mean 0.0105 / 0.0026, x 95th pct 0.0258
    TowerStability  shipped + fine  imagined answer 95.9 %   block error x / z mean 0.0093 / 0.0013, x 95th pct 0.0237
    BlockRemoval    shipped         imagined answer 91.3 %   block error x / z mean 0.0103 / 0.0026, x 95th pct 0.0253
    BlockRemoval    shipped + fine  imagined answer 90.9 %   block error x / z mean 0.0089 / 0.0012, x 95th pct 0.0230

The fine stage halves the z error but cuts x by a tenth only; the answers move by +0.4 / -0.4 points
(noise). The x error has no bias and no trend with position (400 TowerStability episodes: signed mean
0.0007 block sizes, correlation with the true x 0.02, a linear fit in x, y, z leaves it unchanged);
0.6 mm is about a ninth of a pixel of the 128-pixel observation (a block is 11 pixels wide). Not shipped.
"""

import sys

from grounded_answers import report, score

from physground.agent.evaluation import EVAL_SEED, reset_batches
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.perception.grounders import LearnedGrounder

fine_folder, episodes = sys.argv[1], int(sys.argv[2])

for task in ("TowerStability", "BlockRemoval"):
    policy = build_policy(AgentSpec("hybrid", task))
    grounder = policy.grounder
    fine = LearnedGrounder.load(fine_folder, grounder.vlm).refiner
    coarse = grounder.refiner
    semantics, env = policy.semantics, env_factory(task, 128)()
    hits, errors = {"shipped": [], "shipped + fine": []}, {"shipped": [], "shipped + fine": []}
    for obs, infos in reset_batches(env, EVAL_SEED, episodes):
        truths = [semantics.interpret(info["scene"]) for info in infos]
        answers = [info["label"] == env.unwrapped.YES for info in infos]
        for name in hits:
            objects = grounder.predict(list(obs["image"]))
            if name == "shipped + fine":
                grounder.refiner = fine
                grounder._refine(list(obs["image"]), objects)
                grounder.refiner = coarse
            score(policy, objects, truths, answers, hits[name], errors[name])
    for name in hits:
        report(task, name, hits[name], errors[name])
