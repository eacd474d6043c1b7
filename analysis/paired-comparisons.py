"""Do the README's comparisons between agents hold with paired intervals over the shared episodes?

Every agent of an ablation is evaluated on the same episodes of each test task, so a difference
between two agents is bootstrapped with one episode draw per test task shared by both agents (and
seeds drawn with replacement): ``experiments.stats.bootstrap_statistic`` over the cells of both.
For each comparison: the mean difference of accuracy (percentage points) over the named
(train task, test task) pairs, with its 95 % interval; the difference is "clear" when the interval
excludes 0.

    python analysis/paired-comparisons.py [--ablation results/full] [--out docs/measurements/paired-comparisons.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from measurement_file import write_measurement

from physground import envs
from physground.experiments.report import load_cells
from physground.experiments.stats import bootstrap_statistic

YES_NO = [n for n in envs.BASE_TASKS if envs.TASKS[n].is_yes_no]  # the grid's test tasks: the composed ones are separate


def pairs(agent: str, cells: list[dict], scope: str) -> list[tuple[str, str]]:
    """The (train, test) pairs of ``agent`` in a scope: within / cross on the yes/no tasks, or the
    zero-shot agent's yes/no tests."""
    if agent == "vlm-zero-shot":
        return [("none", t) for t in YES_NO]
    trains = sorted({c["train_task"] for c in cells if c["agent"] == agent})  # a fixed order: the bootstrap draws follow it
    keep = [(tr, te) for tr in trains for te in YES_NO if tr in YES_NO]
    return [(tr, te) for tr, te in keep if (tr == te) == (scope == "within")]


def difference(cells: list[dict], a: str, scope_a: str, b: str, scope_b: str) -> tuple[float, float, float]:
    """Mean accuracy of ``a`` over its ``scope_a`` pairs minus ``b``'s over ``scope_b``, paired over episodes."""
    table: dict[tuple, dict[int, list[float]]] = {}
    for c in cells:
        if c["agent"] in (a, b):
            for test, r in c["results"].items():
                table.setdefault((c["agent"], c["train_task"], test), {})[c["seed"]] = r["successes"]
    keys_a = [(a, *p) for p in pairs(a, cells, scope_a)]
    keys_b = [(b, *p) for p in pairs(b, cells, scope_b)]
    cells_used = {k: table[k] for k in keys_a + keys_b}
    seeds = sorted({s for v in cells_used.values() for s in v})

    def statistic(m: dict[tuple, float]) -> float:
        return float(np.nanmean([m[k] for k in keys_a]) - np.nanmean([m[k] for k in keys_b]))

    return bootstrap_statistic(seeds, cells_used, statistic, episodes_shared_by=lambda k: k[2])


COMPARISONS = [
    ("vlm-ppo", "cross", "vlm-zero-shot", "cross", "vlm-ppo off its training task vs the untrained VLM (yes/no tasks)"),
    ("vlm-sft", "cross", "vlm-zero-shot", "cross", "vlm-sft off its training task vs the untrained VLM (yes/no tasks)"),
    ("vlm-grpo", "cross", "vlm-zero-shot", "cross", "vlm-grpo off its training task vs the untrained VLM (yes/no tasks)"),
    ("vlm-ppo", "within", "vlm-zero-shot", "cross", "vlm-ppo on its training task vs the untrained VLM (yes/no tasks)"),
    ("vlm-sft", "within", "vlm-zero-shot", "cross", "vlm-sft on its training task vs the untrained VLM (yes/no tasks)"),
    ("hybrid-task-code", "within", "vlm-ppo", "within", "hybrid-task-code vs vlm-ppo, each on its training task (yes/no tasks)"),
    ("hybrid-task-code", "within", "hybrid-task-code-no-dynamics", "within", "hybrid-task-code vs itself without imagination, on the training task (yes/no tasks)"),
    ("hybrid-task-code", "cross", "hybrid-task-slots", "cross", "hybrid-task-code vs its first design (task slots) off the training task (yes/no tasks)"),
    ("hybrid", "within", "vlm-ppo", "within", "hybrid vs vlm-ppo, each on its training task (yes/no tasks)"),
    ("hybrid", "cross", "vlm-ppo", "cross", "hybrid vs vlm-ppo off the training task (yes/no tasks)"),
    ("vlm-ppo", "within", "cue-all", "within", "vlm-ppo vs the all-cue shortcut baseline, each on its training task (yes/no tasks)"),
    ("vlm-sft", "within", "cue-all", "within", "vlm-sft vs the all-cue shortcut baseline, each on its training task (yes/no tasks)"),
    ("vlm-grpo", "within", "cue-all", "within", "vlm-grpo vs the all-cue shortcut baseline, each on its training task (yes/no tasks)"),
    ("hybrid-task-code", "within", "cue-all", "within", "hybrid-task-code vs the all-cue shortcut baseline, each on its training task (yes/no tasks)"),
    ("vlm-ppo", "within", "cue-count", "within", "vlm-ppo vs the block-count shortcut baseline, each on its training task (yes/no tasks)"),
]
"""(agent A, scope, agent B, scope, what): A minus B; a comparison whose agents the ablation lacks is listed as such."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ablation", default="results/full")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cells = load_cells(args.ablation)
    agents = {c["agent"] for c in cells}
    rows = ["| comparison | difference (points) | 95 % paired interval | clear |", "|---|---:|---|---|"]
    for a, sa, b, sb, what in COMPARISONS:
        if a not in agents or b not in agents:
            rows.append(f"| {what} | — | (no {a if a not in agents else b} cells) | — |")
            continue
        point, low, high = difference(cells, a, sa, b, sb)
        clear = "yes" if low > 0 or high < 0 else "no"
        rows.append(f"| {what} | {point * 100:+.1f} | [{low * 100:+.1f}, {high * 100:+.1f}] | {clear} |")
        print(rows[-1], flush=True)
    if args.out:
        preset = json.loads((Path(args.ablation) / "preset.json").read_text())
        write_measurement(args.out, f"Paired comparisons of `{args.ablation}`", f"python analysis/paired-comparisons.py --ablation {args.ablation} --out {args.out}",
                          f"{len(preset['seeds'])} seeds, {preset['eval_episodes']} shared evaluation episodes per test task", rows)


if __name__ == "__main__":
    main()
