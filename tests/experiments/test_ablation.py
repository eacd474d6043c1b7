"""The ablation end to end on the micro preset, and its statistics."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from physground.experiments.ablation import Preset, cells_of, run_ablation
from physground.experiments.report import CSV_COLUMNS, summarise
from physground.experiments.stats import bootstrap_ci, bootstrap_replicates, bootstrap_statistic, independent_difference_ci


@pytest.fixture(scope="module")
def micro(tmp_path_factory, llava_dir):
    preset = Preset.load("micro", vlm=str(llava_dir))
    out = tmp_path_factory.mktemp("ablation") / "micro"
    summary = run_ablation(preset, str(out), workers=1, progress=False)
    return preset, out, summary


def test_micro_ablation_writes_every_output_with_the_right_columns(micro):
    preset, out, summary = micro
    for name in ("transfer.csv", "transfer.md", "summary.json", "heatmap.png", "curves.png"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "transfer.csv").open()))
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == len(cells_of(preset)) * len(preset.test_tasks)
    assert {r["agent"] for r in rows} == set(preset.agents)
    assert {r["train_task"] for r in rows if r["agent"] == "vlm-zero-shot"} == {"none"}
    assert all(0.0 <= float(r["accuracy"]) <= 1.0 and int(r["episodes"]) == preset.eval_episodes for r in rows)
    md = (out / "transfer.md").read_text()
    assert "## Summary" in md and "within-task" in md and "## hybrid-task-code-oracle" in md and "[" in md
    assert "Chance-normalised" in md and "TowerStability 50.0 %" in md and (out / "chance.json").exists()
    assert set(summary["agents"]) == set(preset.agents)
    assert (out / "cells" / "vlm-ppo__TowerStability__0" / "tb").exists(), "TensorBoard logs per cell"


def test_other_phrasings_and_composed_tasks_are_evaluated_and_reported(tmp_path, llava_dir):
    (tmp_path / "p.yaml").write_text(
        "name: questions\nagents: [vlm-zero-shot, hybrid-task-code-oracle]\ntrain_tasks: [TowerStability]\ntest_tasks: [TowerStability]\n"
        "test_phrasings: [canonical, paraphrase]\ncomposed_tasks: [PushZone]\nseeds: [0]\nsteps: {hybrid-task-code-oracle: 8}\n"
        "eval_episodes: 2\nnum_envs: 2\nimage_size: 64\nppo: {num_steps: 4}\n"
    )
    preset = Preset.load(str(tmp_path / "p.yaml"), vlm=str(llava_dir))
    out = tmp_path / "out"
    summary = run_ablation(preset, str(out), workers=1, progress=False)
    rows = list(csv.DictReader((out / "transfer.csv").open()))
    keys = {(r["agent"], r["test_task"]) for r in rows}
    assert keys == {("vlm-zero-shot", "TowerStability"), ("vlm-zero-shot", "TowerStability@paraphrase"), ("vlm-zero-shot", "PushZone"),
                    ("hybrid-task-code-oracle", "TowerStability"), ("hybrid-task-code-oracle", "TowerStability@paraphrase")}, "hybrids are told their task: no composed tasks"
    md = (out / "transfer.md").read_text()
    assert "## Phrasings" in md and "| hybrid-task-code-oracle | paraphrase |" in md and "## Composed tasks" in md and "PushZone 50.0 %" in md
    assert set(summary["phrasings"]) == {"canonical", "paraphrase"} and set(summary["composed"]) == {"vlm-zero-shot"}
    with pytest.raises(ValueError, match="test_phrasings must start with 'canonical'"):
        Preset.load(str(tmp_path / "p.yaml"), test_phrasings=["heldout"])
    with pytest.raises(ValueError, match="composed_tasks lists 'RollOff', which is not a composed task"):
        Preset.load(str(tmp_path / "p.yaml"), composed_tasks=["RollOff"])


@pytest.mark.slow  # 15-70 s on the 2-core CI box: `make test-slow`
def test_resume_skips_finished_cells_and_same_seed_gives_the_same_csv(micro, tmp_path, llava_dir, monkeypatch, capsys):
    import physground.experiments.ablation as ablation

    preset, out, _ = micro
    stamp = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")}
    run_ablation(preset, str(out), resume=True, progress=False)
    assert {p: p.stat().st_mtime_ns for p in out.glob("cells/*/cell.json")} == stamp, "finished cells are not recomputed"
    with pytest.raises(ValueError, match="--resume"):
        run_ablation(preset, str(out), progress=False)
    again = tmp_path / "again"  # the trained agents' cells again, two at a time in fresh processes, their evaluation episodes drawn first
    monkeypatch.setattr(ablation, "PREFILL_MIN_PARALLEL", 2)
    run_ablation(preset, str(again), workers=2, progress=True, only_agents=("vlm-ppo", "hybrid-task-code-oracle"))
    assert "evaluation episodes' resets" in capsys.readouterr().out
    rows = lambda path: [r for r in path.read_text().splitlines()[1:] if r.split(",")[0] in ("vlm-ppo", "hybrid-task-code-oracle")]  # noqa: E731
    assert rows(again / "transfer.csv") == rows(out / "transfer.csv") and len(rows(out / "transfer.csv")) == 8


def test_cell_processes_get_the_worker_environment_without_overriding_the_users(monkeypatch):
    from physground.experiments.ablation import WORKER_ENV, worker_environment

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    with worker_environment():
        assert os.environ["MALLOC_ARENA_MAX"] == WORKER_ENV["MALLOC_ARENA_MAX"] == "2"
    assert "MALLOC_ARENA_MAX" not in os.environ
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    with worker_environment():
        assert os.environ["MALLOC_ARENA_MAX"] == "4"
    assert os.environ["MALLOC_ARENA_MAX"] == "4"


def test_cells_start_from_a_preloading_fork_server_where_there_is_one():
    import importlib
    import multiprocessing

    from physground.experiments.ablation import CELL_PRELOAD, cell_process_context

    for module in CELL_PRELOAD:  # the fork server skips a module it cannot import without a word
        importlib.import_module(module)
    context = cell_process_context("cpu")
    if "forkserver" in multiprocessing.get_all_start_methods():
        assert context.get_start_method() == "forkserver"
        assert {"torch", "transformers", "mujoco", "physground.agent.evaluation"} <= set(CELL_PRELOAD)
    else:
        assert context.get_start_method() == "spawn"
    assert cell_process_context("cuda").get_start_method() == "spawn", "GPU cells: forking after these imports is unchecked there"


def test_bootstrap_interval_on_known_data():
    point, low, high = bootstrap_ci([[1.0] * 50, [0.0] * 50], n=4000)
    assert point == 0.5 and low == 0.0 and high == 1.0, "two seeds that disagree completely: the interval spans both"
    rng = np.random.default_rng(0)
    point, low, high = bootstrap_ci([rng.binomial(1, 0.7, 400), rng.binomial(1, 0.7, 400)], n=4000)
    assert low < 0.7 < high and high - low < 0.12
    assert bootstrap_ci([[1.0, 1.0], [1.0]])[1:] == (1.0, 1.0)
    cells = {("a", "a"): {0: [1.0] * 10, 1: [1.0] * 10}, ("a", "b"): {0: [0.0] * 10, 1: [0.0] * 10}}
    assert bootstrap_statistic([0, 1], cells, lambda m: m[("a", "a")] - m[("a", "b")]) == (1.0, 1.0, 1.0)


def test_seeds_that_share_their_evaluation_episodes_do_not_count_as_more_episodes():
    episodes = np.random.default_rng(1).binomial(1, 0.8, 100).astype(float)
    width = lambda ci: ci[2] - ci[1]  # noqa: E731
    one_seed = width(bootstrap_ci([episodes], n=4000))
    shared = width(bootstrap_ci([episodes] * 3, n=4000, shared_episodes=True))
    nested = width(bootstrap_ci([episodes] * 3, n=4000))
    assert shared == pytest.approx(one_seed, rel=0.15), "three identical runs over the same 100 episodes carry one run's information"
    assert shared > 1.4 * nested, "drawing episodes per seed treats them as 300 episodes"
    with pytest.raises(ValueError, match=r"same number of episodes for every seed, got \[3, 4\]"):
        bootstrap_ci([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0]], shared_episodes=True)
    # two training tasks' cells on the same test task, identical outcomes: their difference is 0 in every resample
    cells = {("a", "t"): {0: list(episodes), 1: list(episodes)}, ("b", "t"): {0: list(episodes), 1: list(episodes)}}
    diff = lambda m: m[("a", "t")] - m[("b", "t")]  # noqa: E731
    assert bootstrap_statistic([0, 1], cells, diff, episodes_shared_by=lambda key: key[1]) == (0.0, 0.0, 0.0)
    assert width(bootstrap_statistic([0, 1], cells, diff)) > 0.05
    cells[("b", "t")][1] = [1.0, 0.0]
    with pytest.raises(ValueError, match=r"cells sharing the episodes of 't' hold different episode counts: \[2, 100\]"):
        bootstrap_statistic([0, 1], cells, diff, episodes_shared_by=lambda key: key[1])


def test_a_difference_of_two_independent_bootstraps_is_wider_than_either():
    rng = np.random.default_rng(2)
    a = {("x", "t"): {0: list(rng.binomial(1, 0.8, 100)), 1: list(rng.binomial(1, 0.8, 100))}}
    b = {("x", "t"): {0: list(rng.binomial(1, 0.5, 100)), 1: list(rng.binomial(1, 0.5, 100))}}
    mean = lambda m: m[("x", "t")]  # noqa: E731
    ra, rb = bootstrap_replicates([0, 1], a, mean, seed=0), bootstrap_replicates([0, 1], b, mean, seed=1)
    assert ra[1].shape == (2000,) and ra[0] == pytest.approx(np.mean([np.mean(v) for v in a[("x", "t")].values()]))
    point, low, high = independent_difference_ci(ra, rb)
    assert point == pytest.approx(ra[0] - rb[0]) and low < point < high and low > 0, "0.8 vs 0.5 on 200 episodes each: clearly apart"
    wa, wb = (bootstrap_statistic([0, 1], c, mean, seed=s) for c, s in ((a, 0), (b, 1)))
    assert high - low > max(wa[2] - wa[1], wb[2] - wb[1]), "the difference carries both sides' uncertainty"
    assert bootstrap_statistic([0, 1], a, mean, seed=0)[0] == ra[0], "bootstrap_statistic is the interval of the same replicates"
    with pytest.raises(ValueError, match="same number of replicates, got 2000 and 10"):
        independent_difference_ci(ra, bootstrap_replicates([0, 1], b, mean, n=10))


def test_summary_scopes_separate_yes_no_training_from_action_training():
    # one agent, two seeds; every outcome is constant so each mean is exact
    score = {("TowerStability", "TowerStability"): 1.0, ("TowerStability", "RollOff"): 0.8, ("Catch", "Catch"): 0.6, ("Catch", "RollOff"): 0.2, ("Catch", "TowerStability"): 0.4}
    cells = [
        {"agent": "a", "seed": seed, "train_task": train, "results": {test: {"successes": [v] * 4} for (tr, test), v in score.items() if tr == train}}
        for seed in (0, 1) for train in ("TowerStability", "Catch")
    ]
    s = summarise(None, cells)["a"]
    assert s["all"]["within"][0] == pytest.approx(0.8) and s["all"]["cross"][0] == pytest.approx((0.8 + 0.2 + 0.4) / 3)
    assert s["yes_no"]["within"][0] == pytest.approx(1.0) and s["yes_no"]["cross"][0] == pytest.approx(0.8), "Catch rows are not yes/no training"
    assert s["yes_no"]["gap"][0] == pytest.approx(0.2)
    assert s["to_yes_no"]["cross"][0] == pytest.approx((0.8 + 0.2 + 0.4) / 3), "any training task, tested on yes/no tasks"


def test_invalid_answers_are_reported_per_vlm_agent_and_test_task_in_generate_mode():
    from types import SimpleNamespace

    from physground.experiments.report import invalid_answer_lines

    result = lambda bad, n: {"invalid_answers": bad, "episodes": n}  # noqa: E731
    cells = [
        {"agent": "vlm-grpo", "seed": 0, "train_task": "RollOff", "results": {"TowerStability": result(3, 10), "RollOff": result(0, 10)}},
        {"agent": "vlm-grpo", "seed": 1, "train_task": "RollOff", "results": {"TowerStability": result(1, 10), "RollOff": result(5, 10)}},
        {"agent": "cue-count", "seed": 0, "train_task": "RollOff", "results": {"TowerStability": result(0, 10), "RollOff": result(0, 10)}},
    ]
    preset = SimpleNamespace(test_tasks=("TowerStability", "RollOff"), answer_format="tagged")
    lines = invalid_answer_lines(preset, cells)
    assert "| vlm-grpo | 20.0 | 25.0 | 22.5 |" in lines and not any("cue-count" in line for line in lines)
    assert any("`tagged`" in line for line in lines)


def test_chance_normalised_summaries_subtract_each_test_task_s_chance():
    score = {("TowerStability", "TowerStability"): 1.0, ("TowerStability", "Catch"): 0.4, ("Catch", "Catch"): 0.7, ("Catch", "TowerStability"): 0.5}
    cells = [
        {"agent": "a", "seed": seed, "train_task": train, "results": {test: {"successes": [v] * 4} for (tr, test), v in score.items() if tr == train}}
        for seed in (0, 1) for train in ("TowerStability", "Catch")
    ]
    s = summarise(None, cells, chance={"TowerStability": 0.5, "Catch": 0.25})["a"]["all"]
    assert s["within_normalised"][0] == pytest.approx(((1.0 - 0.5) / 0.5 + (0.7 - 0.25) / 0.75) / 2)
    assert s["cross_normalised"][0] == pytest.approx(((0.4 - 0.25) / 0.75 + 0.0) / 2), "at chance scores 0"
    assert s["gap_normalised"][0] == pytest.approx(s["within_normalised"][0] - s["cross_normalised"][0])
    assert "within_normalised" not in summarise(None, cells)["a"]["all"], "no chance levels, no normalised scores"


def test_chance_is_half_on_yes_no_tasks_and_measured_on_action_tasks():
    from physground.agent.evaluation import chance_level

    assert chance_level("RollOff", 4) == {"chance": 0.5, "per_episode": [0.5] * 4, "episodes": 4, "seed": 50_000_000, "exact": True}
    push = chance_level("Push", 3)
    assert 0.0 < push["chance"] < 0.5 and all(v * 7 == round(v * 7) for v in push["per_episode"]), "exact: a whole number of the 7 strengths succeed"
    assert chance_level("Catch", 2, rollouts=4) == chance_level("Catch", 2, rollouts=4), "seeded estimate"


def test_bad_presets_are_refused_naming_the_problem(tmp_path):
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        Preset.load("huge")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents: [vlm-ppo, robot]\ntrain_tasks: [TowerStability]\ntest_tasks: all\nseeds: [0]\nsteps: {vlm-ppo: 1}\n")
    with pytest.raises(ValueError, match="unknown agent 'robot'"):
        Preset.load(str(bad))
    bad.write_text("name: x\nagents: [vlm-ppo]\ntrain_tasks: [Jenga]\ntest_tasks: all\nseeds: [0]\nsteps: {vlm-ppo: 1}\n")
    with pytest.raises(ValueError, match="unknown task 'Jenga'"):
        Preset.load(str(bad))
    bad.write_text("name: x\nagents: [vlm-ppo]\ntrain_tasks: [TowerStability]\ntest_tasks: all\nseeds: [0]\nsteps: {}\nspeed: 3\n")
    with pytest.raises(ValueError, match="unknown field 'speed'"):
        Preset.load(str(bad))
    for name in ("quick", "full", "micro"):
        assert Preset.load(name).name == name


def test_a_preset_s_anti_aliasing_is_validated_recorded_and_reaches_its_cells(micro, tmp_path):
    import json

    preset, out, _ = micro
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nagents: [vlm-ppo]\ntrain_tasks: [TowerStability]\ntest_tasks: all\nseeds: [0]\nsteps: {vlm-ppo: 1}\nmultisamples: 17\n")
    with pytest.raises(ValueError, match="bad.yaml.*multisamples must be an integer in \\[0, 16\\], got 17"):
        Preset.load(str(bad))
    assert json.loads((out / "preset.json").read_text())["multisamples"] == preset.multisamples
    for config in out.glob("cells/*/config.json"):
        assert json.loads(config.read_text())["agent"]["multisamples"] == preset.multisamples, config


def test_an_ablation_recorded_before_anti_aliasing_resumes_only_with_aliased_renders(micro):
    import dataclasses
    import json

    from physground.experiments.ablation import is_recorded_preset

    preset, out, _ = micro
    assert is_recorded_preset(json.loads((out / "preset.json").read_text()), preset)
    legacy = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(preset, multisamples=0))))  # as read from preset.json
    del legacy["multisamples"]
    assert is_recorded_preset(legacy, dataclasses.replace(preset, multisamples=0))
    assert not is_recorded_preset(legacy, dataclasses.replace(preset, multisamples=4))


@pytest.mark.slow  # 10-20 s on the 2-core CI box: `make test-slow`
def test_a_cell_does_not_depend_on_what_ran_before_it_in_the_process(tmp_path, llava_dir):
    import torch

    from physground.experiments.ablation import Cell, run_cell

    preset = Preset.load("micro", vlm=str(llava_dir))
    first = run_cell(preset, Cell("hybrid-task-code-oracle", "TowerStability", 0), str(tmp_path / "a"))
    torch.manual_seed(12345)
    torch.rand(1000)  # whatever an earlier cell may have consumed
    second = run_cell(preset, Cell("hybrid-task-code-oracle", "TowerStability", 0), str(tmp_path / "b"))
    untimed = lambda h: [{k: v for k, v in r.items() if k != "sps"} for r in h]  # noqa: E731
    assert first["results"] == second["results"] and untimed(first["history"]) == untimed(second["history"])


def test_cells_run_seed_by_seed_and_go_round_the_gpus(monkeypatch):
    from physground.experiments.ablation import gpus_for_cells, visible_gpus

    preset = Preset.load("quick")
    cells = cells_of(preset)
    per_seed = len(cells) // len(preset.seeds)
    assert {c.seed for c in cells[:per_seed]} == {preset.seeds[0]} and {c.seed for c in cells[per_seed:]} == {preset.seeds[1]}
    assert sum(c.agent == "vlm-zero-shot" for c in cells[:per_seed]) == 1
    assert gpus_for_cells(5, ["2", "3"]) == ["2", "3", "2", "3", "2"]
    assert gpus_for_cells(3, ["0"]) == [None, None, None] and gpus_for_cells(2, []) == [None, None]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4, 6")
    assert visible_gpus() == ["4", "6"]


def test_only_agents_runs_a_part_of_the_grid_and_refuses_unknown_agents(tmp_path, llava_dir):
    preset = Preset.load("micro", vlm=str(llava_dir))
    out = tmp_path / "part"
    summary = run_ablation(preset, str(out), progress=False, only_agents=("vlm-zero-shot",))
    assert {p.parent.name.split("__")[0] for p in out.glob("cells/*/cell.json")} == {"vlm-zero-shot"}
    assert set(summary["agents"]) == {"vlm-zero-shot"}
    with pytest.raises(ValueError, match=r"--agents: 'vlm-grpo' is not an agent of preset 'micro'"):
        run_ablation(preset, str(out), resume=True, progress=False, only_agents=("vlm-grpo",))


def test_the_grid_has_no_grpo_cell_for_a_multi_step_task_and_train_agent_refuses_one():
    from physground.agent.factory import AgentSpec

    cells = cells_of(Preset.load("full"))
    assert not [c for c in cells if c.agent == "vlm-grpo" and c.train_task == "Catch"]
    assert {c.train_task for c in cells if c.agent == "vlm-grpo"} == {"TowerStability", "TowerBuild", "BlockRemoval", "RollOff", "Push"}
    assert {c.train_task for c in cells if c.agent == "vlm-ppo"} >= {"Catch"}
    with pytest.raises(ValueError, match="vlm-grpo trains on one-step tasks only .* Catch is multi-step: use vlm-ppo"):
        AgentSpec("vlm-grpo", "Catch")


@pytest.mark.slow  # 10-20 s on the 2-core CI box: `make test-slow`
def test_a_failing_cell_does_not_stop_the_others_and_is_named(micro, tmp_path, monkeypatch):
    import shutil

    import physground.experiments.ablation as ablation

    preset, out, _ = micro
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "transfer.csv").unlink()
    lost = sorted(copy.glob("cells/*/cell.json"))[:2]
    for p in lost:
        p.unlink()

    def fail_first(preset, cell, out):  # noqa: ANN001, ANN202
        if cell.name == lost[0].parent.name:
            raise ValueError("simulated failure")
        return real(preset, cell, out)

    real = ablation.run_cell
    monkeypatch.setattr(ablation, "run_cell", fail_first)
    with pytest.raises(RuntimeError, match=rf"1 of 2 cells failed.*{lost[0].parent.name} \(ValueError: simulated failure\)"):
        run_ablation(preset, str(copy), resume=True, progress=False)
    assert lost[1].exists(), "the other cell ran"
    assert (copy / "transfer.csv").exists(), "the reports cover the finished cells"
