"""The query language: grammar, errors, templates, and programs that reproduce the envs' rewards."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from physground import envs
from physground.agent.env_state import StateCapture
from physground.envs.executor import ExecutionContext, execute, intervene, select
from physground.envs.phrasings import PHRASINGS, SPLITS, reference_parse
from physground.envs.programs import HEADS, OPS, ProgramError, coloured, dumps, loads, negate, primitives_of, tower, validate

ALL = list(envs.TASKS)


def _env(task: str, **kw):
    return StateCapture(gym.make(envs.TASKS[task].env_id, scene={"render_images": False}, **kw))


# -- grammar and errors ---------------------------------------------------------------------------

REMOVAL = {"head": "yes_no", "do": {"op": "remove", "target": coloured("red")}, "ask": {"op": "fell", "of": tower()}, "horizon": 3.0}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({**REMOVAL, "ask": {"op": "falls", "of": tower()}}, "program.ask: unknown primitive 'falls'"),
        ({**REMOVAL, "ask": {"op": "fell"}}, "program.ask: 'fell' needs the argument 'of'"),
        ({**REMOVAL, "ask": {"op": "fell", "of": tower(), "on": tower()}}, "program.ask: 'fell' takes no argument 'on'"),
        ({**REMOVAL, "do": {"op": "fell", "of": tower()}}, "program.do: a predicate where an intervention belongs: 'fell'"),
        ({**REMOVAL, "head": "maybe"}, "program.head: unknown query head 'maybe'"),
        ({**REMOVAL, "horizon": -1}, "program.horizon: horizon must be a number of seconds"),
        ({**REMOVAL, "do": {"op": "remove", "target": coloured("mauve")}}, "program.do.target.of.colour: unknown colour 'mauve'"),
        ({"head": "choose", "options": {"kind": "positions", "values": []}, "do": {"op": "drop", "target": coloured("red"), "position": "$option", "above": tower()},
          "goal": {"op": "fell", "of": tower()}, "horizon": 3.0}, "program.options.values: the option set is empty"),
        ({"head": "choose", "options": {"kind": "moves", "values": ["left"]}, "do": {"op": "none"}, "goal": {"op": "fell", "of": tower()}, "horizon": 1.0},
         "program.do: a 'choose' head's intervention must use '$option'"),
        ({**REMOVAL, "do": {"op": "push", "target": coloured("red"), "strength": "$option"}}, "program.do.strength: '$option' is only allowed"),
        ([1, 2], "program: must be a JSON object"),
    ],
)
def test_bad_programs_get_one_line_errors_naming_the_node(bad, message):
    with pytest.raises(ProgramError) as err:
        validate(bad)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_selector_that_selects_nothing_is_named_when_executed():
    env = _env("TowerStability")
    _, info = env.reset(seed=0)
    program = {**REMOVAL, "do": {"op": "remove", "target": coloured("cyan")}}
    scene = {**info["scene"], "objects": [o for o in info["scene"]["objects"] if o.get("colour") != "cyan"]}
    with pytest.raises(ProgramError, match=r"program.do.target: 'unique' selects nothing, not exactly one"):
        intervene(validate(program), scene, ExecutionContext())
    env.close()


def test_json_round_trip_and_bad_json():
    assert loads(dumps(REMOVAL)) == REMOVAL
    with pytest.raises(ProgramError, match="not valid JSON"):
        loads("{'head': 1}")


def test_negation_flips_and_double_negation_cancels():
    flipped = negate(REMOVAL)
    assert flipped["ask"]["op"] == "not" and negate(flipped) == REMOVAL


def test_selectors_pick_by_colour_shape_and_tower_order():
    env = _env("TowerBuild")
    _, info = env.reset(seed=3)
    scene = info["scene"]
    red = select(coloured("red"), scene)
    assert [o["colour"] for o in red] == ["red"]
    rest = select(tower(without=coloured("red")), scene)
    assert red[0]["id"] not in [o["id"] for o in rest]
    assert [o["position"][2] for o in rest] == sorted(o["position"][2] for o in rest)
    env.close()


# -- tasks as programs -------------------------------------------------------------------------------


def test_every_primitive_appears_in_at_least_two_tasks():
    """So that any single task can be held out and its primitives stay seen."""
    uses: dict[str, set[str]] = {}
    for task in ALL:
        env = envs.TASKS[task].env_class(scene={"render_images": False}, phrasing="all")
        programs = [env.task_program()] + [negate(env.task_program())] if envs.TASKS[task].is_yes_no else [env.task_program()]
        for program in programs:
            for primitive in primitives_of(program):
                uses.setdefault(primitive, set()).add(task)
        env.close()
    every = set(OPS) | {f"head:{h}" for h in HEADS}
    assert {p: sorted(uses.get(p, ())) for p in every if len(uses.get(p, ())) < 2} == {}


def _gold(task: str, values: dict, flipped: bool) -> str:
    builder = envs.TASKS[task].env_class(scene={"render_images": False})
    program = builder.question_program(values)
    builder.close()
    return dumps(negate(program) if flipped else program)


@pytest.mark.parametrize("task", ALL)
def test_every_template_parses_to_its_gold_program(task):
    """Every template, filled with the slot values of real episodes, reads back (through the
    reference grammar) as the program the episode's task builds for it; and an episode's prompt
    reads back as its info["program"]."""
    env = envs.TASKS[task].env_class(scene={"render_images": False}, phrasing="all")
    episodes = []
    for seed in range(3):
        _, info = env.reset(seed=seed)
        episodes.append((env.prompt, info))
    fixed = env._format_values()
    env.close()
    for prompt, info in episodes:
        assert {_gold(p.task, p.values, p.flipped) for p in reference_parse(prompt)} == {dumps(info["program"])}, prompt
    for template in PHRASINGS[task].split("all"):
        for _, info in episodes:
            values = {**fixed, **(info["scene"]["meta"].get("ask") or {})}
            prompt = template.render(values)
            parsed = reference_parse(prompt)
            assert parsed and task in {p.task for p in parsed}, f"{prompt!r} does not parse as {task}"
            expected = _gold(task, {k: v for k, v in values.items() if k not in fixed}, template.flipped)
            assert {_gold(p.task, p.values, p.flipped) for p in parsed} == {expected}, prompt


@pytest.mark.parametrize("task", ALL)
def test_templates_come_in_train_heldout_paraphrase_splits(task):
    p = PHRASINGS[task]
    assert len(p.train) + len(p.heldout) >= 12 and len(p.paraphrase) >= 3
    texts = [t.text for t in p.split("all")]
    assert len(set(texts)) == len(texts)
    if envs.TASKS[task].is_yes_no:  # both polarities in every split
        for split in ("train", "heldout", "paraphrase"):
            assert {t.flipped for t in p.split(split)} == {True, False}, split
    else:  # an option to choose has no opposite
        assert not any(t.flipped for t in p.split("all"))


def test_the_phrasing_split_leaves_the_scene_alone():
    scenes = {}
    for split in SPLITS:
        env = _env("BlockRemoval", phrasing=split)
        _, info = env.reset(seed=11)
        scenes[split] = json.dumps(info["scene"], sort_keys=True)
        env.close()
    assert len(set(scenes.values())) == 1


def test_a_flipped_prompt_has_the_inverted_label():
    env = _env("TowerStability", phrasing="all")
    flips = 0
    for seed in range(40):
        _, info = env.reset(seed=seed)
        flipped = info["program"]["ask"]["op"] == "not"
        flips += flipped
        assert info["label"] == (1 - info["task_label"] if flipped else info["task_label"])
    env.close()
    assert 0 < flips < 40


def _rewards_match(task: str, episodes: int) -> None:
    """The episode's program executed with MuJoCo measures exactly the outcome ``step`` pays for,
    for every action: the same events (so the same reward) and the same success."""
    env = _env(task, phrasing="all")
    inner = env.unwrapped
    for seed in range(episodes):
        _, info = env.reset(seed=1000 + seed)
        state = env.get_state()
        program = info["program"]
        results = execute(program, info["scene"], inner.mujoco_backend(early_stop=False), inner.execution_context())
        for action in range(env.action_space.n):
            result = results[action] if program["head"] == "choose" else results[0]
            env.set_state(state)
            _, reward, _, _, step_info = env.step(action)
            events = result["events"]
            if program["head"] == "yes_no":
                assert step_info["correct"] == ((action == 0) == events["answer"]), (task, seed, action)
                assert reward == (inner.config.reward_correct if step_info["correct"] else inner.config.reward_wrong)
            else:
                shown = {k: v for k, v in step_info["events"].items() if k != "outcome"}  # TowerBuild names its outcome too
                assert shown == events, (task, seed, action)
                assert step_info["is_success"] == events["reached"], (task, seed, action)
    env.close()


@pytest.mark.parametrize("task", ALL)
def test_the_program_executed_with_mujoco_reproduces_the_step(task):
    _rewards_match(task, 3)


@pytest.mark.slow
@pytest.mark.parametrize("task", ALL)
def test_the_program_executed_with_mujoco_reproduces_the_step_on_200_scenes(task):
    _rewards_match(task, 200)


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in ALL if envs.TASKS[t].is_yes_no])
@pytest.mark.parametrize("split", ["train", "heldout", "paraphrase"])
def test_yes_no_answers_are_balanced_on_every_split(task, split):
    env = _env(task, phrasing=split)
    yes = [env.reset(seed=2000 + s)[1]["label"] == 0 for s in range(200)]
    env.close()
    assert 0.4 <= np.mean(yes) <= 0.6
