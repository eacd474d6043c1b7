"""Reports of an ablation: transfer.csv, transfer.md, summary.json, heatmap.png, curves.png."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import operator
from pathlib import Path
from typing import Any

import numpy as np

from physground import envs
from physground.agent.evaluation import normalised
from physground.envs.files import atomic_write, atomic_write_text
from physground.experiments.stats import bootstrap_ci, bootstrap_statistic

CSV_COLUMNS = ("agent", "seed", "train_task", "test_task", "accuracy", "mean_reward", "episodes", "invalid_answers")


def load_cells(out: str | Path) -> list[dict[str, Any]]:
    """Every finished cell of an ablation directory, in a stable order."""
    cells = [json.loads(p.read_text()) for p in sorted(Path(out, "cells").glob("*/cell.json"))]
    return sorted(cells, key=lambda c: (c["agent"], c["train_task"], c["seed"]))


def transfer_rows(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for c in cells:
        for test, r in c["results"].items():
            rows.append({"agent": c["agent"], "seed": c["seed"], "train_task": c["train_task"], "test_task": test,
                         "accuracy": r["success_rate"], "mean_reward": r["mean_return"], "episodes": r["episodes"],
                         "invalid_answers": r.get("invalid_answers", 0)})
    return rows


def view(cells: list[dict[str, Any]], tasks: list[str] | tuple[str, ...], phrasing: str = "canonical") -> list[dict[str, Any]]:
    """The cells with only the results on ``tasks`` under ``phrasing``, keyed by task name (the
    shape ``summarise`` reads); cells without any such result are left out."""
    from physground.agent.evaluation import result_key

    out = []
    for c in cells:
        results = {t: c["results"][result_key(t, phrasing)] for t in tasks if result_key(t, phrasing) in c["results"]}
        if results:
            out.append({**c, "results": results})
    return out


def _fmt(point: float, low: float, high: float) -> str:
    if math.isnan(point):
        return "—"
    pct = lambda v: round(v * 100)  # noqa: E731 - an int: no "-0" for a tiny negative value
    return f"{pct(point)} [{pct(low)}, {pct(high)}]"


def summarise(preset: Any, cells: list[dict[str, Any]], chance: dict[str, float] | None = None) -> dict[str, Any]:
    """Per agent: matrices with intervals; within-task mean, cross-task mean and gap (with
    intervals) in three scopes: ``all`` (every training and test task), ``yes_no`` (trained and
    tested on the yes/no tasks, which share their answer words) and ``to_yes_no`` (any training
    task, tested on the yes/no tasks: an agent trained on an action task never met the words
    "yes" and "no"). With ``chance`` (each test task's success rate of uniformly random answers on
    the same episodes) each scope also has ``within_normalised``, ``cross_normalised`` and
    ``gap_normalised``: the same means over chance-normalised cell scores (chance taken as known)."""
    yes_no = {n for n, s in envs.TASKS.items() if s.is_yes_no}
    scopes = {"all": lambda tr, te: True, "yes_no": lambda tr, te: tr in yes_no and te in yes_no, "to_yes_no": lambda tr, te: te in yes_no}
    out: dict[str, Any] = {}
    for agent in dict.fromkeys(c["agent"] for c in cells):
        mine = [c for c in cells if c["agent"] == agent]
        seeds = sorted({c["seed"] for c in mine})
        outcomes: dict[tuple[str, str], dict[int, list[float]]] = {}
        for c in mine:
            for test, r in c["results"].items():
                outcomes.setdefault((c["train_task"], test), {})[c["seed"]] = r["successes"]
        # Every seed and every training task met the same evaluation episodes of a test task.
        matrix = {f"{tr} -> {te}": bootstrap_ci([v for _, v in sorted(per.items())], shared_episodes=True) for (tr, te), per in outcomes.items()}
        entry: dict[str, Any] = {"matrix": matrix}
        for scope, allowed in scopes.items():
            keep = {k: v for k, v in outcomes.items() if allowed(*k)}
            within = [k for k in keep if k[0] == k[1]]
            cross = [k for k in keep if k[0] != k[1]]

            def mean_of(keys: list[tuple[str, str]]):  # noqa: ANN202
                return lambda m: float(np.nanmean([m[k] for k in keys])) if keys else float("nan")

            within_f, cross_f = mean_of(within), mean_of(cross)
            # cells of one test task (key[1]) share its evaluation episodes
            boot = functools.partial(bootstrap_statistic, seeds, keep, episodes_shared_by=operator.itemgetter(1))
            none = (float("nan"),) * 3

            entry[scope] = {
                "within": boot(within_f) if within else none,
                "cross": boot(cross_f) if cross else none,
                "gap": boot(lambda m, w=within_f, c=cross_f: w(m) - c(m)) if within and cross else none,
            }
            if chance is not None:
                def norm_mean_of(keys: list[tuple[str, str]]):  # noqa: ANN202
                    return lambda m: float(np.nanmean([normalised(m[k], chance[k[1]]) for k in keys])) if keys else float("nan")

                nw, nc = norm_mean_of(within), norm_mean_of(cross)
                entry[scope].update({
                    "within_normalised": boot(nw) if within else none,
                    "cross_normalised": boot(nc) if cross else none,
                    "gap_normalised": boot(lambda m, w=nw, c=nc: w(m) - c(m)) if within and cross else none,
                })
        out[agent] = entry
    return out


def markdown(preset: Any, summary: dict[str, Any], cells: list[dict[str, Any]], chance: dict[str, float] | None = None,
             phrasings: dict[str, dict[str, Any]] | None = None, composed: dict[str, Any] | None = None) -> str:
    """transfer.md: the summary table (and its chance-normalised twin), the summaries on the other
    phrasing splits and on the composed tasks, then one matrix per agent."""
    cells = view(cells, preset.test_tasks)
    tests = list(preset.test_tasks)
    lines = [
        f"# Transfer: preset `{preset.name}`",
        "",
        "Accuracy / success rate in %, with 95 % bootstrap confidence intervals (seeds, and the test task's evaluation episodes that every seed shares) in brackets;",
        f"{len(preset.seeds)} seeds, {preset.eval_episodes} evaluation episodes per test task (the same episodes for every seed). Hybrid agents use their",
        "task's program (intervention and predicates) as explicit prior knowledge: they are told their task.",
        f"Task suite v{getattr(preset, 'task_version', 0)}: " + ("the yes/no answers are balanced within every stratum of their tasks' cues (`envs/cues.py`)." if getattr(preset, "task_version", 0) >= 1
                                                                  else "the yes/no answers are balanced overall only (cues such as the block count predict them)."),
        "`cue-*` rows: a logistic regression on one simulator-given cue (or all of them), no physics (`agent/cues.py`): what a shortcut scores.",
        "",
        "## Summary",
        "",
        'Yes/no: trained and tested on the yes/no tasks; "any -> yes/no": trained on any task, tested on the yes/no tasks.',
        "",
        "| agent | within-task | cross-task | gap | within (yes/no) | cross (yes/no) | gap (yes/no) | cross (any -> yes/no) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    columns = [("all", "within"), ("all", "cross"), ("all", "gap"), ("yes_no", "within"), ("yes_no", "cross"), ("yes_no", "gap"), ("to_yes_no", "cross")]
    for agent, s in summary.items():
        lines.append(f"| {agent} | " + " | ".join(_fmt(*s[scope][k]) for scope, k in columns) + " |")
    if chance is not None:
        lines += [
            "",
            "Chance-normalised, (accuracy - chance) / (1 - chance) per cell, then averaged: 0 = uniformly random answers, 100 = always right.",
            "Chance on the same evaluation episodes: " + ", ".join(f"{t} {chance[t] * 100:.1f} %" for t in tests if t in chance) + ".",
            "",
            "| agent | within-task | cross-task | gap | within (yes/no) | cross (yes/no) | gap (yes/no) | cross (any -> yes/no) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for agent, s in summary.items():
            lines.append(f"| {agent} | " + " | ".join(_fmt(*s[scope][f"{k}_normalised"]) for scope, k in columns) + " |")
    if phrasings:
        lines += [
            "", "## Phrasings", "",
            "The same test tasks and episodes (same scenes), the prompts drawn from each phrasing split (`envs/phrasings.py`): canonical = the",
            "tasks' one original wording (the tables above), heldout = templates never trained on, paraphrase = synonyms, word order,",
            "politeness, distractor clauses; a quarter to a half of each yes/no split's templates are flipped (\"Will the tower stay standing?\"), their answer inverted.",
            "",
            "| agent | split | within-task | cross-task | within (yes/no) | cross (yes/no) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for agent in summary:
            for split, per_agent in phrasings.items():
                if agent in per_agent:
                    s = per_agent[agent]
                    lines.append(f"| {agent} | {split} | " + " | ".join(_fmt(*s[scope][k]) for scope, k in [("all", "within"), ("all", "cross"), ("yes_no", "within"), ("yes_no", "cross")]) + " |")
    if composed:
        names = list(preset.composed_tasks)
        lines += [
            "", "## Composed tasks", "",
            "Questions that recombine the primitives of the six tasks (`envs/composed.py`), never trained on: the mean over every training",
            "task and seed; the agents that read the question only (the task-code hybrids are given their task's program).",
            "",
            "| agent | " + " | ".join(names) + " | mean | mean, chance-normalised |",
            "|---|" + "---:|" * (len(names) + 2),
        ]
        for agent, s in composed.items():
            per_task = []
            for t in names:
                points = [v for k, v in s["matrix"].items() if k.endswith(f" -> {t}")]
                per_task.append(f"{round(float(np.mean([p[0] for p in points])) * 100)}" if points else "—")
            norm = _fmt(*s["all"]["cross_normalised"]) if "cross_normalised" in s["all"] else "—"
            lines.append(f"| {agent} | " + " | ".join(per_task) + f" | {_fmt(*s['all']['cross'])} | {norm} |")
        if chance is not None:
            lines += ["", "Chance: " + ", ".join(f"{t} {chance[t] * 100:.1f} %" for t in names if t in chance) + "."]
    if getattr(preset, "vlm_mode", "score") == "generate":
        lines += invalid_answer_lines(preset, cells)
    for agent, s in summary.items():
        lines += ["", f"## {agent}", "", "| train \\ test | " + " | ".join(tests) + " |", "|---|" + "---:|" * len(tests)]
        trains = list(dict.fromkeys(c["train_task"] for c in cells if c["agent"] == agent))
        for tr in trains:
            lines.append(f"| {tr} | " + " | ".join(_fmt(*s["matrix"].get(f"{tr} -> {te}", (float("nan"),) * 3)) for te in tests) + " |")
    return "\n".join(lines) + "\n"


def invalid_answer_lines(preset: Any, cells: list[dict[str, Any]]) -> list[str]:
    """The "Invalid answers" section of transfer.md (generate mode): per VLM agent and test task,
    the share of evaluation answers that did not follow the answer format or named no answer
    word, over every training task and seed (canonical prompts)."""
    tests = list(preset.test_tasks)
    lines = [
        "", "## Invalid answers", "",
        f"The VLM agents generate free text (answer format `{getattr(preset, 'answer_format', 'free')}`, `envs/answer_formats.py`); an answer that does",
        "not follow the format or names no answer word is invalid: it scores as wrong and earns the task's invalid-answer reward.",
        "% of evaluation answers, over every training task and seed.",
        "",
        "| agent | " + " | ".join(tests) + " | all |",
        "|---|" + "---:|" * (len(tests) + 1),
    ]
    for agent in dict.fromkeys(c["agent"] for c in cells if c["agent"].startswith("vlm")):
        counts = {t: [0, 0] for t in tests}
        for c in cells:
            if c["agent"] == agent:
                for t, r in c["results"].items():
                    counts[t][0] += r.get("invalid_answers", 0)
                    counts[t][1] += r["episodes"]
        share = lambda bad, n: f"{100 * bad / n:.1f}" if n else "—"  # noqa: E731
        total = [sum(v[0] for v in counts.values()), sum(v[1] for v in counts.values())]
        lines.append(f"| {agent} | " + " | ".join(share(*counts[t]) for t in tests) + f" | {share(*total)} |")
    return lines


def heatmap(preset: Any, cells: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agents = list(dict.fromkeys(c["agent"] for c in cells))
    tests = list(preset.test_tasks)
    cols = min(4, len(agents))  # at most four panels per row, so eight agents stay readable
    rows = -(-len(agents) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols + 1, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(agents):]:
        ax.axis("off")
    for ax, agent in zip(axes.flat, agents):
        trains = list(dict.fromkeys(c["train_task"] for c in cells if c["agent"] == agent))
        grid = np.full((len(trains), len(tests)), np.nan)
        for i, tr in enumerate(trains):
            for j, te in enumerate(tests):
                vals = [c["results"][te]["success_rate"] for c in cells if c["agent"] == agent and c["train_task"] == tr and te in c["results"]]
                if vals:
                    grid[i, j] = float(np.nanmean(vals))
        ax.imshow(grid, vmin=0, vmax=1, cmap="viridis")
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(j, i, f"{v * 100:.0f}", ha="center", va="center", color="white" if v < 0.6 else "black", fontsize=8)
        ax.set_title(agent, fontsize=9)
        ax.set_xticks(range(len(tests)), [t[:8] for t in tests], rotation=60, fontsize=7)
        ax.set_yticks(range(len(trains)), [t[:10] for t in trains], fontsize=7)
    fig.suptitle("accuracy / success (%), rows: trained on, columns: tested on", fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def curves(cells: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trained = [c for c in cells if c.get("history")]
    tasks = list(dict.fromkeys(c["train_task"] for c in trained)) or ["none"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for agent in dict.fromkeys(c["agent"] for c in trained if c["train_task"] == task):
            for c in (c for c in trained if c["agent"] == agent and c["train_task"] == task):
                key = next((k for k in ("success_rate", "charts/val_accuracy", "reward") if k in c["history"][-1]), None)
                if key is None:
                    continue
                xs = [h.get("global_step", h.get("update", h.get("epoch", i))) for i, h in enumerate(c["history"])]
                ax.plot(xs, [h.get(key, np.nan) for h in c["history"]], marker="o", markersize=3, label=f"{agent} s{c['seed']}", alpha=0.8)
        ax.set_title(f"trained on {task}", fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xlabel("steps (PPO) / updates (GRPO) / epochs (SFT)", fontsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


CHANCE_FILE = "chance.json"
"""Each test task's chance level on the ablation's evaluation episodes (``agent.evaluation.chance_level``)."""


def read_chance(out: str | Path, preset: Any) -> dict[str, float] | None:
    """The chance levels recorded in ``out`` for ``preset``'s test tasks and episodes (None: none yet)."""
    path = Path(out) / CHANCE_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    tasks = list(preset.test_tasks) + list(getattr(preset, "composed_tasks", ()))
    same_episodes = record.get("episodes") == preset.eval_episodes and record.get("task_version", 0) == getattr(preset, "task_version", 0)
    if not same_episodes or not set(tasks) <= set(record.get("tasks", {})):
        return None
    return {t: float(record["tasks"][t]) for t in tasks}


def record_chance(out: str | Path, preset: Any) -> dict[str, float]:
    """Measure (once) and record each test task's chance level on the preset's evaluation episodes."""
    from physground.agent.evaluation import EVAL_SEED, chance_level

    known = read_chance(out, preset)
    if known is not None:
        return known
    tasks = {t: chance_level(t, preset.eval_episodes, task_version=preset.task_version)["chance"] for t in list(preset.test_tasks) + list(preset.composed_tasks)}
    record = {"episodes": preset.eval_episodes, "seed": EVAL_SEED, "task_version": preset.task_version, "tasks": tasks}
    atomic_write_text(Path(out) / CHANCE_FILE, json.dumps(record, indent=1))
    return tasks


def write_reports(preset: Any, out: str | Path, wall_seconds: float | None = None, cells_run: int | None = None) -> dict[str, Any]:
    """Write every report from the finished cells (with chance-normalised summaries where
    ``chance.json`` holds the preset's chance levels); returns the summary."""
    out = Path(out)
    cells = load_cells(out)
    if not cells:
        raise ValueError(f"no finished cells in {str(out)!r}")
    rows = transfer_rows(cells)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "transfer.csv", buffer.getvalue())
    chance = read_chance(out, preset)
    summary = summarise(preset, view(cells, preset.test_tasks), chance)
    phrasings = {split: summary if split == "canonical" else summarise(preset, view(cells, preset.test_tasks, split), chance) for split in preset.test_phrasings}
    composed_cells = view(cells, preset.composed_tasks)
    composed = summarise(preset, composed_cells, chance) if composed_cells else None
    atomic_write_text(out / "transfer.md", markdown(preset, summary, cells, chance, phrasings if len(phrasings) > 1 else None, composed))
    payload = {
        "preset": preset.name, "cells": len(cells), "agents": summary, "chance": chance, "phrasings": phrasings, "composed": composed,
        "this_invocation": {"wall_seconds": wall_seconds, "cells_computed": cells_run},
        "peak_rss_mb_of_a_cell_process": max(c.get("peak_rss_mb", 0) for c in cells),
        "cell_seconds": {c["agent"] + "__" + c["train_task"] + "__" + str(c["seed"]): c["seconds"] for c in cells},
    }
    atomic_write_text(out / "summary.json", json.dumps(payload, indent=1))
    heatmap(preset, cells, out / "heatmap.png")
    curves(cells, out / "curves.png")
    return payload
