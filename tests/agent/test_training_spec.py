"""One source of truth for a run's configuration: typed trainer settings, overrides, config.json."""

from __future__ import annotations

import dataclasses
import json

import pytest

from physground.agent.configs import GRPOConfig, PPOConfig, SFTConfig
from physground.agent.factory import AgentSpec
from physground.agent.training import TrainingSpec, train_agent, training_spec
from physground.experiments.cli import main


def test_agent_defaults_are_the_documented_ones():
    vlm = training_spec(AgentSpec("vlm-ppo", "TowerStability"), steps=4096).trainer_config
    assert vlm == PPOConfig(total_steps=4096, num_envs=8, num_steps=16, gamma=0.99, gae_lambda=0.95, num_minibatches=4, update_epochs=4,
                            clip_coef=0.2, clip_vloss=True, vf_coef=0.5, ent_coef=0.01, max_grad_norm=0.5, lr=3e-4, checkpoint_every=4)
    assert training_spec(AgentSpec("hybrid-task-code-oracle", "TowerStability")).trainer_config.lr == 1e-3
    assert training_spec(AgentSpec("mlp", "CartPole-v1"), steps=1000).trainer_config == PPOConfig(total_steps=1000)
    grpo = training_spec(AgentSpec("vlm-grpo", "TowerStability"), steps=4096).trainer_config
    assert grpo == GRPOConfig(updates=4096 // (8 * 16))
    assert training_spec(AgentSpec("vlm-sft", "TowerStability"), steps=48).trainer_config == SFTConfig(examples=48)
    assert training_spec(AgentSpec("vlm-zero-shot", "TowerStability")).trainer_config is None


def test_overrides_reach_the_trainer_config_and_grpo_updates_follow_the_group_size():
    spec = training_spec(AgentSpec("vlm-ppo", "TowerStability"), steps=256, overrides={"ppo": {"gamma": 0.97, "num_envs": 4}})
    assert spec.trainer_config.gamma == 0.97 and spec.trainer_config.num_envs == 4 and spec.trainer_config.total_steps == 256
    assert spec.to_config()["ppo"]["gamma"] == 0.97
    grpo = training_spec(AgentSpec("vlm-grpo", "TowerStability"), steps=512, overrides={"grpo": {"group_size": 4}}).trainer_config
    assert grpo.group_size == 4 and grpo.updates == 512 // (8 * 4)


@pytest.mark.parametrize(
    ("agent", "overrides", "message"),
    [
        ("vlm-ppo", {"grpo": {"lr": 1e-4}}, "vlm-ppo trains with ppo; it has no grpo settings"),
        ("vlm-ppo", {"ppo": {"gama": 0.9}}, "ppo: unknown field 'gama'"),
        ("vlm-ppo", {"ppo": {"gamma": "high"}}, "ppo: gamma must be a number, got 'high'"),
        ("vlm-ppo", {"ppo": {"num_envs": 0}}, "^ppo.num_envs must be a positive integer, got 0"),
        ("vlm-ppo", {"ppo": {"lr": 0}}, "^ppo.lr must be a finite number > 0, got 0"),
        ("vlm-ppo", {"ppo": {"total_steps": 9}}, "ppo.total_steps follows from steps; set steps instead"),
        ("vlm-sft", {"sft": {"epochs": -1}}, "^sft.epochs must be a positive integer, got -1"),
        ("vlm-grpo", {"grpo": {"group_size": 1}}, "grpo.group_size must be at least 2"),
        ("vlm-ppo", {"dqn": {"lr": 1}}, "unknown trainer section 'dqn'"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(agent, overrides, message):
    with pytest.raises(ValueError, match=message):
        training_spec(AgentSpec(agent, "TowerStability"), steps=256, overrides=overrides)


def test_a_spec_checks_itself_before_anything_is_written(tmp_path):
    agent = AgentSpec("mlp", "CartPole-v1")
    with pytest.raises(ValueError, match="unknown accelerator 'tpu'"):
        training_spec(agent, steps=256, accelerator="tpu")
    with pytest.raises(ValueError, match="steps must be a positive integer for mlp, got -5"):
        training_spec(agent, steps=-5)
    with pytest.raises(ValueError, match="mlp trains with ppo, not with SFTConfig"):
        TrainingSpec(agent, 256, trainer_config=SFTConfig())
    good = training_spec(agent, steps=256)
    with pytest.raises(ValueError, match="accelerator"):
        dataclasses.replace(good, accelerator="tpu")
    assert not (tmp_path / "r").exists()


def test_the_cli_sets_every_trainer_field_and_the_run_records_the_resolved_config(tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--steps", "256", "--out", str(out), "--ppo.gamma", "0.9", "--ppo.update_epochs", "1",
            "--lr", "0.002"]
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["ppo"]["gamma"] == 0.9 and config["ppo"]["update_epochs"] == 1 and config["ppo"]["lr"] == 0.002
    assert config["ppo"] == dataclasses.asdict(training_spec(AgentSpec("mlp", "CartPole-v1"), 256, overrides={"ppo": {"gamma": 0.9, "update_epochs": 1, "lr": 0.002}}).trainer_config)
    assert config["agent"]["seed"] == 0 and config["steps"] == 256
    capsys.readouterr()
    assert main(["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--out", str(tmp_path / "n"), "--num-envs", "0"]) == 2
    err = capsys.readouterr().err
    assert "ppo.num_envs must be a positive integer, got 0" in err and not (tmp_path / "n").exists(), "nothing written for a bad config"
    assert main(["train-agent", "--agent", "vlm-sft", "--task", "TowerStability", "--out", str(tmp_path / "s"), "--ppo.gamma", "0.5"]) == 2
    assert "vlm-sft trains with sft; it has no ppo settings" in capsys.readouterr().err


def test_train_agent_is_a_library_call_returning_the_run(tmp_path):
    spec = training_spec(AgentSpec("mlp", "CartPole-v1", seed=2), steps=256, overrides={"ppo": {"update_epochs": 1}})
    run = train_agent(spec, tmp_path / "lib", progress=False)
    metrics = run.read_metrics()
    assert run.finished and metrics["updates"] == 1 and run.read_config()["agent"]["seed"] == 2
