"""An ablation's evaluation episodes, drawn up front and in parallel into its reset cache.

Every cell evaluates on the same episodes (seeds from ``EVAL_SEED``), in the same order. Cells
that start together therefore meet each seed at the same moment: one draws it, and the others
wait on its lock (``agent.reset_cache``). The draws of task suite v1 then run one at a time, in
whatever cell is first. On the GPU host this cost an untrained VLM's cell 1,002 s for 2,400
evaluation episodes. :func:`prefill_evaluation_resets` draws every evaluation reset the cells will
ask for first, spread over processes by seed, so the cells replay them from the cache.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterable

EvaluationEnv = tuple[str, str, bool]
"""(task, phrasing split, rendered): one kind of evaluation env a cell builds."""


def evaluation_envs(preset: Any, agents: Iterable[str]) -> list[EvaluationEnv]:
    """The evaluation envs that cells of ``agents`` build, as ``ablation._run_locked_cell`` evaluates:
    every test task on every phrasing split, and the composed tasks on their own wording for the
    agents that read the question. Rendered unless the agent reads no image (the cue baselines).
    Each env kind has its own reset-cache folder."""
    from physground.agent.cues import CUE_AGENTS
    from physground.agent.factory import reads_the_question

    agents = list(agents)
    kinds: list[EvaluationEnv] = []
    for render in sorted({a not in CUE_AGENTS for a in agents}, reverse=True):
        kinds += [(task, phrasing, render) for phrasing in preset.test_phrasings for task in preset.test_tasks]
    if preset.composed_tasks and any(reads_the_question(a) for a in agents):
        kinds += [(task, "canonical", True) for task in preset.composed_tasks]  # the question readers all read images
    return list(dict.fromkeys(kinds))


def _draw(job: tuple[EvaluationEnv, list[int], int, int, int, str]) -> int:
    """Worker: reset one env kind to ``seeds`` through the cache; returns how many were drawn (not replayed)."""
    from physground.agent.factory import env_factory

    (task, phrasing, render), seeds, image_size, multisamples, task_version, cache = job
    env = env_factory(task, image_size, multisamples, phrasing, task_version, render=render, reset_cache=cache)()
    try:
        for seed in seeds:
            env.reset(seed=seed)
        return int(env.misses)
    finally:
        env.close()


def prefill_evaluation_resets(preset: Any, agents: Iterable[str], cache: str | Path, workers: int, context: Any = None,
                              should_stop: Callable[[], bool] = lambda: False) -> int:
    """Draw the evaluation resets of the cells of ``agents`` into ``cache`` on ``workers`` processes
    (``context``: their multiprocessing context, default spawn: forking a process that holds
    MuJoCo's GL context can hang); returns how many were drawn (the rest were there).
    Seeds are split into chunks, several per process, so the slow draws spread. When
    ``should_stop()`` turns true, chunks not started are cancelled (entries are written whole, so
    what was drawn stays usable).

    Raises:
        Whatever a draw raises (a task that cannot draw its scenes), in this process.
    """
    from physground.agent.evaluation import EVAL_SEED

    kinds = evaluation_envs(preset, agents)
    seeds = list(range(EVAL_SEED, EVAL_SEED + preset.eval_episodes))
    size = max(1, math.ceil(len(kinds) * len(seeds) / (4 * max(1, workers))))
    jobs = [(kind, seeds[i : i + size], preset.image_size, preset.multisamples, preset.task_version, str(cache))
            for kind in kinds for i in range(0, len(seeds), size)]
    if workers <= 1:
        return sum(_draw(job) for job in jobs)
    drawn = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=context or multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(_draw, job) for job in jobs}
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            if should_stop():
                for future in pending:
                    future.cancel()
                return drawn
            drawn += sum(f.result() for f in done)
    return drawn
