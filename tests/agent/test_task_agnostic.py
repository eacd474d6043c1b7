"""The task-agnostic hybrid: no task in its constructor, answers that follow the question's wording,
and an executor that reproduces the envs' own labels with MuJoCo."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from physground.agent.executor import ProgramExecutor, mujoco_backend
from physground.agent.factory import AgentSpec, build_policy, component_folders, env_factory
from physground.agent.task_agnostic import OPTION_FEATURES, TaskAgnosticHybrid, option_features
from physground.envs import TASKS
from physground.envs.base import YesNoTaskEnv
from physground.envs.programs import negate
from physground.perception.grounders import OracleGrounder
from physground.perception.parser import Parser
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT
from physground.perception.vlm import VLM

YES_NO = [t for t, s in TASKS.items() if s.is_yes_no]


def test_the_agent_is_never_told_its_task():
    assert "task" not in inspect.signature(TaskAgnosticHybrid.__init__).parameters
    policy = build_policy(AgentSpec("hybrid", "TowerStability"))
    assert isinstance(policy, TaskAgnosticHybrid) and "parser" in component_folders(AgentSpec("hybrid", "TowerStability"))
    other = policy.for_task("TowerBuild")
    assert other.action_names[0] == "-4" and other.scorer is policy.scorer and other.parser is policy.parser


@pytest.mark.parametrize("task", YES_NO)
def test_the_executor_with_mujoco_gives_the_env_s_label(task):
    env = env_factory(task, image_size=32)().unwrapped
    executor = ProgramExecutor(mujoco_backend(env), env.execution_context())
    for seed in range(2):
        _, info = env.reset(seed=seed)
        (events,) = executor.run([info["program"]], [info["scene"]])[0]
        assert events["answer"] == (info["label"] == YesNoTaskEnv.YES)
    env.close()


@pytest.mark.parametrize("task", ["TowerBuild", "Push", "ToppleSpot"])
def test_the_executor_with_mujoco_gives_every_option_s_outcome(task):
    env = env_factory(task, image_size=32)().unwrapped
    _, info = env.reset(seed=0)
    outcomes = ProgramExecutor(mujoco_backend(env), env.execution_context()).run([info["program"]], [info["scene"]])[0]
    assert len(outcomes) == len(env.action_names)
    for action, events in enumerate(outcomes):
        truth = env.outcome(info["scene"], action)[2]
        assert (events["reached"], events.get("failed")) == (truth["reached"], truth.get("failed")), env.action_names[action]
    env.close()


def test_a_program_that_does_not_fit_the_scene_is_not_imagined():
    env = env_factory("ColourRemoval", image_size=32)().unwrapped
    _, info = env.reset(seed=0)
    program = env.question_program({"colour": "cyan"})
    scene = {**info["scene"], "objects": [o for o in info["scene"]["objects"] if o.get("colour") != "cyan"]}
    assert ProgramExecutor(mujoco_backend(env)).run([program], [scene]) == [[None]]
    features = option_features(program, [None], ["yes", "no"])
    assert features[:, OPTION_FEATURES.index("not_imagined")].tolist() == [1.0, 1.0]
    # a choose program for a yes/no question: no option word of the program is an answer
    push = env_factory("Push", image_size=32)().unwrapped.question_program({})
    assert option_features(push, [None] * 7, ["yes", "no"])[:, OPTION_FEATURES.index("unmatched")].tolist() == [1.0, 1.0]
    env.close()


def test_a_flipped_phrasing_flips_the_answer():
    """Same scene, the question asked the other way round: the parse, the imagined answer per option and
    the agent's choice all flip (decision rule: prefer the option the program imagines good)."""
    vlm = VLM.load(SHIPPED_CHECKPOINT)
    from physground.perception.parser_training import SHIPPED_PARSERS

    parser = Parser.load(SHIPPED_PARSERS / "base", vlm, SHIPPED_CHECKPOINT)
    env = env_factory("TowerStability", image_size=32)().unwrapped
    agent = TaskAgnosticHybrid(OracleGrounder(), parser, ProgramExecutor(mujoco_backend(env)), env.action_names)
    agent.scorer = torch.nn.Linear(len(OPTION_FEATURES), 1)
    with torch.no_grad():
        agent.scorer.weight.zero_()
        agent.scorer.weight[0, OPTION_FEATURES.index("good")] = 5.0
    obs, info = env.reset(seed=3)
    prompts = ["Will this block tower fall?", "Will this block tower stay standing?"]
    parses = parser.parse(prompts)
    assert parses[1].program == negate(parses[0].program)
    batch = {"image": np.stack([obs["image"]] * 2), "prompt": prompts}
    inputs = agent.prepare(batch, {"scene": [info["scene"]] * 2})
    actions = agent.act(inputs, deterministic=True).actions.tolist()
    assert actions[0] != actions[1] and actions[0] == info["label"]
    env.close()


def test_the_gold_program_agent_needs_the_env_s_program_and_legacy_runs_keep_their_meaning():
    policy = build_policy(AgentSpec("hybrid-gold-program", "RollOff"))
    env = env_factory("RollOff", image_size=32)()
    obs, info = env.reset(seed=0)
    batch = {"image": obs["image"][None], "prompt": [obs["prompt"]]}
    with pytest.raises(ValueError, match=r"needs the env's gold program in infos\['program'\]"):
        policy.prepare(batch, {})
    assert policy.prepare(batch, {"program": [info["program"]]})["options"].shape == (1, 2, len(OPTION_FEATURES))
    env.close()
    # a run recorded before the task-agnostic hybrid: its "hybrid" was told its task
    assert AgentSpec.from_dict({"agent": "hybrid", "task": "RollOff"}).agent == "hybrid-task-code"
    assert AgentSpec.from_dict({"agent": "hybrid-oracle", "task": "RollOff"}).agent == "hybrid-task-code-oracle"
    assert AgentSpec.from_dict({"agent": "hybrid", "task": "RollOff", "parser": None}).agent == "hybrid"
    with pytest.raises(ValueError, match="a parser .* is for hybrid, hybrid-oracle, hybrid-no-dynamics; vlm-ppo does not parse"):
        AgentSpec("vlm-ppo", "RollOff", parser="p")
