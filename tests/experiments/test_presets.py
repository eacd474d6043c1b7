"""Presets are validated whole before any work starts; SLURM resources come from them."""

from __future__ import annotations

import os

import pytest

from physground.experiments.ablation import Preset, cells_of, slurm_parameters, training_spec_of
from physground.experiments.cli import main

GOOD = "name: x\nagents: [vlm-ppo]\ntrain_tasks: [TowerStability]\ntest_tasks: all\nseeds: [0]\nsteps: {vlm-ppo: 16}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("name: [unclosed\n", "is not valid YAML"),
        ("- name: x\n", "must be a mapping of settings, got a YAML list"),
        (GOOD.replace("name: x\n", ""), "missing field 'name'"),
        (GOOD.replace("seeds: [0]", 'seeds: "0"'), "seeds must be a list of an integer, got '0'"),
        (GOOD.replace("seeds: [0]", "seeds: [0, one]"), r"seeds\[1\] must be an integer, got 'one'"),
        (GOOD.replace("{vlm-ppo: 16}", "{vlm-ppo: many}"), "steps.vlm-ppo must be an integer, got 'many'"),
        (GOOD.replace("{vlm-ppo: 16}", "many"), "steps must be a mapping of an integer, got 'many'"),
        (GOOD + "eval_episodes: three\n", "eval_episodes must be an integer, got 'three'"),
        (GOOD + "eval_episodes: 0\n", "eval_episodes must be at least 1, got 0"),
        (GOOD + "num_envs: -2\n", "ppo.num_envs must be a positive integer, got -2"),
        (GOOD + "accelerator: tpu\n", "unknown accelerator 'tpu'"),
        (GOOD + "seeds: [-1]\n", "seeds must be >= 0"),
        (GOOD + "ppo: {gama: 0.9}\n", "ppo: unknown field 'gama'"),
        (GOOD + "grpo: {lr: 0.1}\n", "grpo settings, but no agent of the preset trains with grpo"),
        (GOOD + "slurm: {gpus_per_node: -1}\n", "slurm.gpus_per_node must be >= 0"),
        (GOOD + "slurm: {cpus: 4}\n", "slurm: unknown field 'cpus'"),
        (GOOD.replace("seeds: [0]", "seeds: []"), "seeds must be a non-empty list"),
        (GOOD + "task_version: 2\n", "task version must be an integer in \\[0, 1\\], got 2"),
        (GOOD + "vlm_mode: write\n", "vlm_mode must be score or generate, got 'write'"),
        (GOOD + "vlm_mode: generate\nanswer_format: xml\n", "unknown answer format 'xml'; valid: free, tagged"),
        (GOOD + "answer_format: tagged\n", "answer format 'tagged' is for VLM agents in generate mode"),
        (GOOD.replace("[vlm-ppo]", "[cue-count]").replace("{vlm-ppo: 16}", "{cue-count: 16}") + "vlm_mode: generate\n", "are for the VLM agents, and the preset has none"),
    ],
)
def test_a_bad_preset_is_one_line_naming_the_file_field_and_value_and_writes_nothing(text, message, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        Preset.load(str(path))
    assert "bad.yaml" in str(info.value) and "\n" not in str(info.value)
    out = tmp_path / "out"
    assert main(["ablate", "--preset", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("physground: error: preset") and err.count("\n") == 1
    assert not out.exists(), "nothing is written for a bad preset"


def test_a_preset_s_trainer_settings_reach_its_cells():
    preset = Preset.load("micro")
    import dataclasses

    tuned = dataclasses.replace(preset, ppo={"gamma": 0.9})
    specs = {c.agent: training_spec_of(tuned, c) for c in cells_of(tuned)}
    assert specs["vlm-ppo"].trainer_config.gamma == 0.9 and specs["hybrid-task-code-oracle"].trainer_config.gamma == 0.9
    assert specs["vlm-ppo"].trainer_config.num_envs == preset.num_envs
    assert specs["vlm-zero-shot"].trainer_config is None


def test_slurm_parameters_of_the_quick_and_full_presets():
    quick = slurm_parameters(Preset.load("quick"))
    assert quick == {"timeout_min": 30, "cpus_per_task": 2, "mem_gb": 4, "slurm_array_parallelism": 64, "tasks_per_node": 1, "nodes": 1}
    full = slurm_parameters(Preset.load("full"))
    assert full["gpus_per_node"] == 1 and full["cpus_per_task"] == 4 and full["mem_gb"] == 32 and full["timeout_min"] == 60
    flagged = slurm_parameters(Preset.load("full", slurm={"partition": "gpu", "timeout_min": 90}))
    assert flagged["slurm_partition"] == "gpu" and flagged["timeout_min"] == 90 and flagged["gpus_per_node"] == 1, "flags refine the preset"


def test_submitit_takes_the_parameters_and_writes_them_into_the_sbatch_script(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")  # submitit looks for srun before it builds anything
    executor = submitit.AutoExecutor(folder=str(tmp_path / "slurm"), cluster="slurm")
    executor.update_parameters(**slurm_parameters(Preset.load("full", slurm={"partition": "gpu"})))
    assert executor._executor.parameters == {"time": 60, "cpus_per_task": 4, "mem": "32GB", "ntasks_per_node": 1, "nodes": 1, "gpus_per_node": 1,
                                             "array_parallelism": 64, "partition": "gpu"}


def test_a_recorded_preset_loads_with_what_its_missing_fields_meant(tmp_path):
    """An ablation directory's preset.json is a preset; a record without task_version means v0
    (and is the same preset as the loaded one), the YAML presets default to the newest suite."""
    import json
    from dataclasses import asdict

    from physground.envs import TASK_VERSION
    from physground.experiments.ablation import is_recorded_preset

    yaml_path = tmp_path / "x.yaml"
    yaml_path.write_text("name: x\nagents: [cue-all]\ntrain_tasks: [TowerStability]\ntest_tasks: [TowerStability]\nseeds: [0]\nsteps: {cue-all: 20}\n")
    record = json.loads(json.dumps(asdict(Preset.load(str(yaml_path)))))
    del record["task_version"], record["multisamples"]  # as recorded before those fields existed
    path = tmp_path / "preset.json"
    path.write_text(json.dumps(record))
    recorded = Preset.load(str(path))
    assert recorded.task_version == 0 and recorded.multisamples == 0 and is_recorded_preset(record, recorded)
    assert Preset.load("quick").task_version == TASK_VERSION and not is_recorded_preset(record, Preset.load(str(path), task_version=1))
    specs = [training_spec_of(recorded, c) for c in cells_of(recorded)]
    assert specs[0].agent.task_version == 0 and specs[0].agent.vlm is None


def test_the_deconfounded_preset_re_runs_what_suite_v1_changed_on_the_v0_grid_s_budgets():
    """Its rows are read beside results/full's: the same agents (bar two cue baselines v0 lacked),
    budgets, seeds and evaluation size, trained and tested on exactly the tasks whose sampler v1 changed."""
    from physground import envs

    preset = Preset.load("deconfounded")
    v0 = Preset.load("results/full/preset.json")
    changed = [n for n in envs.BASE_TASKS if envs.TASKS[n].version_at(1) != envs.TASKS[n].version_at(0)]
    assert changed == ["TowerStability", "BlockRemoval", "RollOff"]
    assert list(preset.train_tasks) == changed and list(preset.test_tasks) == changed
    assert preset.task_version == 1 and v0.task_version == 0
    assert set(v0.agents) <= set(preset.agents)
    assert {a: preset.steps[a] for a in v0.steps} == v0.steps
    assert (preset.seeds, preset.eval_episodes, preset.image_size, preset.multisamples) == (v0.seeds, v0.eval_episodes, v0.image_size, v0.multisamples)
