"""Trainers end to end: learning, determinism, exact resume after a signal, logs, bad input."""

from __future__ import annotations

import os
import signal

import gymnasium as gym
import pytest
import torch

import physground.agent.ppo as ppo_module
from physground.agent.factory import AgentSpec, build_policy, env_factory
from physground.agent.grpo import GRPOConfig, train_grpo
from physground.agent.policies import MLPPolicy
from physground.agent.ppo import PPOConfig, train_ppo
from physground.agent.run import RunDir, TrainerCallback, TrainingError

SMALL = PPOConfig(total_steps=4 * 8 * 32, num_envs=8, num_steps=32, update_epochs=2, checkpoint_every=1)


class SignalAfter(TrainerCallback):
    """Sends this process ``signum`` after update ``update`` (a real signal, caught by the trainer);
    records what the trainer reported."""

    def __init__(self, update: int | None = None, signum: int = signal.SIGTERM) -> None:
        self.update, self.signum = update, signum
        self.updates: list[int] = []
        self.checkpoints: list[int] = []

    def on_update(self, run, update, record):
        self.updates.append(update)
        if update == self.update:
            os.kill(os.getpid(), self.signum)

    def on_checkpoint(self, run, update):
        assert run.has_checkpoint()
        self.checkpoints.append(update)


def cartpole_run(path, seed=3, config=SMALL, resume=False, callbacks=()):
    torch.manual_seed(0)
    policy = MLPPolicy(4, 2)
    metrics = train_ppo(policy, [lambda: gym.make("CartPole-v1")] * config.num_envs, config, RunDir(path), seed=seed, resume=resume, progress=False,
                        callbacks=callbacks)
    return policy, metrics


def params(policy):
    return {k: v.clone() for k, v in policy.state_dict().items()}


def test_same_seed_gives_identical_parameters_and_metrics(tmp_path):
    a, ma = cartpole_run(tmp_path / "a")
    b, mb = cartpole_run(tmp_path / "b")
    for k, v in params(a).items():
        assert torch.equal(v, params(b)[k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "sps"} for r in h]  # noqa: E731
    assert strip(ma["history"]) == strip(mb["history"])
    c, _ = cartpole_run(tmp_path / "c", seed=4)
    assert not all(torch.equal(v, params(c)[k]) for k, v in params(a).items())


def test_a_run_stopped_by_sigterm_resumes_to_the_uninterrupted_result(tmp_path):
    watch = SignalAfter()
    reference, ref_metrics = cartpole_run(tmp_path / "whole", callbacks=[watch])
    assert watch.updates == [1, 2, 3, 4] and watch.checkpoints == [1, 2, 3, 4]  # checkpoint_every=1
    stop = SignalAfter(update=2)
    _, partial = cartpole_run(tmp_path / "cut", callbacks=[stop])
    assert partial["updates"] == 2 and not partial["finished"] and stop.checkpoints == [1, 2]
    resumed, metrics = cartpole_run(tmp_path / "cut", resume=True)
    assert metrics["finished"] and metrics["updates"] == 4
    for k, v in params(reference).items():
        assert torch.equal(v, params(resumed)[k]), k
    strip = lambda h: [{k: v for k, v in r.items() if k != "sps"} for r in h]  # noqa: E731
    assert strip(metrics["history"]) == strip(ref_metrics["history"])


def test_parameters_change_after_an_update_and_tensorboard_tags_exist(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    before = params(MLPPolicy(4, 2))
    policy, _ = cartpole_run(tmp_path / "run", config=PPOConfig(total_steps=256, num_envs=8, num_steps=32, update_epochs=1))
    assert any(not torch.equal(v, params(policy)[k]) for k, v in before.items())
    events = EventAccumulator(str(tmp_path / "run" / "tb"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"charts/episodic_return", "charts/sps", "charts/learning_rate", "losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/approx_kl", "losses/clipfrac", "losses/explained_variance"} <= scalars
    assert (tmp_path / "run" / "metrics.json").exists()


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    original = ppo_module.ppo_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        loss, stats = original(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan"), stats) if calls["n"] > 2 * 8 * 2 else (loss, stats)  # after two updates

    monkeypatch.setattr(ppo_module, "ppo_loss", poisoned)
    with pytest.raises(TrainingError, match="non-finite PPO loss .* last good checkpoint: update 2"):
        cartpole_run(tmp_path / "nan")
    state, _, _ = RunDir(tmp_path / "nan").load_checkpoint()
    assert state["update"] == 2


def test_corrupted_checkpoints_are_refused(tmp_path):
    cartpole_run(tmp_path / "run", config=PPOConfig(total_steps=256, num_envs=8, num_steps=32, update_epochs=1))
    run = RunDir(tmp_path / "run")
    (run.checkpoint / "tensors.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(ValueError, match="corrupted checkpoint: cannot read .*tensors.safetensors"):
        run.load_checkpoint()
    (run.checkpoint / "state.json").write_text("{ nope")
    with pytest.raises(ValueError, match="corrupted checkpoint: .*state.json"):
        run.load_checkpoint()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        RunDir(tmp_path / "none").load_checkpoint()


def test_bad_ppo_settings_name_the_field():
    with pytest.raises(ValueError, match="num_minibatches"):
        PPOConfig(num_envs=3, num_steps=5, num_minibatches=4)
    with pytest.raises(ValueError, match="ppo.lr"):
        PPOConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="unknown agent 'robot'"):
        AgentSpec("robot", "TowerStability")
    with pytest.raises(ValueError, match="unknown task 'Jenga'.*TowerStability"):
        AgentSpec("vlm-ppo", "Jenga")


def test_lora_targets_choose_whether_the_vision_tower_gets_adapters(llava_dir):
    def adapted(targets: str) -> set[str]:
        policy = build_policy(AgentSpec("vlm-ppo", "TowerStability", vlm=str(llava_dir), lora_rank=4, lora_targets=targets))
        names = [n for n, p in policy.named_parameters() if p.requires_grad and "lora_" in n]
        return {part for n in names for part in ("vision_tower", "multi_modal_projector", "language_model") if part in n}

    assert adapted("language") == {"language_model"}
    assert adapted("all") == {"vision_tower", "multi_modal_projector", "language_model"}
    with pytest.raises(ValueError, match="unknown LoRA targets 'eyes'; valid: language, all"):
        AgentSpec("vlm-ppo", "TowerStability", lora_targets="eyes")


def test_vlm_ppo_trains_lora_only_and_resumes_exactly_on_a_physground_task(tmp_path, llava_dir):
    spec = AgentSpec("vlm-ppo", "TowerStability", vlm=str(llava_dir), lora_rank=4)
    config = PPOConfig(total_steps=2 * 2 * 4, num_envs=2, num_steps=4, num_minibatches=2, update_epochs=1, lr=1e-2, checkpoint_every=1, gamma=0.99, gae_lambda=0.95)

    def run(path, resume=False, stop_after=None):
        torch.manual_seed(0)
        policy = build_policy(spec)
        frozen = {n: p.clone() for n, p in policy.named_parameters() if not p.requires_grad}
        trained = {n: p.clone() for n, p in policy.named_parameters() if p.requires_grad}
        callbacks = [SignalAfter(stop_after, signal.SIGINT)] if stop_after else []
        train_ppo(policy, [env_factory("TowerStability", 64)] * 2, config, RunDir(path), seed=1, resume=resume, progress=False, callbacks=callbacks)
        return policy, frozen, trained

    policy, frozen, trained = run(tmp_path / "whole")
    assert all(torch.equal(p, frozen[n]) for n, p in policy.named_parameters() if n in frozen), "the base VLM must stay frozen"
    assert any(not torch.equal(p, trained[n]) for n, p in policy.named_parameters() if n in trained)
    run(tmp_path / "cut", stop_after=1)
    resumed, _, _ = run(tmp_path / "cut", resume=True)
    for (n, p), (_, q) in zip(policy.named_parameters(), resumed.named_parameters()):
        assert torch.equal(p, q), n


def test_grpo_updates_the_adapters_on_a_one_step_task(tmp_path, llava_dir):
    torch.manual_seed(0)
    policy = build_policy(AgentSpec("vlm-grpo", "TowerStability", vlm=str(llava_dir), lora_rank=4))
    before = {n: p.clone() for n, p in policy.named_parameters() if p.requires_grad}
    metrics = train_grpo(policy, env_factory("TowerStability", 64), GRPOConfig(updates=1, prompts_per_update=2, group_size=4, lr=1e-2, minibatch=4), RunDir(tmp_path / "g"), seed=0, progress=False)
    assert metrics["finished"] and 0.0 <= metrics["final"]["success_rate"] <= 1.0
    assert any(not torch.equal(p, before[n]) for n, p in policy.named_parameters() if n in before)
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        GRPOConfig(group_size=1)


def test_async_envs_deliver_the_same_observations_as_sync_ones():
    # the prompt is a Text observation: through gymnasium's shared memory it came back as padding
    import numpy as np

    fns = [env_factory("TowerStability", image_size=64) for _ in range(2)]
    sync, worker = ppo_module.make_vector_env(fns, async_envs=False), ppo_module.make_vector_env(fns, async_envs=True)
    try:
        for observations in zip(sync.reset(seed=3)[0].items(), worker.reset(seed=3)[0].items()):
            (key, a), (_, b) = observations
            assert np.array_equal(np.asarray(a), np.asarray(b)), key
        _, _, _, _, info_a = sync.step(np.zeros(2, int))
        obs_b, _, _, _, info_b = worker.step(np.zeros(2, int))
        assert list(obs_b["prompt"]) == ["Will this block tower fall?"] * 2
        assert np.array_equal(info_a["label"], info_b["label"])
    finally:
        sync.close()
        worker.close()
