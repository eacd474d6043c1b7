"""``physground ablate``: agents x training tasks x seeds -> transfer matrices.

Every *cell* (agent, training task, seed) trains its agent on the training task (its own run
directory with TensorBoard logs under ``cells/``) and evaluates it on every test task, zero-shot
on the others. Cells run in parallel worker processes (``--workers``) or as a SLURM job array
(``--launcher slurm``, through ``submitit``). A finished cell leaves ``cell.json``; ``--resume``
skips those. Outputs in the ablation directory:

- ``transfer.csv``: agent, seed, train task, test task, accuracy (success rate), mean reward, episodes;
- ``transfer.md``: per-agent matrices with 95 % bootstrap confidence intervals (seeds, then episodes),
  and a summary: within-task mean, cross-task mean, gap (all tasks, and the yes/no tasks);
- ``summary.json``, ``heatmap.png`` (one matrix per agent), ``curves.png`` (learning curves).

``vlm-zero-shot`` trains on nothing: it has one row (train task "none").
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import yaml

from physground import envs
from physground.envs.files import atomic_write_text, exclusive_lock
from physground.envs.scene import DEFAULT_MULTISAMPLES, LEGACY_MULTISAMPLES, SceneConfig
from physground.envs.typed_config import from_mapping

if TYPE_CHECKING:
    from physground.agent.training import TrainingSpec

CONFIG_DIR = Path(__file__).parent / "configs"
NO_TRAINING = "none"


@dataclass(frozen=True)
class SlurmConfig:
    """What each cell's SLURM array task asks for (``--launcher slurm``, through submitit).

    Attributes:
        cpus_per_task: CPU cores per cell.
        gpus_per_node: GPUs per cell (0 for CPU presets).
        mem_gb: Memory per cell.
        timeout_min: Wall-clock limit per cell.
        partition: SLURM partition (None: the cluster's default).
        array_parallelism: Cells running at once.
    """

    cpus_per_task: int = 2
    gpus_per_node: int = 0
    mem_gb: int = 8
    timeout_min: int = 120
    partition: str | None = None
    array_parallelism: int = 64

    def __post_init__(self) -> None:
        for name in ("cpus_per_task", "mem_gb", "timeout_min", "array_parallelism"):
            if getattr(self, name) < 1:
                raise ValueError(f"slurm.{name} must be at least 1, got {getattr(self, name)!r}")
        if self.gpus_per_node < 0:
            raise ValueError(f"slurm.gpus_per_node must be >= 0, got {self.gpus_per_node!r}")


@dataclass(frozen=True)
class Preset:
    """An ablation grid (the YAML files in ``experiments/configs/``), validated whole on load.

    Attributes:
        name: Preset name.
        agents: Agents compared.
        train_tasks: Tasks agents are trained on.
        test_tasks: Tasks every agent is evaluated on ("all" in YAML for the six tasks).
        test_phrasings: Phrasing splits the test prompts are drawn from (``envs.phrasings.SPLITS``;
            ``canonical`` first: the task's one original wording). Results on another split are
            keyed ``Task@split``.
        composed_tasks: Composed tasks (``envs.composed``; "composed" in YAML for all of them) that
            the agents reading the question (the VLM agents and the task-agnostic hybrids,
            ``agent.factory.reads_the_question``) are also evaluated on, on each one's canonical
            wording (a question they never met is the test); the task-code hybrids are told
            their task's program and have none for a question they were not trained on.
        seeds: Seeds per cell.
        steps: Training steps (answers) per agent.
        eval_episodes: Evaluation episodes per test task.
        num_envs: Parallel envs of PPO agents (``ppo.num_envs``).
        image_size: Observation size.
        multisamples: Anti-aliasing samples per pixel of the observations (``SceneConfig``);
            a run directory whose ``preset.json`` predates the field rendered with 0.
        task_version: The task suite's version (``envs.TASK_VERSION``); a run directory whose
            ``preset.json`` predates the field used 0.
        vlm: VLM checkpoint (None: the shipped tiny VLM).
        vlm_mode: How the VLM agents answer: "score" (their answer words' log-probabilities, the
            default) or "generate" (free text the task parses).
        answer_format: How generating VLM agents are asked to answer and read
            (``envs.answer_formats``): "free" or "tagged" (the paper's protocol).
        accelerator: Where cells train ("cpu", "cuda").
        ppo: PPO hyper-parameters over the agents' defaults (``agent.configs.PPOConfig`` fields).
        grpo: GRPO hyper-parameters (``GRPOConfig`` fields).
        sft: SFT hyper-parameters (``SFTConfig`` fields).
        slurm: What each cell asks of SLURM (``--launcher slurm``).
    """

    name: str
    agents: tuple[str, ...]
    train_tasks: tuple[str, ...]
    test_tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    steps: dict[str, int]
    test_phrasings: tuple[str, ...] = ("canonical",)
    composed_tasks: tuple[str, ...] = ()
    eval_episodes: int = 20
    num_envs: int = 8
    image_size: int = 128
    multisamples: int = DEFAULT_MULTISAMPLES
    task_version: int = envs.TASK_VERSION
    vlm: str | None = None
    vlm_mode: str = "score"
    answer_format: str = "free"
    accelerator: str = "cpu"
    ppo: dict[str, Any] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)
    sft: dict[str, Any] = field(default_factory=dict)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)

    def __post_init__(self) -> None:
        from physground.agent.factory import AGENTS, TRAINER

        for key in ("agents", "train_tasks", "test_tasks", "seeds"):
            if not getattr(self, key):
                raise ValueError(f"{key} must be a non-empty list")
        for agent in self.agents:
            if agent not in AGENTS or agent == "mlp":
                raise ValueError(f"unknown agent {agent!r}; valid: {', '.join(a for a in AGENTS if a != 'mlp')}")
        for task in self.train_tasks + self.test_tasks + self.composed_tasks:
            envs.task_spec(task)
        from physground.envs.phrasings import SPLITS

        if not self.test_phrasings or self.test_phrasings[0] != "canonical":
            raise ValueError(f"test_phrasings must start with 'canonical' (the wording results compare on), got {list(self.test_phrasings)}")
        for split in self.test_phrasings:
            if split not in SPLITS:
                raise ValueError(f"test_phrasings has unknown split {split!r}; valid: {', '.join(SPLITS)}")
        not_composed = [t for t in self.composed_tasks if not envs.task_spec(t).composed]
        if not_composed:
            raise ValueError(f"composed_tasks lists {not_composed[0]!r}, which is not a composed task; valid: {', '.join(envs.COMPOSED_TASKS)}")
        if any(seed < 0 for seed in self.seeds):
            raise ValueError(f"seeds must be >= 0, got {list(self.seeds)}")
        missing = [a for a in self.agents if a != "vlm-zero-shot" and a not in self.steps]
        if missing:
            raise ValueError(f"steps has no entry for agent {missing[0]!r}")
        if self.eval_episodes < 1:
            raise ValueError(f"eval_episodes must be at least 1, got {self.eval_episodes}")
        SceneConfig(image_size=self.image_size, multisamples=self.multisamples)
        envs.check_task_version(self.task_version)

        from physground.envs.answer_formats import answer_format

        if self.vlm_mode not in ("score", "generate"):
            raise ValueError(f"vlm_mode must be score or generate, got {self.vlm_mode!r}")
        answer_format(self.answer_format)  # raises naming an unknown one
        if (self.vlm_mode, self.answer_format) != ("score", "free") and not any(a.startswith("vlm") for a in self.agents):
            raise ValueError(f"vlm_mode {self.vlm_mode!r} / answer_format {self.answer_format!r} are for the VLM agents, and the preset has none")
        for section in ("ppo", "grpo", "sft"):
            if getattr(self, section) and not any(TRAINER[a] == section for a in self.agents):
                raise ValueError(f"{section} settings, but no agent of the preset trains with {section}")
        for cell in cells_of(self):  # every cell's training configuration, resolved as it will run
            training_spec_of(self, cell)

    @classmethod
    def load(cls, name_or_path: str, **overrides: Any) -> Preset:
        """Read ``experiments/configs/{name}.yaml`` (or a YAML path, or an ablation directory's
        ``preset.json``: fields the record predates hold what they meant then,
        ``RECORDED_PRESET_DEFAULTS``) and validate it whole.

        Raises:
            ValueError: Unknown preset; a file that is not a YAML mapping; an unknown field, a
                missing one, a value of the wrong type or range, an unknown agent or task; naming
                the file, the field and the value.
        """
        path = Path(name_or_path) if name_or_path.endswith((".yaml", ".yml", ".json")) else CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
            raise ValueError(f"unknown preset {name_or_path!r}; valid: {', '.join(known)} (or a .yaml or preset.json path)")
        where = f"preset {str(path)!r}"
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ValueError(f"{where} is not valid YAML: {' '.join(str(exc).split())}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where} cannot be read: {exc}") from exc
        if data is None:
            raise ValueError(f"{where} is empty")
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be a mapping of settings, got a YAML {type(data).__name__}")
        if path.suffix == ".json":  # a recorded preset (JSON is YAML)
            data = {**RECORDED_PRESET_DEFAULTS, **data}
        given = {k: v for k, v in overrides.items() if v is not None}
        if isinstance(given.get("slurm"), dict) and isinstance(data.get("slurm", {}), dict):  # flags refine the preset's resources
            given["slurm"] = {**data.get("slurm", {}), **given["slurm"]}
        data = {**data, **given}
        if data.get("test_tasks") == "all":
            data["test_tasks"] = list(envs.BASE_TASKS)
        if data.get("composed_tasks") == "composed":
            data["composed_tasks"] = list(envs.COMPOSED_TASKS)
        return from_mapping(cls, data, where)


def training_spec_of(preset: Preset, cell: Cell) -> TrainingSpec:
    """The training configuration of ``cell`` of ``preset``: the train-agent defaults for
    everything the preset leaves open."""
    from physground.agent.cues import CUE_AGENTS
    from physground.agent.factory import AgentSpec
    from physground.agent.training import training_spec

    train_task = preset.train_tasks[0] if cell.train_task == NO_TRAINING else cell.train_task
    answering = {"vlm_mode": preset.vlm_mode, "answer_format": preset.answer_format} if cell.agent.startswith("vlm") else {}
    agent = AgentSpec(agent=cell.agent, task=train_task, seed=cell.seed, vlm=None if cell.agent in CUE_AGENTS else preset.vlm, image_size=preset.image_size,
                      multisamples=preset.multisamples, task_version=preset.task_version, **answering)
    sections = {"ppo": {"num_envs": preset.num_envs, **preset.ppo}, "grpo": dict(preset.grpo), "sft": dict(preset.sft)}
    return training_spec(agent, steps=preset.steps.get(cell.agent, 0), accelerator=preset.accelerator, overrides={agent.trainer: sections.get(agent.trainer, {})})


@dataclass
class Cell:
    """One (agent, training task, seed) of the grid."""

    agent: str
    train_task: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.agent}__{self.train_task}__{self.seed}"


def cells_of(preset: Preset) -> list[Cell]:
    """The grid, seed by seed (an interrupted ablation holds whole seeds first); zero-shot agents
    once per seed; no cell for a trainer that cannot train on the task (GRPO on multi-step tasks)."""
    from physground.agent.factory import can_train

    out = []
    for seed in preset.seeds:
        for agent in preset.agents:
            tasks = (NO_TRAINING,) if agent == "vlm-zero-shot" else [t for t in preset.train_tasks if can_train(agent, t)]
            out += [Cell(agent, task, seed) for task in tasks]
    return out


class CellInterrupted(RuntimeError):
    """A cell whose training a signal stopped before it finished: checkpointed, never evaluated or
    recorded (``--resume`` continues it)."""


RESET_CACHE = "reset-cache"
"""The ablation folder's cache of training and evaluation resets (``agent.reset_cache``; not a result: safe to delete)."""

CELL_LOCK_WAIT = 120.0
"""Seconds a cell waits for another process still holding it (a cell of a killed ablation that is
checkpointing) before giving up."""


def run_cell(preset: Preset, cell: Cell, out: str) -> dict[str, Any]:
    """Train the cell's agent, evaluate it on every test task, write ``cell.json``. Only one process
    at a time works on a cell (a lock file in its folder).

    Raises:
        CellInterrupted: A signal stopped the training before it finished (nothing recorded).
    """
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("PHYSGROUND_THREADS", "1"))))
    folder = Path(out) / "cells" / cell.name
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / ".lock", f"cell {cell.name}", wait_seconds=CELL_LOCK_WAIT):
        return _run_locked_cell(preset, cell, folder)


def _run_locked_cell(preset: Preset, cell: Cell, folder: Path) -> dict[str, Any]:
    from physground.agent.evaluation import evaluate_run
    from physground.agent.factory import reads_the_question
    from physground.agent.run import RunDir, stop_pending
    from physground.agent.training import train_agent

    started = time.time()
    run = RunDir(folder)
    if stop_pending() is not None:
        raise CellInterrupted(f"{cell.name}: not started (the ablation is stopping)")
    cache = folder.parent.parent / RESET_CACHE  # every cell of a seed trains, and every cell evaluates, on the same episodes: drawn once
    if not (run.has_checkpoint() and run.finished):  # else trained before an interruption, not yet evaluated
        run = train_agent(training_spec_of(preset, cell), folder, resume=run.has_checkpoint(), progress=False, reset_cache=cache)  # an interrupted training continues exactly
    metrics = run.read_metrics()
    if not metrics.get("finished", True):
        raise CellInterrupted(f"{cell.name}: training stopped after update {metrics.get('updates')} of its budget; checkpointed, --resume continues it")
    trained = time.time()
    results = evaluate_run(folder, list(preset.test_tasks), preset.eval_episodes, phrasings=preset.test_phrasings, reset_cache=cache)
    if preset.composed_tasks and reads_the_question(cell.agent):
        results.update(evaluate_run(folder, list(preset.composed_tasks), preset.eval_episodes, reset_cache=cache))  # their own questions, canonical wording
    record = {
        **asdict(cell), "results": results, "history": metrics.get("history", []),
        "seconds": {"train": round(trained - started, 1), "eval": round(time.time() - trained, 1)},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    atomic_write_text(folder / "cell.json", json.dumps(record))
    return record


def _cell_process_init(stop: Any) -> None:
    """Every cell process: its own process group (a terminal's Ctrl-C reaches the ablation only,
    which then sets ``stop``, a shared event), signals that only ask it to stop (``StopOnSignals``:
    the trainer checkpoints and returns unfinished), a watcher that turns ``stop`` into such a
    signal, and SIGTERM when its parent dies (Linux: no orphan cells)."""
    import threading

    from physground.agent.run import StopOnSignals

    os.setpgrp()
    StopOnSignals().install()
    threading.Thread(target=_signal_self_when_set, args=(stop,), daemon=True, name="cell-stop").start()
    _die_with_parent()


def _signal_self_when_set(stop: Any) -> None:
    stop.wait()
    os.kill(os.getpid(), signal.SIGTERM)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its parent exits (no orphan cells)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: cells outlive a killed ablation until they finish
        pass
    if os.getppid() == 1:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _run_cell_job(args: tuple[Preset, Cell, str, str | None]) -> dict[str, Any]:
    preset, cell, out, gpu = args
    if gpu is not None:  # a fresh cell process: CUDA is not initialised yet
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    return run_cell(preset, cell, out)


def gpus_for_cells(count: int, gpus: list[str]) -> list[str | None]:
    """The GPU of each of ``count`` cells: round robin over ``gpus``; None (leave the device
    choice alone) with fewer than two."""
    return [gpus[i % len(gpus)] if len(gpus) > 1 else None for i in range(count)]


def visible_gpus() -> list[str]:
    """The GPUs cells may use: ``CUDA_VISIBLE_DEVICES`` if set, else every device torch sees."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


WORKER_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "2097152"}
"""Set for cell processes unless already set. glibc gives threads their own malloc arenas (up to 8
per core), which hold on to freed memory; and it raises its mmap threshold as large blocks are
freed, after which tensors of several MB come from the heap and stay resident. Two arenas and a
fixed 2 MiB threshold keep a cell's peak memory down without changing results (figures:
docs/experiments.md, "Memory")."""


CELL_PRELOAD = (
    "torch", "mujoco", "transformers", "transformers.models.llava.modeling_llava", "transformers.models.llama.modeling_llama",
    "transformers.models.clip.modeling_clip", "peft", "lightning", "physground.envs", "physground.perception", "physground.dynamics",
    "physground.agent.evaluation", "physground.agent.training", "physground.experiments.cli",
)
"""Modules a cell needs, imported once by the fork server that starts the cell processes instead of
in every cell (seconds each: docs/experiments.md). Nothing in them starts CUDA or a GL context on
import (MuJoCo's EGL display is made with the first renderer); the only threads they start are
numpy's and scipy's idle OpenBLAS pools, which OpenBLAS itself handles across fork()."""


def cell_process_context(accelerator: str = "cpu") -> multiprocessing.context.BaseContext:
    """How cell processes start: forked from a fork server that preloaded ``CELL_PRELOAD`` where the
    platform has one (Linux) and the preset runs on the CPU, else spawned. Either way each cell gets a
    fresh process.

    GPU presets keep spawned cells: whether a forked cell can initialise CUDA after these imports in
    a CUDA build of torch has not been checked on a GPU host yet (``analysis/forkserver-cuda-check.py``
    checks it), and a GPU cell runs for minutes, so its seconds of imports matter little.

    Args:
        accelerator: The preset's accelerator ("cpu" or "cuda").
    """
    if accelerator != "cpu" or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(CELL_PRELOAD))
    return context


@contextlib.contextmanager
def worker_environment() -> Iterator[None]:
    """``WORKER_ENV`` in ``os.environ`` while cell processes start (the fork server, started with the
    first pool, and spawned processes read it at start; forked cells inherit the fork server's)."""
    added = {k: v for k, v in WORKER_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


RECORDED_PRESET_DEFAULTS: dict[str, Any] = {
    "multisamples": LEGACY_MULTISAMPLES, "ppo": {}, "grpo": {}, "sft": {}, "test_phrasings": ["canonical"], "composed_tasks": [], "task_version": 0,
}
"""What a recorded ``preset.json`` meant by the fields it predates: no anti-aliasing, no trainer
overrides, canonical wording only, no composed tasks, task suite v0."""


def is_recorded_preset(recorded: dict[str, Any], preset: Preset) -> bool:
    """Whether a run directory's ``preset.json`` is ``preset``. Fields a record predates hold what
    they meant then: no anti-aliasing (``LEGACY_MULTISAMPLES``), no trainer overrides, and the
    SLURM resources (which do not change results) are not compared; no evaluation on other
    phrasings or on composed tasks."""
    ours = json.loads(json.dumps(asdict(preset)))
    ours.pop("slurm")
    return {**RECORDED_PRESET_DEFAULTS, **{k: v for k, v in recorded.items() if k != "slurm"}} == ours


def run_ablation(preset: Preset, out: str, workers: int = 1, resume: bool = False, launcher: str = "local", progress: bool = True,
                 only_agents: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Run every unfinished cell (of ``only_agents`` if given: a grid can be split across machines),
    then write the reports of all finished cells. Returns the summary.

    A signal (SIGINT / SIGTERM, to the process group or to this process alone) stops it: cells not
    started never start, running cells checkpoint and return, nothing unfinished is recorded, the
    reports cover the finished cells, and ``AblationInterrupted`` says how to continue
    (``--resume`` finishes exactly the unfinished cells). Cell processes end with the ablation.

    Raises:
        ValueError: ``out`` holds another preset's ablation, or an agent of ``only_agents`` is not in the preset.
        RuntimeError: Another ablation is running in ``out``; or cells failed (naming each and why).
        AblationInterrupted: A signal stopped it.
    """
    unknown = sorted(set(only_agents or ()) - set(preset.agents))
    if unknown:
        raise ValueError(f"--agents: {unknown[0]!r} is not an agent of preset {preset.name!r}; valid: {', '.join(preset.agents)}")
    from tqdm import tqdm

    out_path = Path(out)
    manifest = out_path / "preset.json"
    if manifest.exists():
        if not resume:
            raise ValueError(f"{out!r} already holds an ablation; pass --resume to continue it or choose another --out")
        if not is_recorded_preset(json.loads(manifest.read_text()), preset):
            raise ValueError(f"{out!r} holds an ablation of a different preset; use another --out")
    out_path.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_path / ".ablation.lock", f"ablation {out!r}"):  # one ablation per folder at a time
        atomic_write_text(manifest, json.dumps(asdict(preset), indent=2))
        todo = [c for c in cells_of(preset) if not (out_path / "cells" / c.name / "cell.json").exists() and (not only_agents or c.agent in only_agents)]
        started = time.time()
        failed: list[str] = []
        interrupted: list[str] = []
        signum: int | None = None
        from physground.agent.run import StopOnSignals

        if launcher == "local" and min(workers, len(todo)) >= PREFILL_MIN_PARALLEL:
            _prefill_evaluation(preset, todo, out_path, workers, progress)
        if launcher == "slurm":
            _run_on_slurm(preset, todo, out)
        elif workers > 1 and len(todo) > 1:
            # A fresh process per cell: MuJoCo's GL contexts and the allocator keep memory after envs
            # close, so a long-lived worker would grow cell after cell.
            # Cells go round the GPUs in turn when there are several (one CUDA device per cell process).
            gpus = gpus_for_cells(len(todo), visible_gpus() if preset.accelerator == "cuda" else [])
            context = cell_process_context(preset.accelerator)
            stop_event = context.Event()
            with worker_environment(), ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1, initializer=_cell_process_init,
                                                           initargs=(stop_event,)) as pool:
                futures = {pool.submit(_run_cell_job, (preset, c, out, gpu)): c for c, gpu in zip(todo, gpus)}
                with StopOnSignals(on_signal=lambda signum: stop_event.set()) as stop:
                    pending = set(futures)
                    with tqdm(total=len(todo), disable=not progress, unit="cell") as bar:
                        while pending:
                            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                            if stop.signum is not None:  # what has not started never starts; running cells checkpoint and return
                                for future in pending:
                                    future.cancel()
                            for future in done:
                                bar.update(1)
                                _collect(futures[future], future, failed, interrupted)
                    signum = stop.signum
        else:
            with StopOnSignals() as stop:
                for cell in tqdm(todo, disable=not progress, unit="cell"):
                    if stop.signum is not None:
                        interrupted.append(f"{cell.name} (not started)")
                        continue
                    try:
                        run_cell(preset, cell, out)
                    except CellInterrupted as exc:
                        interrupted.append(str(exc))
                    except Exception as exc:  # noqa: BLE001 - one failed cell must not lose the others
                        failed.append(_failure(cell, exc))
                signum = stop.signum
        from physground.experiments.report import record_chance, write_reports

        finished_cells = any((out_path / "cells").glob("*/cell.json"))
        if finished_cells and signum is None:
            record_chance(out_path, preset)  # the chance levels the summaries normalise by, on the same episodes
        summary = write_reports(preset, out, wall_seconds=time.time() - started, cells_run=len(todo) - len(failed) - len(interrupted)) if finished_cells else {}
        if interrupted or (signum is not None and launcher != "slurm"):
            cause = f"stopped by signal {signum}" if signum is not None else "cells were stopped by signals sent to them"
            raise AblationInterrupted(signum, f"{cause}: {len(interrupted)} of {len(todo)} cells unfinished and not recorded (checkpointed where training had started); "
                                      f"{'the reports cover the finished ones; ' if finished_cells else ''}rerun with --resume to finish them"
                                      + (f"; also failed: {'; '.join(failed)}" if failed else ""))
        if failed:
            covered = "the reports cover the finished ones" if finished_cells else "no cell finished, so no reports were written"
            raise RuntimeError(f"{len(failed)} of {len(todo)} cells failed, {covered}; rerun with --resume: " + "; ".join(failed))
        return summary


PREFILL_MIN_PARALLEL = 4
"""Cells running side by side from which the evaluation resets are drawn first: with two, one cell
waits for the other's draws at most (and a pool of draw processes costs its start-up)."""


def _prefill_evaluation(preset: Preset, todo: list[Cell], out: Path, workers: int, progress: bool) -> None:
    """Draw the evaluation episodes of the cells ``todo`` into the reset cache before they start
    (``experiments.evaluation_resets``): cells that start together would otherwise wait on each
    other's draws, seed by seed.

    Raises:
        AblationInterrupted: A signal came meanwhile (no cell had started; drawn entries stay).
    """
    from physground.agent.run import StopOnSignals
    from physground.experiments.evaluation_resets import prefill_evaluation_resets

    started = time.time()
    with worker_environment(), StopOnSignals() as stop:
        try:
            drawn = prefill_evaluation_resets(preset, {c.agent for c in todo}, out / RESET_CACHE, workers, cell_process_context("cpu"),
                                              should_stop=lambda: stop.signum is not None)
        except Exception:
            if stop.signum is None:
                raise
    if stop.signum is not None:
        raise AblationInterrupted(stop.signum, f"stopped by signal {stop.signum} while drawing the evaluation episodes: no cell had started; rerun with --resume")
    if progress and drawn:
        print(f"drew {drawn} evaluation episodes' resets in {time.time() - started:.0f} s on {workers} processes", flush=True)


class AblationInterrupted(RuntimeError):
    """An ablation stopped by SIGINT / SIGTERM: running cells checkpointed, nothing unfinished recorded.

    Attributes:
        signum: The signal (None when the cells were stopped by signals sent to them alone).
    """

    def __init__(self, signum: int | None, message: str) -> None:
        super().__init__(message)
        self.signum = signum


def _collect(cell: Cell, future: Any, failed: list[str], interrupted: list[str]) -> None:
    """File a finished future's cell under failed or interrupted (the other cells go on)."""
    if future.cancelled():
        interrupted.append(f"{cell.name} (not started)")
        return
    exc = future.exception()
    if isinstance(exc, CellInterrupted):
        interrupted.append(str(exc))
    elif exc is not None:
        failed.append(_failure(cell, exc))


def _failure(cell: Cell, exc: BaseException) -> str:
    """How a failed cell is named in the ablation's closing error."""
    return f"{cell.name} ({type(exc).__name__}: {exc})"


def slurm_parameters(preset: Preset) -> dict[str, Any]:
    """The submitit ``AutoExecutor.update_parameters`` of ``preset``'s cells (``preset.slurm``)."""
    s = preset.slurm
    params: dict[str, Any] = {
        "timeout_min": s.timeout_min, "cpus_per_task": s.cpus_per_task, "mem_gb": s.mem_gb, "slurm_array_parallelism": s.array_parallelism,
        "tasks_per_node": 1, "nodes": 1,
    }
    if s.gpus_per_node:
        params["gpus_per_node"] = s.gpus_per_node
    if s.partition is not None:
        params["slurm_partition"] = s.partition
    return params


def _run_on_slurm(preset: Preset, cells: list[Cell], out: str) -> None:
    """One SLURM array task per cell (``submitit``); waits for all of them."""
    try:
        import submitit
    except ImportError as exc:
        raise RuntimeError("--launcher slurm needs submitit: pip install 'physground[slurm]'") from exc
    executor = submitit.AutoExecutor(folder=str(Path(out) / "slurm"))
    executor.update_parameters(**slurm_parameters(preset))
    jobs = executor.map_array(run_cell, [preset] * len(cells), cells, [out] * len(cells))
    for job in jobs:
        job.result()
