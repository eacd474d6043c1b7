"""Imagination variants judged on cached selection scenes: what the hybrid reads from a rollout in
which model A imagines the first K steps and model B the rest, with optional mirror-symmetrised
steps and "sleeping" bodies; accuracy and error kinds per yes/no task.

`physground ceiling` grounds every episode again for every model (minutes per model and task on the
2-core CPU). This script grounds the selection episodes once (`cache`: the learned grounder's scenes,
the simulator's scenes and the labels, as JSON) and then rolls out any number of variants in
seconds (`eval`). With the shipped GNN it reproduces `physground ceiling --seed 8000001 --episodes
1500` exactly (the shipped row of `dynamics-selection-round10.json`: BlockRemoval 92.27 / 94.00,
TowerStability 95.93 / 97.07, RollOff 97.13 / 98.00 %, learned grounder / simulator scenes).

    MUJOCO_GL=egl python analysis/imagination-variants.py cache TASK 1500 CACHE.json          # 50-160 s per task
    python analysis/imagination-variants.py eval TASK CACHE.json [--model NAME=DIR ...] VARIANT ...

A VARIANT is ``A:K:B`` (A for the first K steps, then B; ``A`` alone: A throughout). A model is a
NAME given with ``--model`` or ``shipped``, optionally followed by ``+mx`` (each step averaged with
the step of the scene mirrored in x, mapped back: a 2-model ensemble the GNN's symmetry gives for
free) or ``~V~W`` (after each step, bodies slower than V m/s and spinning slower than W rad/s stay
where they were, at rest: a physics engine's "sleeping"). A variant followed by ``@K@S`` answers
with the majority of the scene and K copies whose dynamic objects' x is moved by N(0, S) metres
(voting over the grounder's uncertainty).

Measured 2026-11-26 (2-core CPU, aliased renders: `cache ... --multisamples 0` and the grounder shipped then, 1,500 selection episodes per task from seed
8,000,001; accuracy from the learned grounder's / the simulator's scenes; "fp" imagined falls of towers
that stand, "fn" missed falls, simulator scenes):

    variant                                  BlockRemoval           TowerStability         RollOff
    shipped                                  92.27 / 94.00 (56/34)  95.93 / 97.07 (19/25)  97.13 / 98.00
    round-13 L1 model (d13l1s), K=1 / 2 / 3  91.60 / 90.27 / 89.87 (learned), 92.47 / 92.67 / 91.80 (sim.)
    round-12 quarter noise (d12n025), K=2    92.53 / 93.87          95.87 / 97.13
    shipped+mx (mirror-averaged)             92.73 / 93.93          96.07 / 97.80          60.67 / 59.40
    round 14 d14p (perturbed pairs) alone    86.00 / 85.93 (195/16) 84.67 / 84.40 (233/1)  95.80 / 97.00
    round 14 d14b (both) alone               89.53 / 89.67 (141/14) 89.40 / 89.47 (155/3)  96.27 / 97.67
    round 14 d14pft / d14bft (fine-tuned)    90.20 / 91.07 (learned) 91.33 / 93.67         96.33 / 97.13
    round 15 d15u (displacement undone)      87.07 / 86.93 (152/44) 89.67 / 91.07 (126/8)  96.13 / 97.20
    round 15 d15ub / d15uft                  88.53 / 90.27 (learned) 88.13 / 93.00         96.27 / 95.53
    d14p for K=1 / 2 / 3, then shipped       91.80 / 91.00 / 90.07  96.07 / 95.47 / 95.13  (learned)
    d14p~0.01~0.1 (sleeping) throughout      88.60 (sim.)           94.20 (sim.)
    shipped~0.01~0.1                         93.40 (sim., 58/41)    94.93 (sim., 1/75)
    shipped@8@0.0008 (vote, 2026-11-27)      92.87 / 93.87          95.87 / 96.87          97.13 / 98.00

All rows, with every count: `analysis/imagination-variants-cpu.json`. The mirror breaks RollOff:
its balls (and the play's rolling balls, drawn from RollOff's scenes) always roll towards +x, so the
mirrored scene is outside the GNN's training data. Nothing here beats the shipped model by more than
the noise (+-0.6 points on the mean); every variant moves errors between imagined falls and missed
falls.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

SELECTION_SEED = 8_000_001
MIRROR_X = torch.tensor([-1, 1, 1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1], dtype=torch.float32)
"""Sign flips of a state row (position, quaternion [w, x, y, z], velocity, angular velocity) under the
mirror x -> -x: the quaternion's vector part and the angular velocity are pseudo-vectors."""


def cache(task: str, episodes: int, out: Path, grounder: str | None = None, multisamples: int | None = None) -> None:
    """Ground the selection episodes once: learned grounder's (default the shipped one) and
    simulator's scenes, labels; rendered with ``multisamples`` (default: physground's)."""
    from physground.agent.evaluation import reset_batches
    from physground.agent.factory import AgentSpec, build_policy, env_factory
    from physground.envs.files import atomic_write_text
    from physground.envs.scene import DEFAULT_MULTISAMPLES

    samples = DEFAULT_MULTISAMPLES if multisamples is None else multisamples
    policy = build_policy(AgentSpec("hybrid", task, grounder=grounder, multisamples=samples))
    env = env_factory(task, 128, samples)()
    record: dict[str, list] = {"learned": [], "exact": [], "truth": []}
    started = time.time()
    for obs, infos in reset_batches(env, SELECTION_SEED, episodes, 8):
        record["learned"] += policy.grounded_scenes(obs, None)
        record["exact"] += [policy.semantics.interpret(info["scene"]) for info in infos]
        record["truth"] += [bool(info["label"] == env.unwrapped.YES) for info in infos]
    atomic_write_text(out, json.dumps({"task": task, "seed": SELECTION_SEED, **record}))
    print(f"{task}: {episodes} episodes cached in {time.time() - started:.0f} s")


def mirrored_step(step: Callable) -> Callable:
    """``step`` averaged with its prediction for the x-mirrored scene, mapped back."""

    def averaged(state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        plain = step(state, props, batch)
        mirror = step(state * MIRROR_X, props, batch) * MIRROR_X
        sign = torch.where((mirror[:, 3:7] * plain[:, 3:7]).sum(-1, keepdim=True) < 0, -1.0, 1.0)  # q and -q: the same turn
        mean = (plain + torch.cat([mirror[:, :3], mirror[:, 3:7] * sign, mirror[:, 7:]], -1)) / 2
        return torch.cat([mean[:, :3], mean[:, 3:7] / mean[:, 3:7].norm(dim=-1, keepdim=True), mean[:, 7:]], -1)

    return averaged


def sleeping_step(step: Callable, speed: float, spin: float) -> Callable:
    """``step`` after which slow dynamic bodies stay where they were, at rest."""

    def slept(state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        out = step(state, props, batch)
        still = (out[:, 7:10].norm(dim=-1) < speed) & (out[:, 10:13].norm(dim=-1) < spin) & (props[:, -1] < 0.5)
        rest = state.clone()
        rest[:, 7:13] = 0.0
        return torch.where(still[:, None], rest, out)

    return slept


def make_step(spec: str, models: dict[str, str]) -> Callable:
    """A step function from ``NAME``, ``NAME+mx`` or ``NAME~V~W``."""
    from physground.dynamics.checkpoint import SHIPPED_GNN, load_dynamics

    name, _, mirror = spec.partition("+")
    name, *sleep = name.split("~")
    if name != "shipped" and name not in models:
        raise SystemExit(f"unknown model {name!r}; give it with --model {name}=DIR")
    step = load_dynamics(models.get(name, SHIPPED_GNN)).eval().step
    if mirror:
        if mirror != "mx":
            raise SystemExit(f"unknown symmetry {mirror!r} in {spec!r}; valid: mx")
        step = mirrored_step(step)
    if sleep:
        step = sleeping_step(step, float(sleep[0]), float(sleep[1]))
    return step


class Phased:
    """Step function: ``first`` for the first ``k`` calls of a rollout, then ``then``."""

    def __init__(self, first: Callable, k: int, then: Callable) -> None:
        self.first, self.k, self.then, self.calls = first, k, then, 0

    def __call__(self, state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return (self.first if self.calls <= self.k else self.then)(state, props, batch)


def jittered(scene: dict, sigma: float, rng: np.random.Generator) -> dict:
    """``scene`` with every dynamic object's x moved by N(0, sigma) metres (the grounder's error)."""
    from physground.envs.scene import copy_scene

    copy = copy_scene(scene)
    for o in copy["objects"]:
        if not o["is_static"]:
            o["position"][0] += float(rng.normal(0.0, sigma))
    return copy


def answers(task: str, scenes: list[dict], variant: str, models: dict[str, str]) -> np.ndarray:
    """The asked event read from each scene's imagined rollout: 1 / 0, -1 where the task's semantics
    cannot be applied to the scene (counted wrong, as in `physground ceiling`)."""
    from physground import envs
    from physground.agent.hybrid import IMAGINE_SECONDS
    from physground.dynamics.rollout import imagine

    semantics = envs.task_spec(task).env_class(scene=envs.SceneConfig(render_images=False))
    seconds = IMAGINE_SECONDS.get(task, semantics._sim_seconds())
    variant, *vote = variant.split("@")
    if vote:
        samples, sigma = int(vote[0]), float(vote[1])
        rngs = [np.random.default_rng([SELECTION_SEED, i]) for i in range(len(scenes))]
        copies = [jittered(s, sigma, rng) for s, rng in zip(scenes, rngs) for _ in range(samples)]
        votes = answers(task, copies, variant, models).reshape(len(scenes), samples)
        plain = answers(task, scenes, variant, models)
        fell = (votes == 1).sum(1) + (plain == 1)
        return np.where(plain == -1, -1, (2 * fell > samples + 1).astype(int))
    parts = variant.split(":")
    if len(parts) not in (1, 3):
        raise SystemExit(f"a variant is MODEL or A:K:B, got {variant!r}")
    first, k, then = parts if len(parts) == 3 else (parts[0], "0", parts[0])
    steps = (make_step(first, models), int(k), make_step(then, models))
    out = np.full(len(scenes), -1)
    starts, owners = [], []
    for i, scene in enumerate(scenes):
        try:
            starts.append(semantics.counterfactual(scene, 0))
            owners.append(i)
        except (KeyError, ValueError, IndexError):
            pass
    for c in range(0, len(starts), 500):
        with torch.no_grad():
            frames = imagine(Phased(*steps), starts[c : c + 500], seconds, 0.1)
        for i, start, f in zip(owners[c : c + 500], starts[c : c + 500], frames):
            events = semantics.events(start, f[-1])
            out[i] = int(bool(events[events["asked"]]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("task")
    c.add_argument("episodes", type=int)
    c.add_argument("out", type=Path)
    c.add_argument("--multisamples", type=int, default=None, help="anti-aliasing of the renders (default: physground's, 4; the tables here: 0)")
    e = sub.add_parser("eval")
    e.add_argument("task")
    e.add_argument("cache", type=Path)
    e.add_argument("variants", nargs="+")
    e.add_argument("--model", action="append", default=[], help="NAME=DIR")
    e.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    if args.command == "cache":
        cache(args.task, args.episodes, args.out, multisamples=args.multisamples)
        return
    torch.set_num_threads(2)
    models = dict(m.split("=", 1) for m in args.model)
    record = json.loads(args.cache.read_text())
    if record["task"] != args.task:
        raise SystemExit(f"{args.cache} holds {record['task']} scenes, not {args.task}")
    truth = np.array(record["truth"], dtype=bool)
    results = {}
    for variant in args.variants:
        row = {}
        for kind, label in (("learned", "learned grounder"), ("exact", "simulator scenes")):
            got = answers(args.task, record[kind], variant, models)
            right = (got != -1) & ((got == 1) == truth)
            row[label] = {"accuracy": float(right.mean()), "imagined falls where it stands": int(((got == 1) & ~truth).sum()),
                          "missed falls": int(((got != 1) & truth).sum()), "not imagined": int((got == -1).sum())}
        results[variant] = row
        print(args.task, variant, " | ".join(f"{k}: {100 * v['accuracy']:.2f} % (fp {v['imagined falls where it stands']}, fn {v['missed falls']})" for k, v in row.items()), flush=True)
    if args.json:
        from physground.envs.files import atomic_write_text

        atomic_write_text(args.json, json.dumps({"task": args.task, "episodes": len(truth), "models": models, "results": results}, indent=1))


if __name__ == "__main__":
    main()
