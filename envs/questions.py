"""A user's question about a task's scenes: its gold program, and its answer by simulation.

``gold_program`` reads a prompt with the reference grammar (``envs.phrasings``: a prompt some
task's template produces); ``answer_question`` executes any valid program on a scene with the
task's MuJoCo and world constants. Both are what ``physground parse`` and ``physground eval-agent
--prompt`` use.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from physground.envs.base import PhysicsTaskEnv
from physground.envs.executor import execute
from physground.envs.phrasings import PHRASINGS, QUESTION_SLOTS, reference_parse
from physground.envs.programs import Program, ProgramError, dumps, negate, position_word, validate
from physground.envs.scene import COLOURS, Scene, SceneConfig


def gold_program(prompt: str) -> tuple[Program, list[str]] | None:
    """The program of ``prompt`` under the reference grammar and the tasks whose templates produce
    it, or None when no template does.

    Raises:
        ProgramError: Templates of different tasks read the prompt as different programs.
    """
    from physground.envs import TASKS

    programs: dict[str, tuple[Program, list[str]]] = {}
    for parsed in reference_parse(prompt):
        env = TASKS[parsed.task].env_class(scene=SceneConfig(render_images=False))
        try:
            program = env.question_program(parsed.values)
        finally:
            env.close()
        program = validate(negate(program) if parsed.flipped else program)
        entry = programs.setdefault(dumps(program), (program, []))
        entry[1].append(parsed.task)
    if not programs:
        return None
    if len(programs) > 1:
        raise ProgramError(f"prompt {prompt!r} reads as {len(programs)} different programs (templates of {', '.join(t for _, ts in programs.values() for t in ts)})")
    return next(iter(programs.values()))


def option_words(program: Program) -> list[str]:
    """The answer words of a program's options, as the envs name their actions."""
    if program["head"] == "yes_no":
        return ["yes", "no"]
    kind = program["options"]["kind"]
    return [position_word(v) if kind == "positions" else str(v) for v in program["options"]["values"]]


def check_answers_match(program: Program, env: PhysicsTaskEnv) -> None:
    """Raise ``ProgramError`` unless the program's answers are the env's actions (the agent can
    only answer with those)."""
    words = option_words(program)
    if list(env.action_names) != words:
        raise ProgramError(f"the program's answers ({', '.join(words)}) are not {env.task_name}'s actions ({', '.join(env.action_names)})")


def answer_question(program: Program, scene: Scene, env: PhysicsTaskEnv) -> tuple[str, list[str]]:
    """The answer of ``program`` on ``scene``, simulated with ``env``'s MuJoCo and constants.

    Returns:
        (the answer as text, the option words that count as correct): for ``yes_no`` the word
        and [the word]; for ``choose`` the options that reach the goal without the failure
        ("|"-joined; empty when none does) and that list.

    Raises:
        ProgramError: The program cannot be applied to the scene.
    """
    results = execute(program, scene, env.mujoco_backend(), env.execution_context())
    if program["head"] == "yes_no":
        word = "yes" if results[0]["events"]["answer"] else "no"
        return word, [word]
    words = option_words(program)
    good = [w for w, r in zip(words, results) if r["events"]["reached"] and not r["events"].get("failed", False)]
    return "|".join(good), good


def task_answer(env: PhysicsTaskEnv, info: dict[str, Any]) -> str:
    """The answer to the task's own question for the episode just reset ("" when the task has no
    single right answer, as Catch, whose moves are judged over an episode)."""
    if "task_label" in info:
        return env.action_names[info["task_label"]]
    best = getattr(env, "best_action", None)
    return env.action_names[best()] if best is not None else ""


@dataclass(frozen=True)
class QuestionPair:
    """A prompt a task's template produces and its gold program.

    Attributes:
        prompt: The question as an episode shows it.
        program: Its program (negated for a flipped template).
        task: The task whose template it is.
        split: The template's phrasing split (train, heldout or paraphrase).
        template: Index of the template within its split.
    """

    prompt: str
    program: Program
    task: str
    split: str
    template: int


def slot_values(env: PhysicsTaskEnv) -> dict[str, list[Any]]:
    """Every value each question slot takes in ``env``'s episodes (its config's colours, release
    positions, push strengths; basket moves left and right)."""
    cfg = env.config
    half = getattr(cfg, "n_offsets", 1) // 2
    return {
        "colour": list(getattr(cfg, "colours", COLOURS)),
        "position": list(range(-half, half + 1)),
        "strength": list(range(1, len(getattr(cfg, "strengths", ())) + 1)),
        "direction": ["left", "right"],
    }


def question_pairs(task: str, split: str) -> list[QuestionPair]:
    """Every (prompt, gold program) of ``task``'s templates in ``split`` (train, heldout,
    paraphrase): each template with every value of its question slots.

    Raises:
        ValueError: Unknown task or split.
    """
    from physground.envs import task_spec

    if split not in ("train", "heldout", "paraphrase"):
        raise ValueError(f"unknown template split {split!r}; valid: train, heldout, paraphrase")
    spec = task_spec(task)
    env = spec.env_class(scene=SceneConfig(render_images=False))
    try:
        ranges, bounds = slot_values(env), env._format_values()
        out = []
        for index, template in enumerate(PHRASINGS[spec.name].split(split)):
            asked = [s for s in dict.fromkeys(template.slots) if s in QUESTION_SLOTS]
            for combo in itertools.product(*(ranges[s] for s in asked)):
                values = {**bounds, **dict(zip(asked, combo))}
                program = validate(env.question_program(values))
                out.append(QuestionPair(template.render(values), negate(program) if template.flipped else program, spec.name, split, index))
        return out
    finally:
        env.close()
