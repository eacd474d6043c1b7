"""What the observation holds about block positions: the learned grounder's scenes refined by
render-and-compare (each dynamic object's x, or x, y and z, searched on a grid so that MuJoCo's render
of the grounded scene matches the observation), their x error, and what the shipped GNN answers from
them on the selection episodes.

Render-and-compare uses the environment's own renderer, colours and camera: it measures what the
pixels determine, not a grounder an agent should ship (it needs the simulator's renderer at test
time and fails on photographs).

Measured 2026-11-27 (raw `render-and-compare-cpu.json`, `render-and-compare-gpu.json`): on aliased
renders (physground's default) a quarter of the episodes end pixel-identical to the observation with
blocks still a millimetre off; the x error only falls from 0.61 to 0.41-0.47 mm. With 4x
multisampling it falls to 0.06 mm (x, y and z searched; 400 episodes per task, one H100 host's
renders).

    MUJOCO_GL=egl python analysis/render-and-compare-grounding.py TASK EPISODES CACHE.json OUT.json [--axes x|xyz] [--samples N]

CACHE.json (or .json.gz) is `imagination-variants.py cache`'s file for TASK (the learned grounder's scenes of the
same episodes). ``--axes xyz`` searches y and z too; ``--samples N`` renders observation and
hypotheses with N-fold multisampling (``SceneConfig.multisamples``; default 0 here, as physground rendered until 2026-11-27), to see
how much an anti-aliased observation would hold. "Pixel-identical" counts the episodes whose refined
scene renders exactly as the observation: every scene in that set is as consistent with the image as
the true one.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import torch

from physground.envs.scene import World, copy_scene

COARSE = np.arange(-6, 7) * 0.00025
"""First grid around the current estimate: +-1.5 mm in 0.25 mm steps."""
FINE = np.arange(-5, 6) * 0.00005
"""Second grid around the coarse optimum: +-0.25 mm in 0.05 mm steps."""
PASSES = 2


def load_script(name: str):  # noqa: ANN201 - a module loaded from a file next to this one
    """Another script of analysis/, loaded as a module."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py").replace("-", "_"), Path(__file__).with_name(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mismatch(world: World, scene: dict, target: np.ndarray) -> float:
    """Sum of squared pixel differences between ``scene``'s render and ``target``."""
    world.load(scene)
    return float(((world.render().astype(np.int32) - target) ** 2).sum())


def refine(world: World, scene: dict, target: np.ndarray, axes: tuple[int, ...]) -> dict:
    """``scene`` with every dynamic object's coordinates ``axes`` moved, one at a time, to the grid
    point whose render matches best."""
    scene = copy_scene(scene)
    for _ in range(PASSES):
        for obj in scene["objects"]:
            if obj["is_static"]:
                continue
            for axis in axes:
                for grid in (COARSE, FINE):
                    start = obj["position"][axis]
                    costs = []
                    for d in grid:
                        obj["position"][axis] = start + d
                        costs.append(mismatch(world, scene, target))
                    obj["position"][axis] = start + grid[int(np.argmin(costs))]
    return scene


def x_errors(scene: dict, exact: dict) -> list[float]:
    """|x - true x| of each dynamic object, matched to the true object of its colour."""
    truth = {o["colour"]: o["position"][0] for o in exact["objects"] if not o["is_static"]}
    return [abs(o["position"][0] - truth[o["colour"]]) for o in scene["objects"] if not o["is_static"] and o["colour"] in truth]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task")
    parser.add_argument("episodes", type=int)
    parser.add_argument("cache", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--axes", choices=["x", "xyz"], default="x")
    parser.add_argument("--samples", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="first episode (a shard of a parallel run)")
    args = parser.parse_args()
    task, episodes, out, axes = args.task, args.episodes, args.out, (0,) if args.axes == "x" else (0, 1, 2)
    torch.set_num_threads(1)
    from physground.agent.factory import env_factory
    from physground.envs.files import atomic_write_text

    variants = load_script("imagination-variants.py")
    raw = args.cache.read_bytes()
    cache = json.loads(gzip.decompress(raw) if args.cache.suffix == ".gz" else raw)
    env = env_factory(task, 128, args.samples)()  # the observation and every hypothesis: one World
    world = env.unwrapped.world
    refined, errors_before, errors_after, identical, started = [], [], [], 0, time.time()
    shard = range(args.first, args.first + episodes)
    for i in shard:
        obs, info = env.reset(seed=variants.SELECTION_SEED + i)
        target = obs["image"].astype(np.int32)
        if i == shard[0]:  # the observation is the world's render of the scene: the comparison is like for like
            assert mismatch(world, info["scene"], target) == 0.0, "the observation is not the render of info['scene']"
        scene = refine(world, cache["learned"][i], target, axes)
        identical += mismatch(world, scene, target) == 0.0
        refined.append(scene)
        errors_before += x_errors(cache["learned"][i], cache["exact"][i])
        errors_after += x_errors(scene, cache["exact"][i])
        if (i - args.first) % 50 == 49:
            print(f"{task}: {i - args.first + 1} episodes, {time.time() - started:.0f} s, x error {1000 * np.mean(errors_before):.3f} -> {1000 * np.mean(errors_after):.3f} mm", flush=True)
    truth = np.array(cache["truth"][shard.start : shard.stop], dtype=bool)
    result = {"task": task, "first": args.first, "episodes": episodes, "axes": args.axes, "offsamples": args.samples, "pixel-identical": identical, "x error mm (mean, 95th pct), learned grounder": [1000 * np.mean(errors_before), 1000 * np.quantile(errors_before, 0.95)],
              "x error mm (mean, 95th pct), refined by rendering": [1000 * np.mean(errors_after), 1000 * np.quantile(errors_after, 0.95)]}
    for kind, scenes in (("learned grounder", cache["learned"][shard.start : shard.stop]), ("refined by rendering", refined), ("simulator scenes", cache["exact"][shard.start : shard.stop])):
        got = variants.answers(task, scenes, "shipped", {})
        result[f"shipped GNN accuracy, {kind}"] = float(((got != -1) & ((got == 1) == truth)).mean())
    print(json.dumps(result, indent=1))
    atomic_write_text(out, json.dumps({**result, "refined": refined}))


if __name__ == "__main__":
    main()
