"""How much of each task does one simulator-given cue answer, before (v0) and after (v1) the yes/no
tasks balance their answers within the strata of their cues?

For every one-step task and task version: each cue baseline (``agent.cues``: a logistic regression
on one cue, or on all of them) is fit on FIT expert answers (episode seeds 0 ...) and scored on EVAL
evaluation episodes (seeds 50,000,000 ..., the episodes every agent is evaluated on); the 95 %
Wilson interval, the chance level and the chance-normalised score come with it. Episodes are
collected by WORKERS processes (one thread each). Writes one Markdown table (OUT) and prints JSON.

    MUJOCO_GL=egl python analysis/cue-baselines.py [--tasks yes-no|one-step|A,B] [--versions 0,1] [--fit 2000] [--eval 2000]
        [--choice-eval 500] [--workers N] [--out docs/measurements/cue-baselines.md]

The tasks without a v1 (the choice tasks) are measured at v0 only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from physground import envs
from physground.agent.cue_measurement import collect, score
from physground.agent.cues import CUE_AGENTS


def _tasks(value: str) -> list[str]:
    if value == "yes-no":
        return [n for n, s in envs.TASKS.items() if s.is_yes_no]
    if value == "one-step":
        return [n for n, s in envs.TASKS.items() if s.is_one_step]
    return [envs.task_spec(t).name for t in value.split(",")]


def _cell(r: dict | None) -> str:
    if r is None:
        return "—"
    low, high = r["interval"]
    return f"{r['accuracy'] * 100:.1f} [{low * 100:.0f}, {high * 100:.0f}]"


def _write(args: argparse.Namespace, results: dict, seconds: float) -> None:
    lines = [
        "# Cue baselines: what one simulator-given cue answers",
        "",
        f"`MUJOCO_GL=egl python analysis/cue-baselines.py --tasks {args.tasks} --versions {args.versions} --fit {args.fit} --eval {args.eval} "
        f"--choice-eval {args.choice_eval} --workers {args.workers}`",
        f"({platform.machine()}, {os.cpu_count()} cores, {seconds:.0f} s).",
        "",
        "Accuracy / success in % with the 95 % Wilson interval: each cue baseline (`agent/cues.py`: a logistic regression on one cue of the",
        f"ground-truth scene, or on all of them) fit on {args.fit} expert answers and scored on the evaluation episodes (seeds 50,000,000 ..., the",
        f"episodes every agent is evaluated on: {args.eval} per yes/no task, {args.choice_eval} per choice task). v0: yes/no answers balanced overall;",
        "v1: balanced within every stratum of the task's cues (`envs/cues.py`, `YesNoConfig.stratified`). — : the task's scenes do not show the cue.",
        "",
        "| task | version | chance | " + " | ".join(CUE_AGENTS) + " |",
        "|---|---|---:|" + "---:|" * len(CUE_AGENTS),
    ]
    for r in results.values():
        chance = next(iter(r["agents"].values()))["chance"]
        lines.append(f"| {r['task']} | v{r['version']} | {chance * 100:.1f} | " + " | ".join(_cell(r["agents"].get(a)) for a in CUE_AGENTS) + " |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="one-step")
    parser.add_argument("--versions", default="0,1")
    parser.add_argument("--fit", type=int, default=2000, help="expert answers each baseline is fit on")
    parser.add_argument("--eval", type=int, default=2000, help="evaluation episodes per yes/no task")
    parser.add_argument("--choice-eval", type=int, default=500, help="evaluation episodes per choice task (every option is simulated)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default="docs/measurements/cue-baselines.md")
    args = parser.parse_args()
    versions = [int(v) for v in args.versions.split(",")]
    started, results = time.time(), {}
    for task in _tasks(args.tasks):
        spec = envs.task_spec(task)
        for version in sorted({spec.version_at(v) for v in versions}):
            t0 = time.time()
            n_eval = args.eval if spec.is_yes_no else args.choice_eval
            fit, episodes = collect(task, version, args.fit, n_eval, args.workers)
            results[f"{task}-v{version}"] = {"task": task, "version": version, "seconds": round(time.time() - t0, 1), "agents": score(task, fit, episodes)}
            print(json.dumps({f"{task}-v{version}": {a: round(r["accuracy"], 4) for a, r in results[f"{task}-v{version}"]["agents"].items()}}), flush=True)
            _write(args, results, time.time() - started)  # after every task: a run cut short keeps what it measured


if __name__ == "__main__":
    main()
