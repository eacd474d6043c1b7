"""The GRPO throughput comparison measures both trainers on the same episodes (speeds are benchmarks)."""

from __future__ import annotations

import pytest

from physground.agent.grpo_throughput import ThroughputSettings, draw_episodes, physground_samples_per_s, trl_samples_per_s


def test_settings_name_a_bad_value():
    with pytest.raises(ValueError, match=r"minibatch \(5\) must divide prompts_per_update x group_size \(128\)"):
        ThroughputSettings(minibatch=5)
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        ThroughputSettings(group_size=1)
    with pytest.raises(ValueError, match="unknown answer format 'xml'"):
        ThroughputSettings(answer_format="xml")
    with pytest.raises(ValueError, match="updates must be a positive integer, got 0"):
        ThroughputSettings(updates=0)
    with pytest.raises(ValueError, match="accelerator must be cpu or cuda, got 'tpu'"):
        ThroughputSettings(accelerator="tpu")
    assert ThroughputSettings().episodes == 4 * 8 and ThroughputSettings().answers_per_update == 128


@pytest.fixture(scope="module")
def tiny(llava_dir, tmp_path_factory):
    settings = ThroughputSettings(vlm=str(llava_dir), prompts_per_update=2, group_size=2, minibatch=2, updates=1, image_size=32)
    cache = tmp_path_factory.mktemp("resets")
    return settings, cache, draw_episodes(settings, cache)


def test_the_episodes_are_physground_s_grpo_episodes_and_replay_from_the_cache(tiny):
    from physground.agent.episode_seeds import episode_seed
    from physground.agent.factory import env_factory

    settings, cache, episodes = tiny
    assert len(episodes) == settings.episodes
    env = env_factory("TowerStability", settings.image_size, reset_cache=cache)()
    obs, _ = env.reset(seed=episode_seed(settings.seed, 3))
    assert obs["prompt"] == episodes[3]["prompt"] and (obs["image"] == episodes[3]["image"]).all()
    assert env.hits == 1 and env.misses == 0
    env.close()


def test_physground_s_side_times_the_updates_after_the_first(tiny):
    settings, cache, _ = tiny
    got = physground_samples_per_s(settings, cache)
    assert got["samples_timed"] == 4 and got["samples_per_s"] == pytest.approx(4 / got["seconds_timed"])


def test_trl_s_side_trains_on_the_same_episodes(tiny):
    pytest.importorskip("trl")
    settings, cache, episodes = tiny
    got = trl_samples_per_s(settings, cache, episodes)
    assert got["samples_timed"] == 4 and got["samples_per_s"] == pytest.approx(4 / got["seconds_timed"])
