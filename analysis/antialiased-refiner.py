"""Would anti-aliased observations let the learned grounder see finer? physground rendered
without multisampling until 2026-11-27 (``SceneConfig.multisamples`` 0): scenes whose blocks differ by a millimetre can render
pixel-identically (`render-and-compare-grounding.py`). This script trains the position refiner
with the shipped recipe on renders with N-fold multisampling, and grounds the selection episodes
of the yes/no tasks with it, under the same rendering.

The multisampling is set by the environment variable ``PHYSGROUND_OFFSAMPLES`` and passed on as
``SceneConfig.multisamples`` (the refiner's settings, the env of the cached episodes); unset or 0
renders aliased, as physground did before 2026-11-27 (its default is 4 since).

    PHYSGROUND_OFFSAMPLES=4 MUJOCO_GL=egl python analysis/antialiased-refiner.py train OUT [--workers W] [--scenes N] [--steps S] [--eval-per-task E]
    PHYSGROUND_OFFSAMPLES=4 MUJOCO_GL=egl python analysis/antialiased-refiner.py cache TASK EPISODES GROUNDER OUT.json

`cache` writes `imagination-variants.py`'s cache format; score it with
`imagination-variants.py eval TASK OUT.json shipped`. The device recipe running both arms:
`antialiased-refiner-gpu.sh`.

Measured 2026-11-27 on one H100 host (its renders; raw `antialiased-refiner-gpu.json`): block x error
0.0093 block sizes aliased, 0.0043 with 4x multisampling; the shipped GNN from the grounded scenes
of the first 700 selection episodes per yes/no task 95.19 % and 96.29 % on the mean (exact scenes
96.86 %). On the 2-core CPU (Mesa) with --scenes 8000 --steps 2500 (raw `antialiased-refiner-cpu.json`):
0.0125 and 0.0073; 94.81 % and 95.90 % on the same 700 episodes per task (the shipped refiner 95.38 %).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

OFFSAMPLES = int(os.environ.get("PHYSGROUND_OFFSAMPLES", "0"))  # 0 too: physground's default is 4 since 2026-11-27


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("out")
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--scenes", type=int, default=16000, help="training scenes (the shipped recipe: 16000)")
    t.add_argument("--steps", type=int, default=12000, help="optimiser steps (the shipped recipe: 12000)")
    t.add_argument("--eval-per-task", type=int, default=500)
    c = sub.add_parser("cache")
    c.add_argument("task")
    c.add_argument("episodes", type=int)
    c.add_argument("grounder")
    c.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "train":
        from physground.perception.refiner_training import RefinerSettings, train_refiner

        summary = train_refiner(RefinerSettings(
            out=args.out, workers=args.workers, n_scenes=args.scenes, steps=args.steps, eval_per_task=args.eval_per_task, multisamples=OFFSAMPLES,
        ))
        print(json.dumps({"offsamples": OFFSAMPLES, "block_x_error": summary["block_x_error"], "seconds": summary["seconds"]}, indent=1))
        return
    spec = importlib.util.spec_from_file_location("variants", Path(__file__).with_name("imagination-variants.py"))
    variants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(variants)
    variants.cache(args.task, args.episodes, args.out, args.grounder, multisamples=OFFSAMPLES)


if __name__ == "__main__":
    main()
