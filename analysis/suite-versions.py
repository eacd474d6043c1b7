"""How do the agents' yes/no scores move when the tasks' cue shortcuts are removed (task suite v0 -> v1)?

Task suite v1 re-samples the three yes/no tasks so that their answers are balanced within every
stratum of their cues (block count, top-block offset, surface): a shortcut that scored 66 % on v0
scores 50 % there. This compares each agent's accuracy on the yes/no tasks in two ablations, one per
suite (by default `results/full`, v0, and `results/deconfounded`, v1), on the canonical wording:

- within: trained and tested on the same yes/no task; cross: trained on one yes/no task, tested on
  another; the untrained `vlm-zero-shot` has one row over the three tasks ("untrained");
- per task: within-task accuracy on each yes/no task.

The two suites share no evaluation episodes (their scenes differ), so the difference v1 - v0 is
bootstrapped independently on each side (seeds, and the episodes each side's cells share;
``experiments.stats.independent_difference_ci``), not paired. Agents missing from either folder are
listed as such.

    python analysis/suite-versions.py [--v0 results/full] [--v1 results/deconfounded] [--out docs/measurements/suite-versions.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from measurement_file import write_measurement

from physground import envs
from physground.experiments.report import load_cells, view
from physground.experiments.stats import bootstrap_replicates, independent_difference_ci

YES_NO = [n for n in envs.BASE_TASKS if envs.TASKS[n].is_yes_no]
REPLICATES = 2000


def outcomes_of(cells: list[dict], agent: str) -> dict[tuple[str, str], dict[int, list[float]]]:
    """(train task, test task) -> seed -> per-episode successes of ``agent`` on the yes/no tasks."""
    table: dict[tuple[str, str], dict[int, list[float]]] = {}
    for c in view([c for c in cells if c["agent"] == agent], YES_NO):
        for test, r in c["results"].items():
            table.setdefault((c["train_task"], test), {})[c["seed"]] = r["successes"]
    return table


def scope_keys(table: dict[tuple[str, str], dict], scope: str) -> list[tuple[str, str]]:
    """The (train, test) pairs of a scope: ``within``, ``cross``, ``untrained`` or a task's name (its within cell)."""
    if scope == "untrained":
        return [k for k in table if k[0] == "none"]
    if scope == "within":
        return [k for k in table if k[0] == k[1]]
    if scope == "cross":
        return [k for k in table if k[0] != k[1] and k[0] in YES_NO]
    return [k for k in table if k == (scope, scope)]


def replicates(table: dict[tuple[str, str], dict], keys: list[tuple[str, str]], seed: int) -> tuple[float, np.ndarray]:
    """Mean accuracy over ``keys`` and its bootstrap replicates (cells of a test task share its episodes)."""
    cells = {k: table[k] for k in keys}
    seeds = sorted({s for per in cells.values() for s in per})
    return bootstrap_replicates(seeds, cells, lambda m: float(np.nanmean([m[k] for k in keys])), n=REPLICATES, seed=seed,
                                episodes_shared_by=lambda k: k[1])


def compare(v0: list[dict], v1: list[dict], agent: str, scope: str) -> str:
    """One table row's cells for ``agent`` in ``scope``: v0, v1, and v1 - v0 with intervals (or dashes)."""
    sides = []
    for seed, cells in enumerate((v0, v1)):
        table = outcomes_of(cells, agent)
        keys = scope_keys(table, scope)
        sides.append(replicates(table, keys, seed) if keys else None)
    if None in sides:
        return " — | — | — "
    (p0, r0), (p1, r1) = sides
    pct = lambda v: f"{v * 100:.0f}"  # noqa: E731
    ci = lambda p, r: f"{pct(p)} [{pct(np.nanquantile(r, 0.025))}, {pct(np.nanquantile(r, 0.975))}]"  # noqa: E731
    d, low, high = independent_difference_ci(sides[1], sides[0])
    return f" {ci(p0, r0)} | {ci(p1, r1)} | {d * 100:+.1f} [{low * 100:+.1f}, {high * 100:+.1f}] "


def tables(v0: list[dict], v1: list[dict]) -> list[str]:
    """Markdown lines: the summary table (within / cross) and the per-task within table."""
    agents = list(dict.fromkeys(c["agent"] for c in v0 + v1))
    missing = {a: [n for n, cells in (("v0", v0), ("v1", v1)) if not any(c["agent"] == a for c in cells)] for a in agents}
    lines = ["| agent | scope | v0 | v1 | v1 - v0 (points, 95 % interval) |", "|---|---|---:|---:|---:|"]
    for agent in agents:
        if missing[agent]:
            lines.append(f"| {agent} | — | — | — | (no {' or '.join(missing[agent])} cells) |")
            continue
        for scope in (("untrained",) if agent == "vlm-zero-shot" else ("within", "cross")):
            lines.append(f"| {agent} | {scope} |{compare(v0, v1, agent, scope)}|")
            print(lines[-1], flush=True)
    lines += ["", "Within-task accuracy per yes/no task:", "", "| agent | task | v0 | v1 | v1 - v0 |", "|---|---|---:|---:|---:|"]
    for agent in agents:
        if missing[agent] or agent == "vlm-zero-shot":
            continue
        for task in YES_NO:
            lines.append(f"| {agent} | {task} |{compare(v0, v1, agent, task)}|")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--v0", default="results/full", help="ablation folder of task suite v0")
    parser.add_argument("--v1", default="results/deconfounded", help="ablation folder of task suite v1")
    parser.add_argument("--out", default=None, help="markdown file to write")
    args = parser.parse_args()
    versions = {}
    for name, folder in (("v0", args.v0), ("v1", args.v1)):
        preset = json.loads((Path(folder) / "preset.json").read_text())
        versions[name] = preset.get("task_version", 0)
    if versions != {"v0": 0, "v1": 1}:
        raise SystemExit(f"--v0 and --v1 must be ablations of task suites 0 and 1, got {versions['v0']} and {versions['v1']}")
    lines = tables(load_cells(args.v0), load_cells(args.v1))
    if args.out:
        write_measurement(args.out, "Task suite v0 -> v1 on the yes/no tasks", f"python analysis/suite-versions.py --v0 {args.v0} --v1 {args.v1} --out {args.out}",
                          "canonical wording; intervals: independent bootstraps of the two suites (no shared episodes)", lines)


if __name__ == "__main__":
    main()
