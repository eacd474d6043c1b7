"""Hybrid agent, SFT and cross-task evaluation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from physground.agent.episode_seeds import episode_seed
from physground.agent.factory import AgentSpec, build_policy, component_folders, env_factory
from physground.agent.hybrid import EVENT_ENCODINGS, EVENT_FEATURES, event_vector
from physground.agent.ppo import PPOConfig, train_ppo
from physground.agent.run import RunDir
from physground.agent.sft import SFTConfig, expert_examples, train_sft
from physground.envs import SceneConfig, TowerStabilityEnv
from physground.envs.files import weights_digest
from physground.experiments.cli import main
from tests.conftest import ALL_TASKS, composed_slow


def test_event_vectors_read_outcomes_through_their_roles():
    slot = EVENT_FEATURES.index
    v = event_vector({"any_fell": True, "asked": "any_fell", "fallen": ["cube1"], "max_displacement": 2.0})
    assert v.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0] and v[slot("asked")] == 1
    v = event_vector({"outcome": "collapse", "any_fell": True, "placed_on_top": False, "goal": "placed_on_top", "failure": "any_fell"})
    assert v[slot("goal")] == 0 and v[slot("failure")] == 1 and v[slot("asked")] == 0
    v = event_vector({"distance_to_target": 0.06, "in_zone": False, "final_x": 0.1, "goal": "in_zone", "distance_to_goal": 0.06})
    assert v[slot("distance_to_goal")] == pytest.approx(0.5) and v[slot("goal")] == 0
    assert event_vector({"distance_to_goal": 10.0})[slot("distance_to_goal")] == 3.0, "distances are clipped"
    with pytest.raises(ValueError, match="unknown event encoding 'slots'; valid: roles, task-slots"):
        event_vector({}, "slots")


def test_the_task_slot_encoding_keeps_each_task_s_own_event_next_to_asked():
    names = EVENT_ENCODINGS["task-slots"]
    v = event_vector({"any_fell": True, "asked": "any_fell", "fallen": ["cube1"], "max_displacement": 2.0}, "task-slots")
    assert v[names.index("asked")] == 1 and v[names.index("any_fell")] == 1
    v = event_vector({"placed_on_top": False, "any_fell": True}, "task-slots")
    assert v[names.index("outcome_collapse")] == 1 and v[names.index("asked")] == 0
    v = event_vector({"placed_on_top": True, "any_fell": False}, "task-slots")
    assert v[names.index("outcome_success")] == 1 and v[names.index("outcome_collapse")] == 0
    v = event_vector({"distance_to_target": 0.06, "in_zone": False, "final_x": 0.1}, "task-slots")
    assert v[names.index("distance_to_target")] == pytest.approx(0.5)


@pytest.mark.parametrize("task", composed_slow(ALL_TASKS))
def test_every_task_names_the_roles_of_its_simulated_events(task):
    from physground.envs import task_spec

    spec = task_spec(task)
    env = spec.env_class(scene=SceneConfig(render_images=False))
    scene = env.propose_scene(seed=1)
    _, _, events = env.outcome(scene, 0)
    role = "asked" if spec.is_yes_no else "goal"
    assert events[role] in events and isinstance(events[events[role]], bool), f"{task} names its {role} event"
    v = event_vector(events)
    assert v[EVENT_FEATURES.index(role)] == float(events[events[role]])
    if "failure" in events:
        assert v[EVENT_FEATURES.index("failure")] == float(events[events["failure"]])
    if task == "Push":
        assert events["distance_to_goal"] == events["distance_to_target"] and events["in_zone"] == (events["distance_to_goal"] == 0)
    if task == "Catch":
        assert events["distance_to_goal"] == abs(events["offset"])


@pytest.fixture(scope="module")
def oracle_hybrid():
    torch.manual_seed(0)
    return build_policy(AgentSpec("hybrid-task-code-oracle", "TowerStability"))


def test_hybrid_oracle_imagines_the_outcome_of_every_answer(oracle_hybrid):
    env = TowerStabilityEnv(scene=SceneConfig(image_size=128))
    obs, info = env.reset(seed=0)
    batch = {"image": obs["image"][None], "prompt": (obs["prompt"],)}
    inputs = oracle_hybrid.prepare(batch, {"scene": [info["scene"]]})
    assert inputs["events"].shape == (1, 2, len(EVENT_FEATURES)) and oracle_hybrid.event_encoding == "roles"
    assert torch.equal(inputs["events"][0, 0], inputs["events"][0, 1]), "yes/no answers share one imagined rollout"
    logits, value = oracle_hybrid(inputs)
    assert logits.shape == (1, 2) and value.shape == (1,)
    with pytest.raises(ValueError, match="infos\\['scene'\\]"):
        oracle_hybrid.prepare(batch, {})


def test_hybrid_trains_only_its_decision_network(oracle_hybrid, tmp_path):
    frozen = {n: p.clone() for n, p in oracle_hybrid.named_parameters() if not p.requires_grad}
    trained = {n: p.clone() for n, p in oracle_hybrid.named_parameters() if p.requires_grad}
    assert frozen and all(n.startswith("dynamics.") for n in frozen), "the GNN is registered and frozen"
    config = PPOConfig(total_steps=32, num_envs=4, num_steps=8, num_minibatches=2, update_epochs=1, lr=1e-2)
    train_ppo(oracle_hybrid, [env_factory("TowerStability")] * 4, config, RunDir(tmp_path / "h"), seed=0, progress=False)
    assert all(torch.equal(p, frozen[n]) for n, p in oracle_hybrid.named_parameters() if n in frozen)
    assert any(not torch.equal(p, trained[n]) for n, p in oracle_hybrid.named_parameters() if n in trained)


def test_the_task_slot_ablation_differs_from_the_hybrid_only_in_its_event_encoding():
    from physground.agent.hybrid import HybridPolicy

    policy = build_policy(AgentSpec("hybrid-task-slots", "RollOff"))
    assert policy.event_features == EVENT_ENCODINGS["task-slots"] and policy.with_task("Catch").event_encoding == "task-slots"
    assert policy.agreement.weight.shape[-1] == len(EVENT_ENCODINGS["task-slots"])
    with pytest.raises(ValueError, match="unknown event encoding 'x'"):
        HybridPolicy("RollOff", policy.vlm, policy.grounder, policy.dynamics, event_encoding="x")


def test_hybrid_without_dynamics_sees_no_imagined_events():
    policy = build_policy(AgentSpec("hybrid-task-code-no-dynamics", "RollOff"))
    assert policy.dynamics is None
    out = policy.imagined_events([TowerStabilityEnv(scene=SceneConfig(render_images=False)).propose_scene(0)])
    assert not out.any()


def test_hybrid_decision_network_carries_over_to_another_task(oracle_hybrid):
    other = oracle_hybrid.with_task("TowerBuild")
    assert other.action_names[0] == "-4" and other.scorer is oracle_hybrid.scorer


def test_expert_examples_carry_the_simulated_answers():
    examples = expert_examples("TowerStability", 4, seed=0, image_size=32)
    env = TowerStabilityEnv(scene=SceneConfig(image_size=32))
    assert [e.action for e in examples] == [env.reset(seed=episode_seed(0, e))[1]["label"] for e in range(4)]
    pushes = expert_examples("Push", 2, seed=0, image_size=32)
    assert all(0 <= e.action < 7 for e in pushes)
    catch = expert_examples("Catch", 5, seed=0, image_size=32)
    assert len(catch) == 5 and {e.action for e in catch} <= {0, 1, 2}


def test_sft_fine_tunes_and_saves_the_adapters(tmp_path, llava_dir):
    torch.manual_seed(0)
    policy = build_policy(AgentSpec("vlm-sft", "TowerStability", vlm=str(llava_dir), lora_rank=4))
    before = {n: p.clone() for n, p in policy.named_parameters() if p.requires_grad}
    metrics = train_sft(policy, "TowerStability", RunDir(tmp_path / "s"), seed=0, config=SFTConfig(examples=12, epochs=1, batch_size=4, lr=1e-2), image_size=64,
                        progress=False)
    assert metrics["final"]["epoch"] == 1 and "charts/val_accuracy" in metrics["final"]
    assert any(not torch.equal(p, before[n]) for n, p in policy.named_parameters() if n in before)
    assert RunDir(tmp_path / "s").has_checkpoint()


def test_eval_agent_evaluates_a_run_on_several_tasks(tmp_path, llava_dir, capsys):
    out = tmp_path / "zs"
    assert main(["train-agent", "--agent", "vlm-zero-shot", "--task", "TowerStability", "--vlm", str(llava_dir), "--out", str(out), "--image-size", "64"]) == 0
    assert main(["eval-agent", "--run", str(out), "--tasks", "TowerStability,RollOff", "--episodes", "3"]) == 0
    results = json.loads((out / "eval.json").read_text())
    assert set(results) == {"TowerStability", "RollOff"} and results["RollOff"]["episodes"] == 3
    assert 0.0 <= results["TowerStability"]["success_rate"] <= 1.0
    assert "TowerStability" in capsys.readouterr().out


def test_a_run_records_its_weights_and_is_not_evaluated_with_changed_ones(tmp_path, llava_dir, capsys):
    vlm = tmp_path / "vlm"
    shutil.copytree(llava_dir, vlm)
    out = tmp_path / "zs"
    assert main(["train-agent", "--agent", "vlm-zero-shot", "--task", "TowerStability", "--vlm", str(vlm), "--out", str(out), "--image-size", "64"]) == 0
    recorded = json.loads((out / "config.json").read_text())["weights_sha256"]
    assert recorded == {"vlm": weights_digest(vlm)}
    with open(vlm / "model.safetensors", "ab") as f:  # the checkpoint changes after training
        f.write(b"\0")
    assert main(["eval-agent", "--run", str(out), "--tasks", "TowerStability", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert f"was trained with vlm weights {recorded['vlm'][:12]}" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("agent", "components"),
    [
        ("mlp", set()), ("vlm-ppo", {"vlm"}), ("hybrid", {"vlm", "grounder", "parser", "dynamics"}), ("hybrid-gold-program", {"vlm", "grounder", "dynamics"}),
        ("hybrid-oracle", {"vlm", "parser", "dynamics"}), ("hybrid-no-dynamics", {"vlm", "grounder", "parser"}), ("hybrid-task-code", {"vlm", "grounder", "dynamics"}),
        ("hybrid-task-code-oracle", {"vlm", "dynamics"}), ("hybrid-task-code-no-dynamics", {"vlm", "grounder"}),
    ],
)
def test_each_agent_records_the_components_it_loads(agent, components):
    task = "CartPole-v1" if agent == "mlp" else "TowerStability"
    assert set(component_folders(AgentSpec(agent, task))) == components


def test_a_hybrid_run_records_and_loads_the_dynamics_model_it_was_given(tmp_path, capsys):
    from physground.agent.factory import load_agent
    from physground.dynamics.checkpoint import SHIPPED_GNN

    other = tmp_path / "gnn"
    shutil.copytree(SHIPPED_GNN, other)
    run = tmp_path / "run"
    args = ["train-agent", "--agent", "hybrid-task-code-oracle", "--task", "RollOff", "--steps", "16", "--num-envs", "2", "--image-size", "32"]
    assert main([*args, "--dynamics", str(other), "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["agent"]["dynamics"] == str(other)
    spec, policy = load_agent(run)
    assert spec.dynamics == str(other) and policy.dynamics is not None
    # the recorded folder is the one checked: changing its weights refuses the run
    (other / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes()[:-8] + bytes(8))
    with pytest.raises(ValueError, match="dynamics"):
        load_agent(run)
    capsys.readouterr()
    assert main(["train-agent", "--agent", "vlm-ppo", "--task", "RollOff", "--dynamics", str(other), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert f"a dynamics model ({str(other)!r}) is for hybrid, hybrid-gold-program, hybrid-oracle, hybrid-task-code, hybrid-task-code-oracle, hybrid-task-slots; vlm-ppo does not imagine" in err
    with pytest.raises(ValueError, match="a grounder .* is for hybrid, hybrid-gold-program, hybrid-no-dynamics, hybrid-task-code, hybrid-task-code-no-dynamics, hybrid-task-slots; hybrid-task-code-oracle does not use one"):
        AgentSpec("hybrid-task-code-oracle", "RollOff", grounder="g")


@pytest.mark.slow  # 10-20 s on the 2-core CI box: `make test-slow`
def test_a_run_records_its_anti_aliasing_and_is_evaluated_with_it(tmp_path, monkeypatch):
    import physground.agent.evaluation as evaluation
    from physground.agent.evaluation import evaluate_run
    from physground.agent.factory import load_agent

    run = tmp_path / "run"
    args = ["train-agent", "--agent", "hybrid-task-code-oracle", "--task", "RollOff", "--steps", "16", "--num-envs", "2", "--image-size", "32"]
    assert main([*args, "--multisamples", "2", "--out", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["agent"]["multisamples"] == 2
    assert load_agent(run)[0].multisamples == 2
    made = []
    monkeypatch.setattr(evaluation, "env_factory", lambda task, size, multisamples, phrasing="canonical", *rest, **kw: made.append(multisamples) or env_factory(task, size, multisamples, phrasing, *rest, **kw))
    evaluate_run(run, ["RollOff"], 1)
    assert made == [2], "evaluation renders as the run was trained"
    # a run recorded before the setting existed was made with aliased renders
    del config["agent"]["multisamples"]
    (run / "config.json").write_text(json.dumps(config))
    assert load_agent(run)[0].multisamples == 0


def test_env_factory_renders_with_the_given_anti_aliasing_and_bad_values_name_the_field():
    env = env_factory("TowerStability", 32, 2)()
    assert env.unwrapped.world.config.multisamples == 2 and env.unwrapped.world.config.image_size == 32
    env.close()
    with pytest.raises(ValueError, match="multisamples"):
        AgentSpec("vlm-ppo", "TowerStability", multisamples=-1)


def test_train_agent_refuses_to_overwrite_a_run_and_resume_needs_a_checkpoint(tmp_path, capsys):
    assert main(["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--steps", "256", "--out", str(tmp_path / "r")]) == 0
    assert main(["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--steps", "256", "--out", str(tmp_path / "r")]) == 2
    assert "already holds a trained run" in capsys.readouterr().err
    assert main(["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train-agent", "--agent", "mlp", "--task", "CartPole-v1", "--steps", "512", "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert "different config" in capsys.readouterr().err


def test_hybrid_survives_a_grounder_that_misses_an_object_the_task_needs():
    from physground.envs import CatchEnv

    policy = build_policy(AgentSpec("hybrid-task-code-no-dynamics", "Catch"))
    policy.use_dynamics = True
    from physground.dynamics.checkpoint import SHIPPED_GNN, load_dynamics

    policy.dynamics = load_dynamics(SHIPPED_GNN)
    scene = CatchEnv(scene=SceneConfig(render_images=False)).propose_scene(0)
    blind = {**scene, "objects": [o for o in scene["objects"] if o["id"] != "basket"]}
    events = policy.imagined_events([scene, blind])
    flag = EVENT_FEATURES.index("not_imagined")
    assert events[0, :, flag].sum() == 0 and events[1, :, flag].tolist() == [1.0, 1.0, 1.0]
    assert policy.grounding_failures == 1


def test_evaluation_outcomes_are_listed_in_episode_order():
    """Catch episodes end at different steps; successes must still line up with the seeds."""
    from physground.agent.evaluation import EVAL_SEED, evaluate_policy
    from physground.agent.policies import Policy

    class FollowTheBall(Policy):  # moves the basket towards the ball when it is far off: catches some
        def prepare(self, obs, infos=None):  # noqa: ANN001, ANN201
            def side(scene: dict) -> int:
                x = {o["id"][:4]: o["position"][0] for o in scene["objects"]}
                offset = x["ball"] - x["bask"]
                return 0 if offset < -0.08 else (2 if offset > 0.08 else 1)

            return {"action": torch.tensor([side(scene) for scene in infos["scene"]])}

        def forward(self, inputs):  # noqa: ANN001, ANN201
            return torch.nn.functional.one_hot(inputs["action"], 3).float(), torch.zeros(len(inputs["action"]))

    batched = evaluate_policy(FollowTheBall(), "Catch", 12, image_size=32, batch=6)
    one_by_one = [evaluate_policy(FollowTheBall(), "Catch", 1, image_size=32, seed=EVAL_SEED + i)["successes"][0] for i in range(12)]
    assert 0 < sum(one_by_one) < 12, "the check needs episodes that differ"
    assert batched["successes"] == one_by_one


def _symbolic_hits_by_hand(first_seed: int, episodes: int) -> float:
    """The symbolic check on the simulator's TowerStability scenes of ``episodes`` seeds from
    ``first_seed``, recomputed without the ceiling's code."""
    import gymnasium as gym

    from physground.perception.scene_graph import SceneGraph, settle, symbolic_stability

    env = gym.make("physground/TowerStability-v1", scene={"image_size": 64})
    hits = []
    for i in range(episodes):
        _, info = env.reset(seed=first_seed + i)
        falls = not symbolic_stability(settle(SceneGraph.from_scene(info["scene"])))["stable"]
        hits.append(falls == (info["label"] == env.unwrapped.YES))
    return sum(hits) / episodes


def test_evaluation_builds_no_autograd_graph():
    """Greedy evaluation of every agent runs under no_grad (a graph per step would cost VLM cells
    a gigabyte in the quick ablation)."""
    from physground.agent.evaluation import evaluate_policy

    policy = build_policy(AgentSpec("mlp", "CartPole-v1"))
    grad_modes = []
    forward = policy.forward

    def recording_forward(*args, **kwargs):
        grad_modes.append(torch.is_grad_enabled())
        return forward(*args, **kwargs)

    policy.forward = recording_forward
    evaluate_policy(policy, "CartPole-v1", episodes=1)
    assert grad_modes and not any(grad_modes)


def test_reset_batches_cover_the_seeds_in_order_with_stacked_observations():
    from physground.agent.evaluation import reset_batches
    from physground.agent.factory import env_factory

    env = env_factory("TowerStability", 64)()
    batches = list(reset_batches(env, 700, episodes=5, batch=2))
    assert [len(infos) for _, infos in batches] == [2, 2, 1]
    assert [obs["image"].shape for obs, _ in batches] == [(2, 64, 64, 3), (2, 64, 64, 3), (1, 64, 64, 3)]
    labels = [info["label"] for _, infos in batches for info in infos]
    assert labels == [env.reset(seed=700 + i)[1]["label"] for i in range(5)]
    assert all(np.array_equal(batches[1][0]["image"][i], env.reset(seed=702 + i)[0]["image"]) for i in range(2))
    assert not np.array_equal(batches[1][0]["image"][0], batches[1][0]["image"][1])
    with pytest.raises(ValueError, match="batch must be at least 1, got 0"):
        next(reset_batches(env, 700, episodes=5, batch=0))


def test_the_imagination_ceiling_reads_answers_without_a_policy():
    from physground.agent.evaluation import EVAL_SEED, imagination_ceiling

    result = imagination_ceiling("TowerStability", episodes=6, image_size=64)
    assert set(result) == {f"{kind}, {source}" for kind in ("imagination", "symbolic check") for source in ("learned grounder", "simulator scenes")}
    assert all(0.0 <= v <= 1.0 for v in result.values())
    assert result["symbolic check, simulator scenes"] == pytest.approx(_symbolic_hits_by_hand(EVAL_SEED, 6))
    with pytest.raises(ValueError, match="needs a yes/no task, got 'Catch'"):
        imagination_ceiling("Catch", episodes=1)


def test_the_imagination_ceiling_takes_another_seed_range_and_dynamics_model(tmp_path):
    from physground.agent.evaluation import imagination_ceiling
    from physground.dynamics.checkpoint import SHIPPED_GNN

    result = imagination_ceiling("TowerStability", episodes=5, image_size=64, seed=8_000_001, dynamics=str(SHIPPED_GNN))
    assert result["symbolic check, simulator scenes"] == pytest.approx(_symbolic_hits_by_hand(8_000_001, 5))
    with pytest.raises(FileNotFoundError, match="no dynamics model .* in '.*nowhere'"):
        imagination_ceiling("TowerStability", episodes=1, image_size=64, dynamics=str(tmp_path / "nowhere"))


def test_the_imagination_ceiling_takes_another_grounder(tmp_path):
    from physground.agent.evaluation import imagination_ceiling
    from physground.perception.grounder_training import SHIPPED_GROUNDER

    default = imagination_ceiling("TowerStability", episodes=4, image_size=64)
    assert imagination_ceiling("TowerStability", episodes=4, image_size=64, grounder=str(SHIPPED_GROUNDER)) == default
    with pytest.raises(FileNotFoundError, match="nowhere"):
        imagination_ceiling("TowerStability", episodes=1, image_size=64, grounder=str(tmp_path / "nowhere"))


def test_the_ceiling_command_refuses_a_negative_seed_in_one_line(capsys):
    assert main(["ceiling", "--task", "TowerStability", "--episodes", "1", "--seed", "-5"]) == 2
    assert capsys.readouterr().err.strip() == "physground: error: --seed must be >= 0, got -5"


@pytest.mark.slow
def test_a_hybrid_trained_on_one_question_answers_another(tmp_path):
    """The role encoding's claim: what PPO learns about "asked" on RollOff carries over to a tower
    question. (The same training with event_encoding="task-slots" measured 97.5 % on RollOff and
    55 % on TowerStability, CPU.)"""
    from physground.agent.evaluation import evaluate_policy

    torch.manual_seed(0)
    policy = build_policy(AgentSpec("hybrid-task-code-oracle", "RollOff"))
    config = PPOConfig(total_steps=512, num_envs=8, num_steps=16, num_minibatches=4, update_epochs=4, lr=1e-3)
    train_ppo(policy, [env_factory("RollOff")] * 8, config, RunDir(tmp_path / "ro"), seed=0, progress=False)
    assert evaluate_policy(policy, "RollOff", 40)["success_rate"] >= 0.85
    assert evaluate_policy(policy.with_task("TowerStability"), "TowerStability", 40)["success_rate"] >= 0.85


def test_a_hybrid_refuses_a_task_whose_program_the_question_chooses():
    """Told its task's program, a hybrid cannot know which block ColourRemoval's question names."""
    policy = build_policy(AgentSpec("hybrid-task-code-oracle", "TowerStability"))
    with pytest.raises(ValueError, match=r"ColourRemoval's depends on what each question names \(colour\)"):
        policy.with_task("ColourRemoval")
    assert policy.with_task("ToppleSpot").action_names[0] == "-4", "a composed task without question slots is fine"
