"""Are the yes/no tasks balanced on every phrasing split, flipped prompts included?

Question: with prompts drawn from the train, held-out and paraphrase templates (about a third
flipped, their answer inverted), is "yes" still the right answer 40-60 % of the time on every
yes/no task, and how often is the prompt flipped?

    MUJOCO_GL=egl python analysis/phrasing-balance.py [--episodes N] [--seed S]

Prints a markdown table: per task and split, the fraction of "yes" labels, of "yes" answers to the
task's own (unflipped) question, and of flipped prompts, over seeds S .. S + N - 1.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--seed", type=int, default=3000)
    args = parser.parse_args(argv)

    import gymnasium as gym

    from physground import envs

    print("| task | split | yes (prompt) | yes (task's own question) | flipped prompts |\n|---|---|---:|---:|---:|")
    for task, spec in envs.TASKS.items():
        if not spec.is_yes_no:
            continue
        for split in ("train", "heldout", "paraphrase"):
            env = gym.make(spec.env_id, scene={"render_images": False}, phrasing=split)
            labels, own, flipped = [], [], []
            for e in range(args.episodes):
                _, info = env.reset(seed=args.seed + e)
                labels.append(info["label"] == 0)
                own.append(info["task_label"] == 0)
                flipped.append(info["label"] != info["task_label"])
            env.close()
            print(f"| {task} | {split} | {np.mean(labels) * 100:.1f} % | {np.mean(own) * 100:.1f} % | {np.mean(flipped) * 100:.1f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
