"""Training episodes' seeds (agent.episode_seeds): one stream per run seed, shared by the trainers."""

from __future__ import annotations

import pytest
import torch

from physground.agent.configs import PPOConfig
from physground.agent.episode_seeds import TRAINING_SEEDS, EpisodeSeeds, episode_seed
from physground.agent.evaluation import EVAL_SEED
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.agent.ppo import train_ppo
from physground.agent.run import RunDir
from physground.agent.sft import expert_examples
from physground.envs.files import exclusive_lock


def test_streams_of_different_run_seeds_are_independent_and_below_the_evaluation_seeds():
    first, second = ([episode_seed(s, e) for e in range(2000)] for s in (0, 1))
    assert first == [episode_seed(0, e) for e in range(2000)], "deterministic"
    assert all(0 <= x < TRAINING_SEEDS for x in first + second) and TRAINING_SEEDS <= EVAL_SEED
    assert len(set(first)) == 2000
    # consecutive run seeds used to share all but one env stream (seed + i); now they share nothing
    assert len(set(first) & set(second)) <= 1


def test_unseeded_resets_follow_the_stream_and_explicit_seeds_pass_through():
    plain = env_factory("RollOff", 32, 1)()
    env = EpisodeSeeds(env_factory("RollOff", 32, 1)(), run_seed=3, index=1, stride=4)
    for k in range(3):
        _, info = env.reset()
        _, expected = plain.reset(seed=episode_seed(3, 1 + 4 * k))
        assert info["scene"] == expected["scene"] and info["label"] == expected["label"]
    _, info = env.reset(seed=7)
    assert info["scene"] == plain.reset(seed=7)[1]["scene"] and env.resets == 3, "an explicit seed does not advance the stream"
    with pytest.raises(ValueError, match=r"index must be in \[0, 4\), got 4"):
        EpisodeSeeds(plain, 0, index=4, stride=4)


def test_sft_examples_come_from_the_run_seed_s_stream():
    examples = expert_examples("RollOff", 3, seed=5, image_size=32)
    env = env_factory("RollOff", 32)()
    for e, example in enumerate(examples):
        obs, _ = env.reset(seed=episode_seed(5, e))
        assert example.prompt == obs["prompt"] and (example.image == obs["image"]).all()


def _train(out, reset_cache=None) -> dict[str, torch.Tensor]:  # noqa: ANN001
    torch.manual_seed(0)
    policy = build_policy(AgentSpec("hybrid-task-code-oracle", "TowerStability"))
    config = PPOConfig(total_steps=16, num_envs=2, num_steps=4, num_minibatches=2, update_epochs=1, lr=1e-2)
    fns = [env_factory("TowerStability", 32, 1, reset_cache=reset_cache)] * 2
    train_ppo(policy, fns, config, RunDir(out), seed=4, progress=False)
    return policy.trainable_state()


@pytest.mark.slow  # 15-70 s on the 2-core CI box: `make test-slow`
def test_ppo_trains_on_the_stream_and_a_reset_cache_changes_nothing(tmp_path):
    plain = _train(tmp_path / "plain")
    cold = _train(tmp_path / "cold", tmp_path / "cache")
    entries = sorted(int(p.stem) for p in (tmp_path / "cache").rglob("*.json"))
    # 16 one-step episodes drawn, plus the two envs' next ones (SAME_STEP autoreset resets at once)
    assert entries == sorted(episode_seed(4, j) for j in range(18))
    for lock in (tmp_path / "cache").rglob("*.lock"):  # released: free to take at once
        with exclusive_lock(lock, "test"):
            pass
    warm = _train(tmp_path / "warm", tmp_path / "cache")
    assert plain.keys() == cold.keys() == warm.keys()
    assert all(torch.equal(plain[k], cold[k]) and torch.equal(plain[k], warm[k]) for k in plain)
