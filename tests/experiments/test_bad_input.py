"""Every bad input is one line naming the bad file, field or value, exit status 2, nothing half-done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from physground.experiments.cli import main

CARTPOLE = ["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--steps", "256"]


@pytest.fixture(scope="module")
def zero_shot_run(tmp_path_factory, llava_dir):
    """A vlm-zero-shot run of the tiny test VLM (nothing to train)."""
    out = tmp_path_factory.mktemp("zs") / "run"
    assert main(["train-agent", "--agent", "vlm-zero-shot", "--task", "TowerStability", "--vlm", str(llava_dir), "--image-size", "32", "--out", str(out)]) == 0
    return out


def copy_of(run, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def blocked(tmp_path):
    """A path whose parent is a regular file: nothing can be written there (a read-only folder, even for root)."""
    (tmp_path / "file").write_text("x")
    return tmp_path / "file" / "out"


def truncated_vlm(tmp_path, llava_dir):
    target = tmp_path / "vlm"
    shutil.copytree(llava_dir, target)
    weights = target / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 3])
    return target


CASES = {
    "negative seed": (lambda t, v, r: CARTPOLE + ["--seed", "-1", "--out", str(t / "o")], "seed must be an integer in [0, 2**32), got -1"),
    "tpu": (lambda t, v, r: CARTPOLE + ["--accelerator", "tpu", "--out", str(t / "o")], "unknown accelerator 'tpu'"),
    "zero learning rate": (lambda t, v, r: CARTPOLE + ["--lr", "0", "--out", str(t / "o")], "ppo.lr must be a finite number > 0, got 0.0"),
    "zero envs": (lambda t, v, r: CARTPOLE + ["--num-envs", "0", "--out", str(t / "o")], "ppo.num_envs must be a positive integer, got 0"),
    "truncated vlm": (lambda t, v, r: ["train-agent", "--agent", "vlm-ppo", "--task", "TowerStability", "--vlm", str(truncated_vlm(t, v)), "--out", str(t / "o")],
                      "cannot load a checkpoint from"),
    "config.json a list": (lambda t, v, r: _with_config(copy_of(r, t), []), "must hold a JSON object, got a list"),
    "config.json extra key": (lambda t, v, r: _with_config(copy_of(r, t), "extra"), "agent: unknown field 'colour'"),
    "config.json no agent": (lambda t, v, r: _with_config(copy_of(r, t), {}), "has no 'agent' section"),
    "train-agent into a blocked folder": (lambda t, v, r: CARTPOLE + ["--out", str(blocked(t))], "cannot use"),
    "render into a blocked folder": (lambda t, v, r: ["render", "TowerStability", "--size", "32", "--out", str(blocked(t))], "cannot use"),
    "ground into a blocked folder": (lambda t, v, r: ["ground", _picture(t), "--out", str(blocked(t) / "g.png")], "cannot use"),
    "eval-images into a blocked folder": (lambda t, v, r: ["eval-images", "--run", str(r), "--task", "TowerStability", "--images", str(t),
                                                          "--labels", _file(t, "l.csv", f"image,answer\n{Path(_picture(t)).name},yes\n"), "--out", str(blocked(t) / "p.csv")],
                                          "cannot use"),
    "ablate into a blocked folder": (lambda t, v, r: ["ablate", "--preset", "micro", "--out", str(blocked(t))], "cannot use"),
    "preset that is a list": (lambda t, v, r: ["ablate", "--preset", _file(t, "p.yaml", "- 1\n"), "--out", str(t / "o")], "must be a mapping of settings, got a YAML list"),
    "empty preset": (lambda t, v, r: ["ablate", "--preset", _file(t, "p.yaml", ""), "--out", str(t / "o")], "is empty"),
}


def _picture(folder):
    from PIL import Image

    if not (folder / "pic.png").exists():
        Image.new("RGB", (64, 64), (120, 120, 120)).save(folder / "pic.png")
    return str(folder / "pic.png")


def _file(folder, name, text):
    (folder / name).write_text(text)
    return str(folder / name)


def _with_config(run, config):
    if config == "extra":
        config = json.loads((run / "config.json").read_text())
        config["agent"]["colour"] = "red"
    (run / "config.json").write_text(json.dumps(config))
    return ["eval-agent", "--run", str(run), "--tasks", "TowerStability", "--episodes", "1"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_nothing_half_written(case, tmp_path, llava_dir, zero_shot_run, capsys):
    argv_of, message = CASES[case]
    argv = argv_of(tmp_path, llava_dir, zero_shot_run)
    before = {p for p in tmp_path.rglob("*")}
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("physground: error:") and message in err[-1], err
    assert not [line for line in err if line.startswith("Traceback")]
    assert not (tmp_path / "o").exists(), "nothing written for a refused input"
    assert {p for p in tmp_path.rglob("*")} == before, "nothing half-written"


def test_an_evaluation_that_cannot_be_recorded_is_still_shown(tmp_path, zero_shot_run, capsys):
    run = copy_of(zero_shot_run, tmp_path)
    (run / "eval.json").mkdir()  # the result cannot be written there
    assert main(["eval-agent", "--run", str(run), "--tasks", "TowerStability", "--episodes", "2"]) == 2
    captured = capsys.readouterr()
    assert "TowerStability" in captured.out and "success / accuracy" in captured.out, "the results come before the failed write"
    assert captured.err.strip().splitlines()[-1].startswith("physground: error: cannot use")


def test_nan_in_the_actor_stops_with_the_non_finite_check(tmp_path):
    import gymnasium as gym

    from physground.agent.policies import MLPPolicy
    from physground.agent.ppo import PPOConfig, train_ppo
    from physground.agent.run import RunDir, TrainingError

    policy = MLPPolicy(4, 2)
    with torch.no_grad():
        policy.weights[0].fill_(float("nan"))
    config = PPOConfig(total_steps=256, num_envs=2, num_steps=16, num_minibatches=2, update_epochs=1)
    with pytest.raises(TrainingError, match=r"non-finite policy output \(the policy's action logits are not finite .*\) at update 1; stopped; last good checkpoint: none yet"):
        train_ppo(policy, [lambda: gym.make("CartPole-v1")] * 2, config, RunDir(tmp_path / "nan"), seed=0, progress=False)


def test_steps_that_are_not_whole_rollouts_are_said(tmp_path, capsys):
    assert main(["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--steps", "100", "--out", str(tmp_path / "r")]) == 0
    assert "physground: note: 100 steps train 256 environment steps (whole PPO rollouts of 8 envs x 32 steps)" in capsys.readouterr().err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["env_steps"] == 256
