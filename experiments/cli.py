"""The ``physground`` command.

Every subcommand turns bad input into one line, ``physground: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]


def _cmd_envs(args: argparse.Namespace) -> int:
    from envs import TASKS, SceneConfig

    rows = [("id", "actions", "prompt")]
    for spec in TASKS.values():
        env = spec.env_class(scene=SceneConfig(render_images=False))
        obs, _ = env.reset(seed=0)
        rows.append((spec.env_id, " | ".join(env.action_names), obs["prompt"]))
        env.close()
    print(_table(rows))
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from experiments.rendering import render_episode

    result = render_episode(args.task, args.out, seed=args.seed, action=args.action, image_size=args.size, domain_randomization=args.domain_randomization)
    print(f"first frame: {result.first_frame}\nepisode GIF: {result.gif} ({result.frames} frames)")
    print(f"actions: {', '.join(result.actions)}; return: {result.reward:+.3f}")
    return 0


def _cmd_bench_envs(args: argparse.Namespace) -> int:
    from envs import TASKS
    from envs.benchmark import format_table, machine_description, pin_to_one_core, run_benchmarks
    from envs.files import atomic_write_text

    pinned = pin_to_one_core()
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    started = time.perf_counter()
    results = run_benchmarks(tasks, seconds=args.seconds, image_size=args.size)
    table = format_table(results, {n for n, s in TASKS.items() if s.is_yes_no})
    print(table)
    if args.out:
        command = "physground bench-envs " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        text = (
            "# Task-suite benchmark\n\n"
            "Written by `physground bench-envs` (see `envs/benchmark.py` for what each column measures).\n\n"
            f"- command: `{command.strip()}`\n- machine: {machine_description()}\n- process: {pinned}\n"
            f"- date: {time.strftime('%Y-%m-%d')}; wall time {time.perf_counter() - started:.0f} s\n\n{table}\n"
        )
        atomic_write_text(args.out, text)
        print(f"written: {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The interim main job: list the tasks, render an episode of each, benchmark them briefly."""
    from envs import TASKS
    from envs.benchmark import format_table, pin_to_one_core, run_benchmarks
    from experiments.rendering import render_episode

    _cmd_envs(args)
    print()
    for name in TASKS:
        result = render_episode(name, args.out, seed=args.seed)
        print(f"{name:15s} {result.gif}  actions={','.join(result.actions)} return={result.reward:+.2f}")
    print(f"\nenv benchmark, {args.seconds:g} s per measurement ({pin_to_one_core()}):")
    print(format_table(run_benchmarks(seconds=args.seconds), {n for n, s in TASKS.items() if s.is_yes_no}))
    return 0


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="physground", description="Intuitive physics from interaction: tasks, agents, transfer.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list tasks (id, actions, prompt)")
    p.set_defaults(handler=_cmd_envs)

    p = sub.add_parser("render", help="PNG of the first frame and GIF of an episode")
    p.add_argument("task", help="task name or id, e.g. TowerStability")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/render", help="output folder (default: out/render)")
    p.add_argument("--action", default=None, help="fixed action (name or index); random when omitted")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--domain-randomization", action="store_true", help="randomise light, cloth, camera and shades")
    p.set_defaults(handler=_cmd_render)

    p = sub.add_parser("bench-envs", help="benchmark the tasks on one CPU core")
    p.add_argument("--seconds", type=float, default=5.0, help="wall seconds per measurement (default 5)")
    p.add_argument("--tasks", default=None, help="comma-separated task names (default: all)")
    p.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    p.add_argument("--out", default=None, help="write the table as markdown here (e.g. docs/benchmarks.md)")
    p.set_defaults(handler=_cmd_bench_envs)

    p = sub.add_parser("demo", help="list, render and benchmark every task (the main job until the ablation exists)")
    p.add_argument("--out", default="out/demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=1.0)
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``physground`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"physground: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
