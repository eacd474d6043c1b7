"""Scene cues and the stratified balance of the yes/no tasks (v1) against v0."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from physground import envs
from physground.envs.cues import CUES, cue_features, cue_stratum, feature_size, present
from physground.envs.scene import BLOCK_SIZE
from tests.conftest import YES_NO_TASKS


def test_cues_read_the_scene_they_describe(make_env):
    env = make_env("TowerStability")
    _, info = env.reset(seed=3)
    scene = info["scene"]
    blocks = [o for o in scene["objects"] if o["shape"] == "cube"]
    count = CUES["count"](scene)
    assert count.sum() == 1 and int(np.argmax(count)) == len(blocks) - 1
    lean = abs(blocks[-1]["position"][0] - blocks[0]["position"][0]) / BLOCK_SIZE
    assert int(np.argmax(CUES["top-offset"](scene))) == min(int(lean / 0.2), 15)
    assert not present(scene, ("surface", "zone", "asked"))
    assert cue_features(scene, ("count", "surface")).shape == (feature_size(("count", "surface")),)
    roll = make_env("RollOff")
    _, info = roll.reset(seed=0)
    assert CUES["surface"](info["scene"])[list(envs.scene.SURFACES).index(info["scene"]["meta"]["surface"])] == 1


def test_cue_errors_name_the_bad_cue():
    with pytest.raises(ValueError, match="unknown cue 'colour'"):
        cue_features({"objects": [], "meta": {}}, ("colour",))


def test_every_yes_no_task_balances_on_cues_its_scenes_show(make_env):
    for task in YES_NO_TASKS:
        cls = envs.TASKS[task].env_class
        assert cls.balance_cues, task
        env = make_env(task)
        scene = env.propose_scene(seed=0)
        for cue in cls.balance_cues:
            assert present(scene, (cue,)), (task, cue)


def test_versions_are_registered_and_resolved():
    spec = envs.task_spec("physground/TowerStability-v0")
    assert spec.name == "TowerStability" and spec.env_id == "physground/TowerStability-v1"
    assert gym.make("physground/TowerStability-v0").unwrapped.config.stratified is False
    assert gym.make("physground/TowerStability-v1").unwrapped.config.stratified is True
    assert envs.task_spec("Push").env_id_at(1) == "physground/Push-v0"  # no v1: the newest version not above 1
    with pytest.raises(ValueError, match="task version must be an integer in \\[0, 1\\], got 2"):
        spec.env_id_at(2)


def test_stratified_draw_answers_as_asked_from_a_stratum_with_both_answers(make_env):
    """v1's draw returns the wanted answer, from a stratum in which the other answer occurred too."""
    env = make_env("RollOff", stratified=True)
    env.reset(seed=0)
    seen: list[tuple[tuple[int, ...], bool]] = []
    outcome = env.outcome

    def recording_outcome(scene, action, **kwargs):
        start, end, events = outcome(scene, action, **kwargs)
        seen.append((cue_stratum(scene, env.balance_cues), bool(events["answer"])))
        return start, end, events

    env.outcome = recording_outcome
    for want in (True, False, True, False):
        seen.clear()
        scene, _, _, happens = env._stratified_draw(want)
        stratum = cue_stratum(scene, env.balance_cues)
        assert happens == want and {a for s, a in seen if s == stratum} == {True, False}
    v0 = make_env("RollOff")
    assert v0.reset(seed=5)[1]["scene"] == make_env("RollOff").reset(seed=5)[1]["scene"]


@pytest.mark.slow  # 15-70 s on the 2-core CI box: `make test-slow`
def test_stratified_draw_removes_the_surface_shortcut():
    """The cue baseline of RollOff's surface: far above chance on v0, at chance on v1 (150
    episodes each; the 2,000-episode check of every task is the slow test below)."""
    from physground.agent.cue_measurement import measure

    before = measure("RollOff", 0, 150, 150)["cue-surface"]["accuracy"]
    after = measure("RollOff", 1, 150, 150)["cue-surface"]["accuracy"]
    assert before >= 0.65 and after <= 0.6


PUSH_OFF_START = pytest.mark.xfail(strict=True, reason="surface, strength and the block's start fix PushOff's answer: with the first two balanced, the start decides")


@pytest.mark.slow
@pytest.mark.parametrize("task", [pytest.param(t, marks=PUSH_OFF_START) if t == "PushOff" else t for t in YES_NO_TASKS])
def test_no_cue_predicts_a_v1_answer(task):
    """The issue's bar: on 2,000 evaluation episodes (fit on 2,000 others) every cue baseline of a
    yes/no task at v1 scores at most 60 %."""
    import os

    from physground.agent.cue_measurement import measure

    results = measure(task, 1, 2000, 2000, workers=os.cpu_count() or 1)
    assert {agent: r["accuracy"] for agent, r in results.items() if r["accuracy"] > 0.6} == {}
