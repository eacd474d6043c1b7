"""How much of each task a single cue answers: the cue baselines fit and scored on many episodes
without rendering (the de-confounding check of the yes/no tasks, ``envs.cues``).

Episodes are collected in worker processes (chunks of seeds); every cue agent whose cue the task
shows is then fit on the fit episodes (expert answers, seeds ``fit_seed`` ...) and scored on the
evaluation episodes (seeds ``EVAL_SEED`` ..., the seeds every agent is evaluated on). Yes/no
episodes are scored against the prompt's label; one-step choice tasks by the simulated success of
the chosen option (every option is simulated once per episode, which also gives the exact chance).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

import numpy as np

from physground import envs
from physground.agent.cues import CUE_AGENTS, CuePolicy, agent_cues, fit_cue_policy
from physground.agent.evaluation import EVAL_SEED, normalised, option_successes
from physground.agent.experts import ExpertStep, expert_steps
from physground.agent.policies import oracle_infos
from physground.envs.cues import present


@dataclass
class CueEpisode:
    """An evaluation episode: what the baselines read and, for choice tasks, which options succeed."""

    step: ExpertStep
    successes: list[float] | None = None


def _evaluation_chunk(task: str, task_version: int, first_seed: int, n: int) -> list[CueEpisode]:
    spec = envs.task_spec(task)
    env = spec.env_class(scene=envs.SceneConfig(render_images=False), **spec.settings_at(task_version))
    out = []
    try:
        for seed in range(first_seed, first_seed + n):
            _, info = env.reset(seed=seed)
            step = ExpertStep(np.zeros((1, 1, 3), np.uint8), env.prompt, info["scene"], info["program"], int(info.get("label", -1)), info.get("task_label"))
            out.append(CueEpisode(step, None if spec.is_yes_no else option_successes(env)))
    finally:
        env.close()
    return out


def _fit_chunk(task: str, task_version: int, first_seed: int, n: int) -> list[ExpertStep]:
    return list(expert_steps(task, n, first_seed, render=False, task_version=task_version))


def _chunks(first: int, n: int, parts: int) -> list[tuple[int, int]]:
    sizes = [n // parts + (i < n % parts) for i in range(parts)]
    starts = np.cumsum([0, *sizes[:-1]])
    return [(first + int(s), k) for s, k in zip(starts, sizes) if k]


def collect(task: str, task_version: int, fit_examples: int, eval_episodes: int, workers: int = 1, fit_seed: int = 0,
            eval_seed: int = EVAL_SEED) -> tuple[list[ExpertStep], list[CueEpisode]]:
    """The fit steps and evaluation episodes of ``task`` (one-step tasks), collected by ``workers``
    processes (fit episode seeds from ``fit_seed``; each fit episode of a one-step task is one step).

    Raises:
        ValueError: A multi-step task.
    """
    spec = envs.task_spec(task)
    if not spec.is_one_step:
        raise ValueError(f"cue measurement covers one-step tasks; {task} is multi-step (evaluate its cue agents with physground evaluate)")
    if workers <= 1:
        return _fit_chunk(task, task_version, fit_seed, fit_examples), _evaluation_chunk(task, task_version, eval_seed, eval_episodes)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        fits = [pool.submit(_fit_chunk, task, task_version, s, k) for s, k in _chunks(fit_seed, fit_examples, workers)]
        evals = [pool.submit(_evaluation_chunk, task, task_version, s, k) for s, k in _chunks(eval_seed, eval_episodes, workers)]
        return [x for f in fits for x in f.result()], [x for f in evals for x in f.result()]


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a proportion ``successes / n``."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def score(task: str, fit: list[ExpertStep], episodes: list[CueEpisode], agents: tuple[str, ...] = CUE_AGENTS) -> dict[str, dict[str, Any]]:
    """Fit and score every cue agent of ``agents`` whose cues ``task``'s scenes show.

    Returns:
        Per agent: ``accuracy``, its Wilson ``interval``, ``chance``, ``normalised``
        ((accuracy - chance) / (1 - chance)), ``episodes`` and the fit's ``train_accuracy``.
    """
    yes_no = envs.task_spec(task).is_yes_no
    chance = 0.5 if yes_no else float(np.mean([np.mean(e.successes) for e in episodes]))
    infos = oracle_infos([{"scene": e.step.scene, "program": e.step.program} for e in episodes])
    out = {}
    for agent in agents:
        cues = agent_cues(agent)
        if agent != "cue-all" and not any(present(s.scene, cues) for s in fit):
            continue
        policy = CuePolicy(cues, task)
        fitted = fit_cue_policy(policy, fit)
        actions = policy.act(policy.prepare(None, infos), deterministic=True).actions.tolist()
        wins = [float(a == e.step.action) if yes_no else e.successes[a] for a, e in zip(actions, episodes)]
        accuracy = float(np.mean(wins))
        out[agent] = {"accuracy": accuracy, "interval": wilson_interval(sum(wins), len(wins)), "chance": chance,
                      "normalised": normalised(accuracy, chance), "episodes": len(wins),
                      "train_accuracy": fitted["train_accuracy"]}
    return out


def measure(task: str, task_version: int, fit_examples: int = 2000, eval_episodes: int = 2000, workers: int = 1) -> dict[str, dict[str, Any]]:
    """``score`` on freshly collected episodes (``collect``)."""
    fit, episodes = collect(task, task_version, fit_examples, eval_episodes, workers)
    return score(task, fit, episodes)
