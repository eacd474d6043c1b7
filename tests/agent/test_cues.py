"""Cue baselines: the classifier, its fit, its run directory and its transfer rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physground.agent.cues import CUE_AGENTS, CuePolicy, agent_cues, fit_cue_policy
from physground.agent.experts import ExpertStep
from physground.agent.factory import AgentSpec, build_policy, load_policy
from physground.agent.training import train_agent, training_spec
from physground.envs.programs import negate


def _tower_step(make_env, seed: int) -> ExpertStep:
    env = make_env("TowerStability")
    _, info = env.reset(seed=seed)
    return ExpertStep(np.zeros((1, 1, 3), np.uint8), env.prompt, info["scene"], info["program"], int(info["label"]), int(info["task_label"]))


def test_cue_agents_and_their_cues():
    assert "cue-count" in CUE_AGENTS and "cue-all" in CUE_AGENTS
    assert agent_cues("cue-top-offset") == ("top-offset",) and "surface" in agent_cues("cue-all")
    with pytest.raises(ValueError, match="'cue-colour' is not a cue baseline"):
        agent_cues("cue-colour")


def test_a_negated_question_swaps_the_answer(make_env):
    step = _tower_step(make_env, 0)
    policy = CuePolicy(("count",), "TowerStability")
    with torch.no_grad():
        policy.bias.fill_(4.0)  # "yes, it falls" whatever the count
    asked = {"scene": [step.scene, step.scene], "program": [policy.semantics.task_program(step.scene), negate(policy.semantics.task_program(step.scene))]}
    logits, _ = policy(policy.prepare(None, asked))
    assert logits.argmax(-1).tolist() == [0, 1]  # yes to "will it fall", no to "will it stay up"


def test_the_fit_learns_a_cue_that_decides_the_answer(make_env):
    steps = [_tower_step(make_env, s) for s in range(40)]
    # relabel: "yes" exactly for towers of more than 3 blocks, which the count cue can express
    steps = [ExpertStep(s.image, s.prompt, s.scene, s.program, s.action, 0 if len(s.scene["meta"]["tower"]) > 3 else 1) for s in steps]
    policy = CuePolicy(("count",), "TowerStability")
    metrics = fit_cue_policy(policy, steps, regularisation=100.0)
    assert metrics["train_accuracy"] == 1.0 and metrics["cue_coverage"] == 1.0
    blind = CuePolicy(("surface",), "TowerStability")  # no surface in a tower scene: the majority answer
    assert fit_cue_policy(blind, steps)["train_accuracy"] == pytest.approx(max(np.mean([s.task_label == 0 for s in steps]), np.mean([s.task_label == 1 for s in steps])))
    with pytest.raises(ValueError, match="at least one expert step"):
        fit_cue_policy(policy, [])


def test_a_choice_task_fit_picks_the_expert_option(make_env):
    env = make_env("Push")
    steps = []
    for seed in range(12):
        _, info = env.reset(seed=seed)
        steps.append(ExpertStep(np.zeros((1, 1, 3), np.uint8), env.prompt, info["scene"], info["program"], 3 if info["scene"]["meta"]["surface"] == "ice" else 5))
    policy = CuePolicy(("surface",), "Push")
    assert fit_cue_policy(policy, steps, regularisation=100.0)["train_accuracy"] == 1.0
    logits, _ = policy(policy.prepare(None, {"scene": [s.scene for s in steps], "program": [s.program for s in steps]}))
    assert logits.argmax(-1).tolist() == [s.action for s in steps]
    assert set(logits[0].topk(2).indices.tolist()) == {3, 5}  # options never chosen sit far below


def test_a_cue_run_trains_loads_and_transfers(tmp_path):
    run = train_agent(training_spec(AgentSpec("cue-count", "TowerStability", seed=1), steps=30), tmp_path / "run", progress=False)
    assert run.read_metrics()["examples"] == 30
    policy = load_policy(tmp_path / "run")
    fresh = build_policy(AgentSpec("cue-count", "TowerStability"))
    assert not torch.equal(policy.weight, fresh.weight)  # the fitted classifier came back from the checkpoint
    removal = policy.for_task("BlockRemoval")
    assert not removal.uniform and removal.weight is policy.weight  # the same question kind: the shortcut applies
    assert policy.for_task("Push").uniform  # other answers: nothing to apply, chance
    assert policy.reads_images is False


def test_cue_specs_refuse_what_they_do_not_use():
    with pytest.raises(ValueError, match="a VLM \\('x'\\) is for the VLM and hybrid agents; cue-count reads the scene's cues"):
        AgentSpec("cue-count", "TowerStability", vlm="x")
    with pytest.raises(ValueError, match="task version must be an integer in \\[0, 1\\], got 7"):
        AgentSpec("cue-count", "TowerStability", task_version=7)
    legacy = AgentSpec.from_dict({"agent": "vlm-ppo", "task": "TowerStability", "parser": None})
    assert legacy.task_version == 0  # runs recorded before versions trained on v0


def test_the_logistic_fit_recovers_the_frequencies_of_a_lookup():
    """One-hot bins, a negligible penalty: the fitted probabilities are each bin's frequencies."""
    from physground.agent.cues import fit_logistic

    x = np.repeat(np.eye(2), 40, axis=0)
    y = np.array([0] * 30 + [1] * 10 + [0] * 10 + [1] * 30)
    weight, bias, accuracy = fit_logistic(x, y, 2, regularisation=1e4)
    probabilities = torch.softmax(torch.as_tensor(np.eye(2) @ weight.T + bias), -1)[:, 0].numpy()
    assert probabilities == pytest.approx([0.75, 0.25], abs=1e-3) and accuracy == pytest.approx(0.75)


def test_the_command_line_trains_a_cue_baseline_and_reports_chance(tmp_path, capsys):
    from physground.experiments.cli import main

    run = tmp_path / "cue"
    argv = ["train-agent", "--agent", "cue-surface", "--task", "RollOff", "--steps", "40", "--fit.regularisation", "2", "--task-version", "0", "--out", str(run)]
    assert main(argv) == 0
    config = __import__("json").loads((run / "config.json").read_text())
    assert config["fit"] == {"examples": 40, "regularisation": 2.0} and config["agent"]["task_version"] == 0
    capsys.readouterr()
    assert main(["eval-agent", "--run", str(run), "--tasks", "RollOff,Push", "--episodes", "4"]) == 0
    out = capsys.readouterr().out
    assert "chance-normalised" in out and "50.0 %" in out  # RollOff's chance: one of two answers
    assert main(["train-agent", "--agent", "cue-surface", "--task", "RollOff", "--task-version", "3", "--out", str(tmp_path / "bad")]) == 2
    assert "task version must be an integer in [0, 1], got 3" in capsys.readouterr().err
