"""Do two revisions of physground give the same labels and rewards on the evaluation seeds?

Question: after the tasks were re-expressed as programs of the query language, are the answers of
the six tasks the ones the hand-written semantics gave, episode for episode?

``dump`` writes, for each task and each seed ``EVAL_SEED .. EVAL_SEED + N - 1``, what the episode
asks and pays, through the public gymnasium API only (so it runs on any revision): the label of a
yes/no task; the reward of every action from the restored reset state for the one-step action
tasks (TowerBuild, Push); for Catch, the reward of every first action and of one seeded random
episode. ``compare`` lists every difference between two dumps.

    MUJOCO_GL=egl python analysis/label-equivalence.py dump OUT.json [--episodes N] [--tasks A,B]
    python analysis/label-equivalence.py compare OLD.json NEW.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

TASKS = ("TowerStability", "BlockRemoval", "RollOff", "TowerBuild", "Push", "Catch")
EVAL_SEED = 50_000_000


def dump_task(task: str, episodes: int) -> list[dict[str, Any]]:
    """One record per evaluation seed of ``task``."""
    import gymnasium as gym

    from physground import envs  # noqa: F401
    from physground.agent.env_state import StateCapture

    env = StateCapture(gym.make(f"physground/{task}-v0", scene={"render_images": False}))
    n = int(env.action_space.n)
    out = []
    for e in range(episodes):
        seed = EVAL_SEED + e
        _, info = env.reset(seed=seed)
        record: dict[str, Any] = {"seed": seed}
        if "label" in info:
            record["label"] = int(info["label"])
        else:
            start = env.get_state()
            rewards = []
            for action in range(n):
                env.set_state(start)
                rewards.append(round(float(env.step(action)[1]), 9))
            record["rewards"] = rewards
            if task == "Catch":
                env.set_state(start)
                rng, total, done = np.random.default_rng([seed, 1]), 0.0, False
                while not done:
                    _, reward, terminated, truncated, _ = env.step(int(rng.integers(n)))
                    total += reward
                    done = terminated or truncated
                record["random_episode_return"] = round(total, 9)
        out.append(record)
    env.close()
    return out


def compare(old: dict[str, Any], new: dict[str, Any]) -> int:
    """Print the differences; return how many episodes differ."""
    differing = 0
    for task in old:
        if task not in new:
            print(f"{task}: missing from the new dump")
            continue
        pairs = list(zip(old[task], new[task]))
        bad = [(a, b) for a, b in pairs if a != b]
        differing += len(bad)
        print(f"{task}: {len(pairs) - len(bad)} of {len(pairs)} episodes identical")
        for a, b in bad[:10]:
            print(f"  seed {a['seed']}: old {a} new {b}")
    return differing


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out")
    d.add_argument("--episodes", type=int, default=1000)
    d.add_argument("--tasks", default=",".join(TASKS))
    c = sub.add_parser("compare")
    c.add_argument("old")
    c.add_argument("new")
    args = parser.parse_args(argv)
    if args.command == "dump":
        result = {task: dump_task(task, args.episodes) for task in args.tasks.split(",")}
        Path(args.out).write_text(json.dumps(result))
        return 0
    return 1 if compare(json.loads(Path(args.old).read_text()), json.loads(Path(args.new).read_text())) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
