"""Drawing an ablation's evaluation episodes up front (experiments.evaluation_resets)."""

from __future__ import annotations

import pytest

from physground.agent.evaluation import EVAL_SEED
from physground.agent.factory import env_factory
from physground.experiments.ablation import Preset
from physground.experiments.evaluation_resets import evaluation_envs, prefill_evaluation_resets


def test_the_env_kinds_are_those_the_cells_evaluate_on():
    quick = Preset.load("quick")
    kinds = evaluation_envs(quick, quick.agents)
    assert len(kinds) == 2 * 3 * 6 + 6 == len(set(kinds)), "rendered and unrendered (cue) test envs on 3 splits, the composed tasks once"
    assert ("PushOff", "canonical", True) in kinds and ("PushOff", "canonical", False) not in kinds, "cue baselines never meet the composed tasks"
    assert ("RollOff", "paraphrase", False) in kinds
    assert evaluation_envs(quick, ["cue-all"]) == [(t, s, False) for s in quick.test_phrasings for t in quick.test_tasks]


@pytest.mark.parametrize("workers", [1, 2])
def test_prefilled_resets_are_all_replayed_and_a_second_prefill_draws_nothing(tmp_path, workers):
    preset = Preset.load("micro", task_version=1, eval_episodes=2)
    kinds = evaluation_envs(preset, preset.agents)
    assert prefill_evaluation_resets(preset, preset.agents, tmp_path, workers) == len(kinds) * 2
    assert prefill_evaluation_resets(preset, preset.agents, tmp_path, workers) == 0
    task, phrasing, render = kinds[-1]
    env = env_factory(task, preset.image_size, preset.multisamples, phrasing, preset.task_version, render=render, reset_cache=tmp_path)()
    for seed in (EVAL_SEED, EVAL_SEED + 1):
        env.reset(seed=seed)
    assert (env.hits, env.misses) == (2, 0), "a cell then replays every evaluation reset"
    env.close()


def test_a_stop_request_cancels_the_draws_not_started(tmp_path):
    preset = Preset.load("micro", task_version=1, eval_episodes=4)
    assert prefill_evaluation_resets(preset, preset.agents, tmp_path, 2, should_stop=lambda: True) < len(evaluation_envs(preset, preset.agents)) * 4
