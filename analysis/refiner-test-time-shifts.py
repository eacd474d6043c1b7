"""Test-time shifts for the position refiner (experiment, not shipped): after the shipped refiner's two
passes, one more pass from several starts shifted by a fraction of a pixel along the image's x, the
estimates averaged. If the refiner's residual x error (0.0105 block sizes, a ninth of a pixel; the
part of TowerStability's grounding cost that is all in x, analysis/tower-grounding-errors.py) is its
own noise around the sub-pixel phase of the crop, averaging shifted crops lowers it; if it is the
image's information floor, it does not. Control: a third pass without shifts. Selection episodes
(seeds 8,000,001..), never the evaluation range.

    MUJOCO_GL=egl OMP_NUM_THREADS=2 python analysis/refiner-test-time-shifts.py 400   # 2-core CPU

Measured 2026-11-26 (2-core CPU, shipped grounder and GNN, 400 selection episodes per task):

    TowerStability  shipped (2 passes)             imagined answer 95.2 %   block error x / z mean 0.0102 / 0.0027, x 95th pct 0.0259
    TowerStability  3rd pass, no shift             imagined answer 95.2 %   block error x / z mean 0.0102 / 0.0027, x 95th pct 0.0256
    TowerStability  3rd pass, shifts +-0.25 px     imagined answer 95.2 %   block error x / z mean 0.0102 / 0.0027, x 95th pct 0.0254
    TowerStability  3rd pass, shifts +-0.5 px (5)  imagined answer 95.2 %   block error x / z mean 0.0102 / 0.0027, x 95th pct 0.0253
    BlockRemoval    shipped (2 passes)             imagined answer 93.2 %   block error x / z mean 0.0103 / 0.0025, x 95th pct 0.0253
    BlockRemoval    3rd pass, no shift             imagined answer 93.5 %   block error x / z mean 0.0103 / 0.0025, x 95th pct 0.0253
    BlockRemoval    3rd pass, shifts +-0.25 px     imagined answer 93.2 %   block error x / z mean 0.0103 / 0.0025, x 95th pct 0.0252
    BlockRemoval    3rd pass, shifts +-0.5 px (5)  imagined answer 93.2 %   block error x / z mean 0.0103 / 0.0025, x 95th pct 0.0250

Averaging shifted crops trims the 95th percentile by 2 % and leaves the mean and the answers: the
refiner's estimate does not depend on the crop's sub-pixel phase; the residual is the image's own
limit at 128 pixels. Not shipped.
"""

import sys

import numpy as np
import torch
from grounded_answers import report, score

from physground.agent.evaluation import reset_batches
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.envs.scene import BLOCK_SIZE, project_points
from physground.perception.refiner import REFINED_AXES, crop_around, images_to_tensor

SELECTION_SEED = 8_000_001
episodes = int(sys.argv[1])
# World metres per image pixel at the tower (x): from the default camera's projection.
_a, _b = project_points(np.array([[0.0, 0.0, 0.1], [0.06, 0.0, 0.1]]), 128)
METRES_PER_PIXEL = 0.06 / abs(_b[0] - _a[0])
VARIANTS = {"shipped (2 passes)": None, "3rd pass, no shift": (0.0,), "3rd pass, shifts +-0.25 px": (-0.25, 0.0, 0.25),
            "3rd pass, shifts +-0.5 px (5)": (-0.5, -0.25, 0.0, 0.25, 0.5)}


@torch.no_grad()
def shifted_pass(refiner, images: torch.Tensor, centres: np.ndarray, shifts: tuple[float, ...]) -> np.ndarray:
    """(B, 3) centres: the mean of one refiner pass from each start shifted by ``shifts`` pixels in x."""
    estimates = []
    for s in shifts:
        start = centres.copy()
        start[:, 0] += s * METRES_PER_PIXEL
        correction = refiner(crop_around(images, start, refiner.config)).double().numpy()
        start[:, REFINED_AXES] += correction * BLOCK_SIZE
        estimates.append(start)
    return np.mean(estimates, axis=0)


for task in ("TowerStability", "BlockRemoval"):
    policy = build_policy(AgentSpec("hybrid", task))
    grounder, semantics, env = policy.grounder, policy.semantics, env_factory(task, 128)()
    hits = {v: [] for v in VARIANTS}
    errors = {v: [] for v in VARIANTS}
    for obs, infos in reset_batches(env, SELECTION_SEED, episodes):
        truths = [semantics.interpret(info["scene"]) for info in infos]
        answers = [info["label"] == env.unwrapped.YES for info in infos]
        base = grounder.predict(list(obs["image"]))
        pixels = images_to_tensor(np.stack(list(obs["image"])))
        for name, shifts in VARIANTS.items():
            objects = [[o.__class__(**vars(o)) for o in objs] for objs in base]
            if shifts is not None:
                chosen = [(i, o) for i, objs in enumerate(objects) for o in objs if o.kind in grounder.refiner.config.kinds]
                index = torch.tensor([i for i, _ in chosen])
                refined = shifted_pass(grounder.refiner, pixels[index], np.array([o.position for _, o in chosen], dtype=float), shifts)
                for (_, o), centre in zip(chosen, refined):
                    o.position = [float(v) for v in centre]
            score(policy, objects, truths, answers, hits[name], errors[name])
    for name in VARIANTS:
        report(task, name, hits[name], errors[name], width=30)
