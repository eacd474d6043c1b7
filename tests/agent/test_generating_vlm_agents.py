"""VLM agents that generate their answers, in the paper's ``<answer>...</answer>`` format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physground.agent.factory import AgentSpec, build_policy
from physground.envs.answer_formats import answer_format
from physground.experiments.ablation import Cell, Preset, training_spec_of

TAGGED = answer_format("tagged")


def test_tagged_answers_need_a_generating_vlm_agent():
    with pytest.raises(ValueError, match=r"answer format 'tagged' is for VLM agents in generate mode.*vlm_mode 'score'"):
        AgentSpec("vlm-grpo", "TowerStability", answer_format="tagged")
    with pytest.raises(ValueError, match=r"answer format 'tagged' is for the VLM agents that generate; hybrid-task-code does not write"):
        AgentSpec("hybrid-task-code", "TowerStability", vlm_mode="generate", answer_format="tagged")
    with pytest.raises(ValueError, match=r"unknown answer format 'json'"):
        AgentSpec("vlm-grpo", "TowerStability", vlm_mode="generate", answer_format="json")
    assert AgentSpec.from_dict({"agent": "vlm-ppo", "task": "TowerStability"}).answer_format == "free"  # runs recorded before the field


def test_a_preset_gives_its_answer_format_to_the_vlm_agents_only(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nagents: [vlm-grpo, cue-count]\ntrain_tasks: [TowerStability]\ntest_tasks: [TowerStability]\nseeds: [0]\n"
                    "steps: {vlm-grpo: 32, cue-count: 32}\nvlm_mode: generate\nanswer_format: tagged\n")
    preset = Preset.load(str(path))
    assert training_spec_of(preset, Cell("vlm-grpo", "TowerStability", 0)).agent.answer_format == "tagged"
    assert training_spec_of(preset, Cell("cue-count", "TowerStability", 0)).agent.vlm_mode == "score"
    path.write_text(path.read_text().replace("vlm-grpo, ", "").replace("vlm-grpo: 32, ", ""))
    with pytest.raises(ValueError, match=r"vlm_mode 'generate' / answer_format 'tagged' are for the VLM agents, and the preset has none"):
        Preset.load(str(path))


@pytest.fixture(scope="module")
def tagged_policy(llava_dir):
    torch.manual_seed(0)
    return build_policy(AgentSpec("vlm-grpo", "TowerStability", vlm=str(llava_dir), lora_rank=2, vlm_mode="generate", answer_format="tagged"))


def test_a_tagged_policy_asks_for_the_format_and_reads_only_followed_answers(tagged_policy):
    yes, no = tagged_policy.action_names.index("yes"), tagged_policy.action_names.index("no")
    assert tagged_policy.max_new_tokens == TAGGED.max_new_tokens
    assert tagged_policy.model_prompt("Will it fall?") == TAGGED.prompt("Will it fall?", ("yes", "no"))
    assert tagged_policy.answer_target(no) == "<answer>no</answer>"
    assert tagged_policy.read_answer("<answer> yes </answer>") == (yes, "yes")
    assert tagged_policy.read_answer("no") == (None, "")  # right word, format not followed
    assert tagged_policy.read_answer("<answer>perhaps</answer>") == (None, "perhaps")
    clone = tagged_policy.for_task("RollOff")
    assert clone.answer_format is TAGGED and clone.model_prompt("q?").endswith(f"{' or '.join(clone.action_names)}, between <answer> and </answer>.")


def test_what_a_tagged_policy_gives_the_env_for_an_unfollowed_format_is_invalid(tagged_policy, make_env):
    env = make_env("TowerStability")
    env.reset(seed=3)
    _, reward, _, _, info = env.step(tagged_policy.read_answer("yes")[1])
    assert info["invalid_answer"] and reward == env.config.invalid_answer_reward
    env.reset(seed=3)
    _, _, _, _, info = env.step(tagged_policy.read_answer("<answer>yes</answer>")[0])
    assert not info["invalid_answer"]


def test_a_tagged_policy_generates_from_the_formatted_prompt(tagged_policy):
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    obs = {"image": images, "prompt": ["Will the tower fall?"] * 2}
    inputs = tagged_policy.prepare(obs)
    assert inputs["prompt"][0] == tagged_policy.model_prompt("Will the tower fall?")
    out = tagged_policy.act(inputs, deterministic=True)
    for action, given, text in zip(out.actions.tolist(), out.env_actions, inputs["text"]):
        assert (action == -1) == (tagged_policy.read_answer(text)[0] is None)
        assert given == (action if action >= 0 else tagged_policy.read_answer(text)[1])


def test_grpo_in_the_tagged_format_counts_the_invalid_answers_in_its_reward(tmp_path, tagged_policy):
    from physground.agent.factory import env_factory
    from physground.agent.grpo import GRPOConfig, train_grpo
    from physground.agent.run import RunDir

    config = GRPOConfig(updates=1, prompts_per_update=2, group_size=4, lr=1e-3, minibatch=4)
    final = train_grpo(tagged_policy, env_factory("TowerStability", 64), config, RunDir(tmp_path / "g"), seed=0, progress=False)["final"]
    assert 0.0 <= final["invalid_rate"] <= 1.0 and final["success_rate"] <= 1.0 - final["invalid_rate"] + 1e-9
    # rewards are 1 (right), 0 (wrong) and -1 (invalid): their mean is the success rate less the invalid rate
    assert final["reward"] == pytest.approx(final["success_rate"] - final["invalid_rate"])


def test_sft_in_the_tagged_format_teaches_the_formatted_answer_to_the_formatted_prompt(tmp_path, tagged_policy, monkeypatch):
    from physground.agent.configs import SFTConfig
    from physground.agent.run import RunDir
    from physground.agent.sft import train_sft

    seen: list[tuple[list[str], list]] = []
    score = tagged_policy.vlm.score_options

    def spy(images, prompts, options, *args, **kwargs):
        seen.append((list(prompts), list(options)))
        return score(images, prompts, options, *args, **kwargs)

    monkeypatch.setattr(tagged_policy.vlm, "score_options", spy)
    train_sft(tagged_policy, "TowerStability", RunDir(tmp_path / "s"), seed=0, config=SFTConfig(examples=10, epochs=1, batch_size=5, lr=1e-3),
              image_size=64, progress=False)
    assert seen and all(p.endswith("between <answer> and </answer>.") for prompts, _ in seen for p in prompts)
    targets = {o[0] if isinstance(o, list) else o for _, options in seen for o in options}
    assert targets <= {"<answer>yes</answer>", "<answer>no</answer>"} and len(targets) == 2


@pytest.mark.slow  # 10-20 s on the 2-core CI box: `make test-slow`
def test_an_ablation_in_the_paper_s_protocol_counts_and_reports_its_invalid_answers(tmp_path, llava_dir):
    import csv
    import json

    from physground.experiments.ablation import run_ablation

    (tmp_path / "p.yaml").write_text(
        "name: protocol\nagents: [vlm-zero-shot, vlm-grpo]\ntrain_tasks: [TowerStability]\ntest_tasks: [TowerStability]\nseeds: [0]\n"
        "steps: {vlm-grpo: 4}\neval_episodes: 3\nimage_size: 64\nvlm_mode: generate\nanswer_format: tagged\n"
        "grpo: {prompts_per_update: 1, group_size: 4, minibatch: 4}\n"
    )
    out = tmp_path / "out"
    run_ablation(Preset.load(str(tmp_path / "p.yaml"), vlm=str(llava_dir)), str(out), workers=1, progress=False)
    config = json.loads((out / "cells" / "vlm-grpo__TowerStability__0" / "config.json").read_text())
    assert config["agent"]["vlm_mode"] == "generate" and config["agent"]["answer_format"] == "tagged"
    rows = {r["agent"]: r for r in csv.DictReader((out / "transfer.csv").open())}
    for agent in ("vlm-zero-shot", "vlm-grpo"):
        recorded = json.loads((out / "cells" / f"{agent}__{'none' if agent == 'vlm-zero-shot' else 'TowerStability'}__0" / "eval.json").read_text())
        assert int(rows[agent]["invalid_answers"]) == recorded["TowerStability"]["invalid_answers"] <= 3
    assert "## Invalid answers" in (out / "transfer.md").read_text()
