"""Evaluate a trained agent on any task (zero-shot on tasks it was not trained on)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physground import envs
from physground.agent.executor import APPLY_ERRORS
from physground.agent.factory import AgentSpec, build_policy, env_factory, load_agent
from physground.agent.policies import Policy, oracle_infos
from physground.agent.ppo import _stack_observations
from physground.envs.scene import DEFAULT_MULTISAMPLES

EVAL_SEED = 50_000_000
"""Evaluation episodes use seeds from here: never seen in training (which uses small seeds)."""


def reset_batches(env: Any, seed: int, episodes: int, batch: int = 8) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """Reset ``env`` to the seeds ``seed`` .. ``seed + episodes - 1`` in order, ``batch`` at a time.

    Yields:
        (observations stacked as a vector env would, the resets' infos in seed order).

    Raises:
        ValueError: ``batch`` below 1.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    for first in range(0, episodes, batch):
        resets = [env.reset(seed=seed + i) for i in range(first, min(first + batch, episodes))]
        yield _stack_observations([o for o, _ in resets]), [info for _, info in resets]


@torch.no_grad()
def evaluate_policy(
    policy: Policy, task: str, episodes: int, image_size: int = 128, seed: int = EVAL_SEED, batch: int = 8, multisamples: int = DEFAULT_MULTISAMPLES,
    phrasing: str = "canonical", task_version: int = envs.TASK_VERSION, reset_cache: str | Path | None = None,
) -> dict[str, float]:
    """Greedy actions over ``episodes`` episodes: mean return, success rate (accuracy for yes/no
    tasks), invalid answers, and per episode (in seed order, so that runs evaluated on the same
    seeds can be paired) returns and successes. ``phrasing`` is the split the prompts are drawn
    from (``envs.phrasings.SPLITS``; the scenes do not depend on it); ``task_version`` the task
    suite's version. Policies that read no image get unrendered observations. With ``reset_cache``
    (a folder) the episodes' resets are replayed from it when another evaluation drew them before
    (:class:`~physground.agent.reset_cache.CachedResets`: the same episodes, bit for bit)."""
    policy.eval()
    make = env_factory(task, image_size, multisamples, phrasing, task_version, render=policy.reads_images, reset_cache=reset_cache)
    env_list = [make() for _ in range(min(batch, episodes))]
    returns, successes, invalid = [], [], 0
    next_seed = seed
    while len(returns) < episodes:
        active = env_list[: min(len(env_list), episodes - len(returns))]
        obs_infos = [e.reset(seed=next_seed + i) for i, e in enumerate(active)]
        next_seed += len(active)
        obs = [o for o, _ in obs_infos]
        infos = [i for _, i in obs_infos]
        totals = np.zeros(len(active))
        done = np.zeros(len(active), bool)
        batch_successes: list[float | None] = [None] * len(active)  # episode order, not termination order
        while not done.all():
            live = np.flatnonzero(~done)
            inputs = policy.prepare(_stack_observations([obs[i] for i in live]), oracle_infos([infos[i] for i in live]))
            out = policy.act(inputs, deterministic=True)
            for k, i in enumerate(live):
                action = out.env_actions[k] if out.env_actions is not None else int(out.actions[k])
                obs[i], reward, terminated, truncated, infos[i] = active[i].step(action)
                totals[i] += reward
                invalid += int(bool(infos[i].get("invalid_answer", False)))
                if terminated or truncated:
                    done[i] = True
                    if "is_success" in infos[i]:
                        batch_successes[i] = float(infos[i]["is_success"])
        returns.extend(totals.tolist())
        successes.extend(v for v in batch_successes if v is not None)
    for e in env_list:
        e.close()
    return {
        "episodes": len(returns), "mean_return": float(np.mean(returns)), "success_rate": float(np.mean(successes)) if successes else float("nan"),
        "invalid_answers": invalid, "successes": successes, "returns": [float(r) for r in returns],
    }


@torch.no_grad()
def imagination_ceiling(
    task: str, episodes: int, image_size: int = 128, seed: int = EVAL_SEED, batch: int = 8, dynamics: str | None = None,
    grounder: str | None = None, multisamples: int = DEFAULT_MULTISAMPLES,
) -> dict[str, float | None]:
    """What a hybrid agent can reach on a yes/no task: accuracy of the answer read straight from
    its imagination (the asked event of the imagined rollout, no decision network), from the
    learned grounder's scenes and from the simulator's, on the episodes ``evaluate_policy`` uses
    (or, with another ``seed``, on other episodes: a selection range for choosing a dynamics
    model); for "will it fall" questions also the symbolic stability check on the same scenes
    (None otherwise). A scene the task's semantics cannot be applied to counts as answered wrong.
    ``dynamics`` is a dynamics model folder (default: the shipped GNN), ``grounder`` a learned
    grounder folder (default: the shipped one).

    Raises:
        ValueError: ``task`` has no yes/no question.
    """
    from physground.envs.base import YesNoTaskEnv
    from physground.perception.scene_graph import SceneGraph, settle, symbolic_stability

    grounders = {"learned grounder": "hybrid-task-code", "simulator scenes": "hybrid-task-code-oracle"}
    specs = {  # checks the task name
        name: AgentSpec(
            agent=agent, task=task, image_size=image_size, multisamples=multisamples, dynamics=dynamics, grounder=grounder if agent == "hybrid-task-code" else None,
        )
        for name, agent in grounders.items()
    }
    env = env_factory(task, image_size, multisamples)()
    if not isinstance(env.unwrapped, YesNoTaskEnv):
        env.close()
        raise ValueError(f"imagination ceiling needs a yes/no task, got {task!r}")
    policies = {name: build_policy(spec) for name, spec in specs.items()}
    semantics = policies["learned grounder"].semantics
    falls_question = semantics.task_program()["ask"]["op"] == "fell"
    hits: dict[str, list[bool]] = {f"{kind}, {name}": [] for kind in ("imagination", "symbolic check") for name in grounders}
    for obs, reset_infos in reset_batches(env, seed, episodes, batch):
        infos = {"scene": [info["scene"] for info in reset_infos]}
        truth = [info["label"] == env.unwrapped.YES for info in reset_infos]
        for name, policy in policies.items():
            scenes = policy.grounded_scenes(obs, infos)
            asked = policy.imagined_events(scenes)[:, 0, policy.event_features.index("asked")] > 0.5
            hits[f"imagination, {name}"] += [bool(a) == t for a, t in zip(asked, truth)]
            for scene, t in zip(scenes, truth):
                if not falls_question:
                    break
                try:
                    start = semantics.counterfactual(scene, 0)
                    falls = not symbolic_stability(settle(SceneGraph.from_scene(start)))["stable"]
                except APPLY_ERRORS:  # imperfect grounding
                    falls = not t
                hits[f"symbolic check, {name}"].append(falls == t)
    env.close()
    return {key: (float(np.mean(v)) if v else None) for key, v in hits.items()}


def normalised(accuracy: float, chance: float) -> float:
    """The chance-normalised score ``(accuracy - chance) / (1 - chance)``: 0 at chance, 1 perfect."""
    return (accuracy - chance) / (1.0 - chance) if chance < 1.0 else float("nan")


def option_successes(env: Any) -> list[float]:
    """Whether each action of a one-step episode succeeds (1.0) or not, each tried from the env's
    current state (``get_state`` / ``set_state``: a physground env or ``StateCapture``); the env is
    left after the last action's step."""
    start = env.get_state()
    wins = []
    for action in range(int(env.action_space.n)):
        env.set_state(start)
        wins.append(float(env.step(action)[4].get("is_success", False)))
    return wins


def chance_level(task: str, episodes: int, seed: int = EVAL_SEED, rollouts: int = 16, task_version: int = envs.TASK_VERSION) -> dict[str, Any]:
    """The success rate of uniformly random answers on the evaluation episodes ``evaluate_policy``
    uses (seeds ``seed`` .. ``seed + episodes - 1``, suite version ``task_version``): the level that chance-normalised scores
    ``(accuracy - chance) / (1 - chance)`` subtract.

    One-step tasks are scored exactly: every action is tried from the same restored scene and the
    episode's chance is the fraction that succeed. Multi-step tasks (Catch) are estimated from
    ``rollouts`` random episodes from the same start, their actions drawn from a generator seeded
    by ``(seed, episode)``.

    Returns:
        ``{"chance": mean, "per_episode": [...], "episodes": n, "seed": seed, "exact": bool}``.

    Raises:
        ValueError: Not a physground task, or ``episodes`` / ``rollouts`` below 1.
    """
    import gymnasium as gym

    from physground.agent.env_state import StateCapture

    if episodes < 1 or rollouts < 1:
        raise ValueError(f"episodes and rollouts must be at least 1, got {episodes} and {rollouts}")
    spec = envs.task_spec(task)
    env = StateCapture(gym.make(spec.env_id_at(task_version), scene={"render_images": False}))
    n = int(env.action_space.n)
    per_episode = []
    try:
        for e in range(episodes):
            env.reset(seed=seed + e)
            if spec.is_one_step:
                wins = option_successes(env)
            else:
                start = env.get_state()
                rng = np.random.default_rng([seed, e])
                wins = []
                for _ in range(rollouts):
                    env.set_state(start)
                    done, info = False, {}
                    while not done:
                        _, _, terminated, truncated, info = env.step(int(rng.integers(n)))
                        done = terminated or truncated
                    wins.append(float(info.get("is_success", False)))
            per_episode.append(float(np.mean(wins)))
    finally:
        env.close()
    return {"chance": float(np.mean(per_episode)), "per_episode": per_episode, "episodes": episodes, "seed": seed, "exact": spec.is_one_step}


PREDICTION_COLUMNS = ("seed", "prompt", "agent_answer", "task_answer", "question_answer", "correct")


@torch.no_grad()
def evaluate_prompt(
    policy: Policy, task: str, prompt: str, episodes: int, program: dict[str, Any] | None = None, image_size: int = 128, seed: int = EVAL_SEED,
    multisamples: int = DEFAULT_MULTISAMPLES,
) -> list[dict[str, Any]]:
    """An agent's answers to a user's question on the task's evaluation scenes, one row per episode.

    Every episode shows ``prompt`` instead of the task's own; the agent answers once (its first
    move, for multi-step tasks). ``task_answer`` is the answer to the task's own question (from its
    program's simulation); with a ``program`` for the question (the reference grammar's, or one the
    user gives), ``question_answer`` (a choose question: the options that succeed, "|"-joined) and
    ``correct`` are filled in, otherwise left empty.

    Raises:
        ProgramError: The program is invalid, its answers are not the task's actions, or it cannot
            be applied to the task's scenes.
        ValueError: ``prompt`` is empty, too long or has characters outside the prompt charset.
    """
    from physground.envs.base import PROMPT_CHARSET, PROMPT_MAX_LENGTH
    from physground.envs.programs import validate
    from physground.envs.questions import answer_question, check_answers_match, task_answer

    bad = sorted(set(prompt) - PROMPT_CHARSET)
    if bad or not 0 < len(prompt) <= PROMPT_MAX_LENGTH:
        raise ValueError(f"prompt {prompt[:60]!r} must be 1-{PROMPT_MAX_LENGTH} characters of the prompt charset (bad: {''.join(bad)!r})")
    policy.eval()
    env = env_factory(task, image_size, multisamples)()
    inner = env.unwrapped
    if program is not None:
        check_answers_match(validate(program), inner)
    rows = []
    try:
        for e in range(episodes):
            obs, info = env.reset(seed=seed + e)
            row: dict[str, Any] = {"seed": seed + e, "prompt": prompt, "task_answer": task_answer(inner, info), "question_answer": "", "correct": ""}
            if program is not None:
                row["question_answer"], correct_words = answer_question(program, info["scene"], inner)
                inner.world.load(info["scene"])  # the question's rollouts used the world
            shown = {**obs, "prompt": prompt}
            # the oracle parser reads the asked question's program, not the task's
            out = policy.act(policy.prepare(_stack_observations([shown]), {"scene": [info.get("scene")], "program": [program]}), deterministic=True)
            action = out.env_actions[0] if out.env_actions is not None else int(out.actions[0])
            index = inner.parse_answer(action) if isinstance(action, str) else int(action)
            row["agent_answer"] = "" if index is None else inner.action_names[index]
            if program is not None:
                row["correct"] = int(row["agent_answer"] in correct_words)
            rows.append({k: row[k] for k in PREDICTION_COLUMNS})
    finally:
        env.close()
    return rows


def result_key(task: str, phrasing: str = "canonical") -> str:
    """How results are keyed: the task's name on its canonical wording, ``Task@split`` otherwise."""
    return task if phrasing == "canonical" else f"{task}@{phrasing}"


def evaluate_run(
    run_dir: str | Path, tasks: list[str], episodes: int, record: bool = True, phrasings: tuple[str, ...] = ("canonical",), reset_cache: str | Path | None = None,
) -> dict[str, dict[str, float]]:
    """Evaluate a run's agent on ``tasks`` with prompts from each phrasing split (results keyed by
    :func:`result_key`); with ``record`` the results are also added to its ``eval.json``
    (:func:`record_evaluation`); ``reset_cache`` as for :func:`evaluate_policy`."""
    spec, policy = load_agent(run_dir)
    results = {}
    for phrasing in phrasings:
        for task in tasks:
            name = envs.task_spec(task).name if task in envs.TASKS or task.startswith("physground/") else task
            results[result_key(name, phrasing)] = evaluate_policy(
                policy.for_task(name), name, episodes, spec.image_size, multisamples=spec.multisamples, phrasing=phrasing, task_version=spec.task_version,
                reset_cache=reset_cache,
            )
    if record:
        record_evaluation(run_dir, results)
    return results


def record_evaluation(run_dir: str | Path, results: dict[str, dict[str, float]]) -> None:
    """Add ``results`` (by task) to the run's ``eval.json`` (written atomically)."""
    from physground.envs.files import atomic_write_text

    path = Path(run_dir) / "eval.json"
    try:
        previous = json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON ({exc.msg}); move it away to record new results") from exc
    atomic_write_text(path, json.dumps({**(previous if isinstance(previous, dict) else {}), **results}, indent=2))
