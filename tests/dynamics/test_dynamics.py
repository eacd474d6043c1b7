"""The dynamics model, its data, rollouts, checkpoints and training module."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch

from physground.dynamics.checkpoint import SHIPPED_GNN, SHIPPED_MLP, load_dynamics, save_dynamics
from physground.dynamics.data import (
    CRITICAL_MARGINS,
    PROP_DIM,
    PlaySettings,
    TransitionDataset,
    _make_envs,
    cache_key,
    collate_transitions,
    generate_play,
    load_or_generate,
    play_start,
    scene_arrays,
    tower_margin,
    undo_displacement,
)
from physground.dynamics.gnn import (
    DynamicsConfig,
    DynamicsModel,
    InteractionLayer,
    apply_delta,
    axis_angle_to_quat,
    node_features,
    quat_multiply,
    radius_edges,
    state_delta,
)
from physground.dynamics.module import DynamicsModule, PlayDataModule
from physground.dynamics.rollout import imagine, pack_scenes, rollout_states
from physground.envs import BlockRemovalEnv, SceneConfig, TowerStabilityEnv
from physground.envs.scene import BLOCK_SIZE, make_cube, new_scene


@pytest.fixture(scope="module")
def play():
    return generate_play(PlaySettings(n_trajectories=21, seed=5))


@pytest.fixture(scope="module")
def batch(play):
    dataset = TransitionDataset(play, list(range(play.n_trajectories)))
    return collate_transitions([dataset[i] for i in range(0, len(dataset), 9)])


@pytest.fixture
def model(batch):
    torch.manual_seed(0)
    m = DynamicsModel(DynamicsConfig(hidden=32, message_passing=2))
    m.fit_normalisation(batch["state"], batch["next_state"], batch["props"], batch["batch"])
    return m


def test_play_generation_is_deterministic_and_covers_every_scenario(play):
    again = generate_play(PlaySettings(n_trajectories=21, seed=5))
    np.testing.assert_array_equal(play.states, again.states)
    assert set(play.scenarios) == {"tower", "removal", "drop", "push", "poke", "roll", "flight"}
    other = generate_play(PlaySettings(n_trajectories=21, seed=6))
    assert not np.array_equal(play.states[:3], other.states[:3])
    towers = [(play.offsets[i + 1] - play.offsets[i]) for i, s in enumerate(play.scenarios) if s == "tower"]
    assert max(towers) <= 4, "training towers have at most max_tower blocks"


def test_near_edge_scenarios_keep_only_towers_in_their_margin_band():
    envs = _make_envs(6)
    rng = np.random.default_rng(3)
    for scenario, (low, high) in CRITICAL_MARGINS.items():
        starts = [play_start(envs, scenario, rng) for _ in range(12)]
        margins = [tower_margin(s) for s in starts]
        assert all(low <= m < high for m in margins), (scenario, margins)
        assert len(set(margins)) == len(margins), "each start is a different tower"
    removal = play_start(envs, "critical_removal", rng)
    assert "removed" in removal["meta"] and removal["meta"]["removed"]["id"] not in removal["meta"]["tower"]
    unfiltered = [tower_margin(play_start(envs, "tower", rng)) for _ in range(40)]
    assert not all(-0.02 <= m < 0.12 for m in unfiltered), "the plain scenario is not filtered"


def test_cache_has_a_manifest_and_rejects_tampering(tmp_path):
    settings = PlaySettings(n_trajectories=7, seed=1)
    data = load_or_generate(tmp_path, settings)
    folder = next(tmp_path.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["trajectories"] == 7 and len(manifest["sha256"]) == 64
    np.testing.assert_array_equal(load_or_generate(tmp_path, settings).states, data.states)
    (folder / "play.npz").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="does not match its manifest"):
        load_or_generate(tmp_path, settings)


NOISE = (0.001, 0.015, 0.005, 0.1)


def test_perturbed_pairs_leave_the_trajectory_alone_and_hold_mujocos_own_next_state(play):
    settings = PlaySettings(n_trajectories=7, seed=5, perturb=NOISE)
    noisy = generate_play(settings)
    np.testing.assert_array_equal(noisy.states, play.states[: len(noisy.states)])  # recording a pair restores MuJoCo's state
    assert noisy.perturbed.shape == (len(noisy.states), settings.frames - 1, 2, 13)
    static = noisy.props[:, -1] > 0.5
    moved = noisy.perturbed[:, :, 0] - noisy.states[:, :-1]
    assert np.abs(moved[static]).max() == 0.0
    assert 0.0008 < moved[~static][..., 0:3].std() < 0.0012 and 0.012 < moved[~static][..., 7:10].std() < 0.018
    assert not np.allclose(noisy.perturbed[~static][:, :, 1], noisy.states[~static][:, 1:], atol=1e-4), "the next state is the noisy start's own"
    # without noise a pair is the recorded transition: the same simulation from the same state
    exact = generate_play(PlaySettings(n_trajectories=7, seed=5, perturb=(0, 0, 0, 0)))
    np.testing.assert_allclose(exact.perturbed[:, :, 0], exact.states[:, :-1], atol=1e-6, rtol=0)
    np.testing.assert_allclose(exact.perturbed[:, :, 1], exact.states[:, 1:], atol=1e-6, rtol=0)


def test_the_dataset_serves_perturbed_pairs_and_refuses_what_the_data_lacks(play, tmp_path):
    noisy = load_or_generate(tmp_path, PlaySettings(n_trajectories=3, seed=5, perturb=NOISE))
    np.testing.assert_array_equal(load_or_generate(tmp_path, PlaySettings(n_trajectories=3, seed=5, perturb=NOISE)).perturbed, noisy.perturbed)
    frames = noisy.settings.frames
    clean, pairs, both = (TransitionDataset(noisy, [0, 2], pairs=p) for p in ("clean", "perturbed", "both"))
    assert len(clean) == len(pairs) == 2 * (frames - 1) and len(both) == 2 * len(clean)
    state, following, props = pairs[frames - 1 + 4]  # trajectory 2, frame 4
    a, b = noisy.offsets[2], noisy.offsets[3]
    np.testing.assert_array_equal(state, noisy.perturbed[a:b, 4, 0])
    np.testing.assert_array_equal(following[:, 0], noisy.perturbed[a:b, 4, 1])
    np.testing.assert_array_equal(both[len(clean)][0], pairs[0][0])
    undone = TransitionDataset(noisy, [0, 2], pairs="perturbed", undo_displacement=True)[frames - 1 + 4]
    np.testing.assert_array_equal(undone[1][:, 0], undo_displacement(noisy.states[a:b, 4], noisy.perturbed[a:b, 4, 0], noisy.perturbed[a:b, 4, 1]))
    with pytest.raises(ValueError, match="pairs='perturbed' needs play data made with perturb"):
        TransitionDataset(play, [0], pairs="perturbed")
    with pytest.raises(ValueError, match="horizon must be 1, got 2"):
        TransitionDataset(noisy, [0], horizon=2, pairs="both")
    with pytest.raises(ValueError, match="unknown pairs 'noisy'; valid: clean, perturbed, both"):
        TransitionDataset(noisy, [0], pairs="noisy")
    with pytest.raises(ValueError, match="pairs='both' needs perturbed pairs in the play data: set data.perturb"):
        PlayDataModule(cache_dir=str(tmp_path), pairs="both")


def test_undoing_the_displacement_returns_a_body_that_did_not_move_to_its_recorded_pose(play):
    rng = np.random.default_rng(0)
    clean = play.states[:40, 3].copy()
    turn = axis_angle_to_quat(torch.as_tensor(rng.normal(0, 0.05, (40, 3)), dtype=torch.float32))
    perturbed = clean.copy()
    perturbed[:, 0:3] += rng.normal(0, 0.001, (40, 3))
    perturbed[:, 3:7] = quat_multiply(turn, torch.as_tensor(clean[:, 3:7])).numpy()
    perturbed[:, 7:] += 0.1
    np.testing.assert_allclose(undo_displacement(clean, perturbed, perturbed)[:, :7], clean[:, :7], atol=1e-6)  # no motion: back where recorded
    moved = perturbed.copy()
    moved[:, 2] += 0.01
    undone = undo_displacement(clean, perturbed, moved)
    np.testing.assert_allclose(undone[:, 2], clean[:, 2] + 0.01, atol=1e-6)
    np.testing.assert_array_equal(undone[:, 7:], moved[:, 7:])  # velocities are MuJoCo's


@pytest.mark.parametrize("perturb", [(0.001, 0.01, 0.1), (0.001, -0.01, 0.1, 0.1), (0.001, float("nan"), 0.1, 0.1)])
def test_play_settings_refuse_bad_perturbation_scales(perturb):
    with pytest.raises(ValueError, match=r"perturb must be empty or 4 non-negative numbers .* got \("):
        PlaySettings(perturb=perturb)


def test_caches_made_before_perturbed_pairs_keep_their_key():
    assert cache_key(PlaySettings()) == "cf56bf45cadc"  # the key of the default settings before ``perturb`` existed
    assert cache_key(PlaySettings(perturb=NOISE)) != cache_key(PlaySettings())


def test_state_delta_and_apply_delta_are_inverse(batch):
    rebuilt = apply_delta(batch["state"], state_delta(batch["state"], batch["next_state"]))
    torch.testing.assert_close(rebuilt[:, :3], batch["next_state"][:, :3], atol=1e-5, rtol=0)
    torch.testing.assert_close(rebuilt[:, 7:], batch["next_state"][:, 7:], atol=1e-5, rtol=0)
    same = (quat_multiply(rebuilt[:, 3:7], batch["next_state"][:, 3:7] * torch.tensor([1.0, -1, -1, -1])))[:, 0].abs()
    assert torch.all(same > 1 - 1e-5), "orientations agree up to sign"


def test_permuting_objects_permutes_predictions(model, batch):
    mask = batch["batch"] == 0
    state, props = batch["state"][mask], batch["props"][mask]
    perm = torch.randperm(len(state), generator=torch.Generator().manual_seed(1))
    zeros = torch.zeros(len(state), dtype=torch.long)
    out = model(state, props, zeros)
    torch.testing.assert_close(model(state[perm], props[perm], zeros), out[perm], atol=1e-5, rtol=1e-5)


def test_translation_along_the_table_does_not_change_predictions(model, batch):
    shifted = batch["state"].clone()
    shifted[:, 0] += 0.37
    torch.testing.assert_close(model(shifted, batch["props"], batch["batch"]), model(batch["state"], batch["props"], batch["batch"]), atol=1e-5, rtol=1e-5)


def test_lifting_a_whole_scene_high_above_the_table_does_not_change_predictions(model):
    # a five-block-high copy of a standing two-block tower looks the same as a six-block-high one:
    # heights are clipped, so taller towers than in training are not out of the input range
    cubes = [make_cube("cube0", "red", [0.0, 0.0, 5.5 * BLOCK_SIZE]), make_cube("cube1", "blue", [0.01, 0.0, 6.5 * BLOCK_SIZE])]
    _, state, props, batch = pack_scenes([new_scene("TowerStability", cubes)])
    lifted = state.clone()
    lifted[:, 2] += BLOCK_SIZE
    torch.testing.assert_close(model(lifted, props, batch), model(state, props, batch), atol=1e-5, rtol=1e-5)
    # near the table (or falling fast enough to reach it within a step) height still matters
    low = state.clone()
    low[:, 2] -= 5 * BLOCK_SIZE
    assert not torch.allclose(model(low, props, batch), model(state, props, batch), atol=1e-4)
    fast = state.clone()
    fast[:, 9] = -4.0
    features = node_features(fast, props, 0.1)[:, 1]
    assert bool((features < node_features(state, props, 0.1)[:, 1]).all())


def test_edge_features_change_across_message_passing_steps(model, batch):
    edge_index, attr = radius_edges(batch["state"], batch["props"], batch["batch"], model.config.radius)
    assert edge_index.shape[1] > 0
    layer = model.processor[0]
    assert isinstance(layer, InteractionLayer)
    nodes = torch.randn(len(batch["state"]), 32)
    e0 = torch.randn(edge_index.shape[1], 32)
    h1, e1 = layer(nodes, edge_index, e0)
    h2, e2 = model.processor[1](h1, edge_index, e1)
    assert not torch.allclose(e1, e0) and not torch.allclose(e2, e1)
    assert h2.shape == nodes.shape


def test_no_edges_between_far_objects_or_two_static_ones():
    objects = [make_cube("cube0", "red", (0, 0, 0.03)), make_cube("cube1", "blue", (0.3, 0, 0.03)), make_cube("cube2", "green", (0, 0, 0.09))]
    _, state, props, batch = pack_scenes([new_scene("t", objects)])
    edge_index, _ = radius_edges(state, props, batch, 0.06)
    pairs = {tuple(p) for p in edge_index.t().tolist()}
    assert pairs == {(0, 2), (2, 0)}


def test_gradients_reach_the_inputs(model, batch):
    state = batch["state"].clone().requires_grad_(True)
    model(state, batch["props"], batch["batch"]).pow(2).sum().backward()
    assert state.grad is not None and state.grad[:, [0, 2, 7, 9]].abs().sum() > 0


def test_a_tiny_model_overfits_one_trajectory(play):
    torch.manual_seed(0)
    states, props = play.trajectory(0)
    s, n = torch.as_tensor(states[:-1]).reshape(-1, 13), torch.as_tensor(states[1:]).reshape(-1, 13)
    p = torch.as_tensor(props).repeat(states.shape[0] - 1, 1)
    b = torch.arange(states.shape[0] - 1).repeat_interleave(states.shape[1])
    m = DynamicsModel(DynamicsConfig(hidden=64, message_passing=2))
    m.fit_normalisation(s, n, p, b)
    target = (state_delta(s, n) - m.target_mean) / m.target_std
    dynamic = p[:, -1] < 0.5
    optimizer = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(250):
        loss = ((m(s, p, b) - target) ** 2)[dynamic].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.02 * losses[0]


def test_rollouts_have_the_right_shape_keep_statics_and_are_deterministic(model, play):
    states, props = play.trajectory(play.scenarios.index("roll"))
    s0, p = torch.as_tensor(states[0]), torch.as_tensor(props)
    b = torch.zeros(len(s0), dtype=torch.long)
    a, c = rollout_states(model.step, s0, p, b, 7), rollout_states(model.step, s0, p, b, 7)
    assert a.shape == (8, len(s0), 13)
    torch.testing.assert_close(a, c)
    static = p[:, -1] > 0.5
    torch.testing.assert_close(a[-1, static], s0[static])


def test_imagined_scenes_feed_the_tasks_events(model):
    env = TowerStabilityEnv(scene=SceneConfig(render_images=False))
    _, info = env.reset(seed=0)
    frames = imagine(model.step, [info["scene"]], 0.5, 0.1)[0]
    assert len(frames) == 6 and frames[-1]["time"] == pytest.approx(0.5)
    assert set(env.events(info["scene"], frames[-1])) >= {"any_fell", "asked"}


def test_a_learned_model_is_a_dynamics_backend_of_the_executor(model):
    from physground.dynamics.rollout import imagination_backend
    from physground.envs.executor import execute

    env = BlockRemovalEnv(scene=SceneConfig(render_images=False))
    _, info = env.reset(seed=2)
    program = env.task_program(info["scene"])
    [result] = execute(program, info["scene"], imagination_backend(model.step, 0.1), env.execution_context())
    start = env.counterfactual(info["scene"], None)
    assert result["start"] == start and "removed" in start["meta"]
    expected = env.events(start, imagine(model.step, [start], program["horizon"], 0.1)[0][-1])
    assert result["events"] == expected and isinstance(result["events"]["answer"], bool)
    env.close()


def test_scenes_with_missing_or_malformed_features_are_refused():
    scene = new_scene("t", [make_cube("cube0", "red", (0, 0, 0.03))])
    del scene["objects"][0]["size"]
    with pytest.raises(ValueError, match="'cube0': size"):
        scene_arrays(scene)
    scene = new_scene("t", [make_cube("cube0", "red", (0, 0, float("nan")))])
    with pytest.raises(ValueError, match="non-finite"):
        scene_arrays(scene)
    m = DynamicsModel(DynamicsConfig(hidden=8, message_passing=1))
    with pytest.raises(ValueError, match=rf"props must have shape \(1, {PROP_DIM}\)"):
        m(torch.zeros(1, 13), torch.zeros(1, PROP_DIM - 1), torch.zeros(1, dtype=torch.long))


def test_checkpoints_round_trip_and_bad_ones_are_refused(model, batch, tmp_path):
    save_dynamics(model, tmp_path / "m")
    loaded = load_dynamics(tmp_path / "m")
    torch.testing.assert_close(loaded(batch["state"], batch["props"], batch["batch"]), model(batch["state"], batch["props"], batch["batch"]))
    with pytest.raises(ValueError, match="never fitted"):
        save_dynamics(DynamicsModel(DynamicsConfig(hidden=8)), tmp_path / "unfitted")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["model"]["hidden"] = 16
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="shape"):
        load_dynamics(tmp_path / "m")
    from safetensors.torch import load_file, save_file

    save_dynamics(model, tmp_path / "s")
    state = load_file(str(tmp_path / "s" / "model.safetensors"))
    state["target_std"] = torch.ones(5)
    save_file(state, str(tmp_path / "s" / "model.safetensors"))
    with pytest.raises(ValueError, match="normalisation statistics 'target_std'"):
        load_dynamics(tmp_path / "s")
    with pytest.raises(FileNotFoundError, match="train-dynamics"):
        load_dynamics(tmp_path / "nothing")


def test_the_shipped_models_know_gravity_and_support():
    gnn = load_dynamics(SHIPPED_GNN)
    assert load_dynamics(SHIPPED_MLP).config.message_passing == 0
    free = new_scene("t", [make_cube("cube0", "red", (0, 0, 0.4))])
    resting = new_scene("t", [make_cube("cube0", "red", (0, 0, BLOCK_SIZE / 2))])
    _, state, props, batch = pack_scenes([free, resting])
    with torch.no_grad():
        nxt = gnn.step(state, props, batch)
    assert nxt[0, 9] == pytest.approx(-0.981, abs=0.15), "a falling block gains about g * 0.1 s of downward speed"
    assert abs(float(nxt[1, 9])) < 0.1 and abs(float(nxt[1, 2] - state[1, 2])) < 0.005, "a block on the table stays put"


def test_lightning_module_trains_a_step_and_logs(tmp_path):
    data = PlayDataModule(cache_dir=str(tmp_path), n_trajectories=14, batch_size=16)
    module = DynamicsModule(hidden=16, message_passing=1)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(module, datamodule=data)
    assert bool(module.model.normalised)
    assert {"train/loss", "val/loss", "val/rollout_error_0.5s", "val/rollout_error_2s"} <= set(trainer.callback_metrics)


def test_the_play_mix_is_configurable_and_checked(tmp_path):
    module = PlayDataModule(cache_dir=str(tmp_path), n_trajectories=6, scenarios=["tower", "tower", "roll"])
    module.setup()
    assert module.data.scenarios == ["tower", "tower", "roll"] * 2
    with pytest.raises(ValueError, match="unknown play scenario 'juggle'"):
        PlayDataModule(cache_dir=str(tmp_path), scenarios=["tower", "juggle"])


def test_train_dynamics_reports_a_bad_config_value_in_one_line(tmp_path, capsys):
    from physground.experiments.cli import main

    code = main(["train-dynamics", "--config", "experiments/configs/dynamics/quick.yaml", "--data.scenarios", "[tower,juggle]",
                 "--data.cache_dir", str(tmp_path / "cache"), "--export", str(tmp_path / "model")])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "physground: error: unknown play scenario 'juggle'; valid: tower, removal, drop, push, poke, roll, flight, critical_tower, critical_removal"
    assert not (tmp_path / "model").exists()


def test_windows_hold_the_following_states_and_reject_a_bad_horizon(play):
    one = TransitionDataset(play, [0, 1])
    three = TransitionDataset(play, [0, 1], horizon=3)
    frames = play.settings.frames
    assert len(one) == 2 * (frames - 1) and len(three) == 2 * (frames - 3)
    window = collate_transitions([three[0], three[frames - 3]])
    states0, _ = play.trajectory(0)
    states1, _ = play.trajectory(1)
    n0 = states0.shape[1]
    assert window["future"].shape == (3, n0 + states1.shape[1], 13)
    np.testing.assert_array_equal(window["future"][2, :n0].numpy(), states0[3])
    np.testing.assert_array_equal(window["future"][1, n0:].numpy(), states1[2])
    np.testing.assert_array_equal(window["next_state"].numpy(), window["future"][0].numpy())
    with pytest.raises(ValueError, match=rf"horizon must be in \[1, {frames - 1}\].*got {frames}"):
        TransitionDataset(play, [0], horizon=frames)


def test_rollout_loss_is_the_mean_step_loss_along_the_models_own_rollout(play, batch, model):
    module = DynamicsModule(hidden=32, message_passing=2, noise_position=0, noise_velocity=0, noise_rotation=0, noise_angular=0)
    module.model.load_state_dict(model.state_dict())
    module.log = lambda *a, **k: None

    def step_loss(state, target_state, props, graph):
        target = (state_delta(state, target_state) - model.target_mean) / model.target_std
        return ((model(state, props, graph) - target) ** 2)[props[:, -1] < 0.5].mean()

    with torch.no_grad():
        one = step_loss(batch["state"], batch["next_state"], batch["props"], batch["batch"])
        assert float(module._common_step(batch, "train")) == pytest.approx(float(one), rel=1e-5)

        dataset = TransitionDataset(play, list(range(play.n_trajectories)), horizon=2)
        windows = collate_transitions([dataset[i] for i in range(0, len(dataset), 11)])
        state, props, graph = windows["state"], windows["props"], windows["batch"]
        second_start = model.step(state, props, graph)  # static objects stay, dynamic ones move as imagined
        expected = (step_loss(state, windows["future"][0], props, graph) + step_loss(second_start, windows["future"][1], props, graph)) / 2
        module.hparams.rollout_steps = 2
        assert float(module._common_step(windows, "train")) == pytest.approx(float(expected), rel=1e-4)

    loss = module._common_step(windows, "train")
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in module.model.parameters() if p.requires_grad)

    with pytest.raises(ValueError, match="rollout_steps=3 needs batches with at least 3 future states"):
        DynamicsModule(hidden=32, message_passing=2, rollout_steps=3)._common_step(batch, "train")
    with pytest.raises(ValueError, match="rollout_steps must be at least 1, got 0"):
        DynamicsModule(rollout_steps=0)


def test_the_l1_loss_is_the_mean_absolute_normalised_error_of_the_dynamic_objects(batch, model):
    quiet = dict(noise_position=0, noise_velocity=0, noise_rotation=0, noise_angular=0)
    modules = {name: DynamicsModule(hidden=32, message_passing=2, loss=name, **quiet) for name in ("mse", "l1")}
    state, props, graph = batch["state"], batch["props"], batch["batch"]
    with torch.no_grad():
        error = model(state, props, graph) - (state_delta(state, batch["next_state"]) - model.target_mean) / model.target_std
        error = error[props[:, -1] < 0.5]
        for name, module in modules.items():
            module.model.load_state_dict(model.state_dict())
            module.log = lambda *a, **k: None
            expected = error.abs().mean() if name == "l1" else (error**2).mean()
            assert float(module._common_step(batch, "train")) == pytest.approx(float(expected), rel=1e-5)
    assert float(error.abs().mean()) != pytest.approx(float((error**2).mean()), rel=1e-2), "the two losses must differ on this batch"
    with pytest.raises(ValueError, match="unknown loss 'huber'; valid: mse, l1"):
        DynamicsModule(loss="huber")


def test_a_rollout_loss_trains_from_a_saved_model_and_validation_stays_one_step(tmp_path, model):
    save_dynamics(model, tmp_path / "start")
    data = PlayDataModule(cache_dir=str(tmp_path / "cache"), n_trajectories=8, batch_size=8, horizon=3)
    module = DynamicsModule(hidden=32, message_passing=2, rollout_steps=3, init_from=str(tmp_path / "start"))
    before = {k: v.clone() for k, v in module.model.state_dict().items()}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "init_from loads weights and statistics"
    trainer = L.Trainer(max_epochs=1, limit_train_batches=2, limit_val_batches=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(module, datamodule=data)
    after = module.model.state_dict()
    assert torch.equal(after["target_std"], before["target_std"]), "statistics of the saved model are kept, not refitted"
    assert not torch.equal(after["decoder.0.weight"], before["decoder.0.weight"])
    assert {"train/loss", "train/loss_last_step", "val/loss"} <= set(trainer.callback_metrics)
    assert data.train_dataloader().dataset.horizon == 3 and data.val_dataloader().dataset.horizon == 1
    with pytest.raises(ValueError, match="has architecture .*hidden=32.* this run configures .*hidden=16"):
        DynamicsModule(hidden=16, message_passing=2, init_from=str(tmp_path / "start"))


def test_train_dynamics_links_the_data_horizon_and_records_the_starting_weights(tmp_path, batch):
    import hashlib

    from physground.experiments.cli import main

    start = DynamicsModel(DynamicsConfig(hidden=64, message_passing=2))
    start.fit_normalisation(batch["state"], batch["next_state"], batch["props"], batch["batch"])
    save_dynamics(start, tmp_path / "start")
    code = main(["train-dynamics", "--config", "experiments/configs/dynamics/quick.yaml", "--data.n_trajectories", "6", "--data.batch_size", "8",
                 "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
                 "--model.rollout_steps", "2", "--model.init_from", str(tmp_path / "start"), "--data.cache_dir", str(tmp_path / "cache"),
                 "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--export", str(tmp_path / "model")])
    assert code == 0
    training = json.loads((tmp_path / "model" / "config.json").read_text())["training"]
    assert training["config"]["data"]["horizon"] == 2, "the data's windows follow the model's rollout length"
    assert training["init_from_sha256"] == hashlib.sha256((tmp_path / "start" / "model.safetensors").read_bytes()).hexdigest()
    assert training["train_transitions"] == 5 * (PlaySettings().frames - 2)


def test_play_at_a_shorter_step_records_the_same_motion_more_often(play):
    fine = generate_play(PlaySettings(n_trajectories=3, seed=5, dt=0.05))
    assert fine.settings.frames == 2 * play.settings.frames - 1
    for i in range(3):
        coarse_states, _ = play.trajectory(i)
        fine_states, _ = fine.trajectory(i)
        np.testing.assert_array_equal(fine_states[::2], coarse_states)


@pytest.mark.parametrize("dt", [0.0123, 0.0, -0.1, 4.0])
def test_play_settings_refuse_a_step_off_the_simulators_grid(dt):
    with pytest.raises(ValueError, match=rf"play dt must be a multiple of the simulator step \(0.005 s\) and at most seconds \(3.0\), got {dt}"):
        PlaySettings(dt=dt)


def test_train_dynamics_gives_the_model_the_datas_step(tmp_path):
    from physground.experiments.cli import main

    code = main(["train-dynamics", "--config", "experiments/configs/dynamics/quick.yaml", "--data.n_trajectories", "6", "--data.batch_size", "8",
                 "--data.dt", "0.05", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                 "--trainer.enable_progress_bar", "false", "--data.cache_dir", str(tmp_path / "cache"),
                 "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--export", str(tmp_path / "model")])
    assert code == 0
    assert load_dynamics(tmp_path / "model").config.dt == 0.05
    training = json.loads((tmp_path / "model" / "config.json").read_text())["training"]
    assert training["config"]["model"]["dt"] == 0.05
    assert training["train_transitions"] == 5 * (PlaySettings(dt=0.05).frames - 1)
    with pytest.raises(ValueError, match=r"has architecture .*dt=0.05.* this run configures .*dt=0.1"):
        DynamicsModule(hidden=64, message_passing=2, init_from=str(tmp_path / "model"))


@pytest.mark.slow  # 15-70 s on the 2-core CI box: `make test-slow`
def test_train_dynamics_runs_lightning_ddp_on_two_cpu_processes(tmp_path, batch):
    """Several devices are Lightning DDP: here two spawned CPU processes over gloo; the exported
    model holds the weights they trained, not the starting ones."""
    from physground.experiments.cli import main

    start = DynamicsModel(DynamicsConfig(hidden=64, message_passing=2))
    start.fit_normalisation(batch["state"], batch["next_state"], batch["props"], batch["batch"])
    save_dynamics(start, tmp_path / "start")
    code = main(["train-dynamics", "--config", "experiments/configs/dynamics/quick.yaml", "--data.n_trajectories", "6", "--data.batch_size", "8",
                 "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
                 "--trainer.devices", "2", "--trainer.strategy", "ddp_spawn", "--model.init_from", str(tmp_path / "start"),
                 "--data.cache_dir", str(tmp_path / "cache"), "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), "--export", str(tmp_path / "model")])
    assert code == 0
    training = json.loads((tmp_path / "model" / "config.json").read_text())["training"]
    assert training["world_size"] == 2
    trained = load_dynamics(tmp_path / "model").state_dict()
    moved = [k for k, v in load_dynamics(tmp_path / "start").state_dict().items() if not torch.equal(v, trained[k])]
    assert any(not k.endswith(("_mean", "_std")) for k in moved), "the spawned processes' training reached the export"
