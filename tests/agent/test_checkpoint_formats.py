"""Trained parts load in their ecosystems' own ways: PEFT adapters, ``from_pretrained`` folders."""

from __future__ import annotations

import numpy as np
import torch

from physground.agent.factory import AgentSpec, load_policy
from physground.agent.training import train_agent, training_spec


def test_a_vlm_run_holds_a_peft_adapter_that_peft_loads_with_the_same_scores(tmp_path, llava_dir):
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from physground.perception.vlm import VLM

    spec = training_spec(AgentSpec("vlm-ppo", "TowerStability", vlm=str(llava_dir), lora_rank=4, image_size=64), steps=8,
                         overrides={"ppo": {"num_envs": 2, "num_steps": 4, "num_minibatches": 2, "update_epochs": 1, "lr": 5e-2}})
    run = train_agent(spec, tmp_path / "run", progress=False)
    adapter = run.path / "adapter"
    assert (adapter / "adapter_config.json").exists() and (adapter / "adapter_model.safetensors").exists()

    policy = load_policy(run.path)
    base = AutoModelForImageTextToText.from_pretrained(str(llava_dir), local_files_only=True)
    peft_model = PeftModel.from_pretrained(base, str(adapter)).eval()
    plain = VLM.load(llava_dir)
    loaded = VLM(peft_model, plain.processor)
    images = [np.full((64, 64, 3), v, np.uint8) for v in (40, 200)]
    prompts = ["Will this block tower fall?"] * 2
    with torch.no_grad():
        ours = policy.vlm.score_options(images, prompts, ["yes", "no"])
        theirs = loaded.score_options(images, prompts, ["yes", "no"])
        untrained = plain.score_options(images, prompts, ["yes", "no"])
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert not torch.allclose(ours, untrained, atol=1e-4), "the adapter holds trained weights"


def test_dynamics_models_and_grounders_load_with_from_pretrained(tmp_path, llava_dir):
    from physground.dynamics.checkpoint import SHIPPED_GNN
    from physground.dynamics.gnn import DynamicsModel
    from physground.perception.grounder_training import SHIPPED_GROUNDER
    from physground.perception.grounders import LearnedGrounder

    gnn = DynamicsModel.from_pretrained(SHIPPED_GNN)
    gnn.save_pretrained(tmp_path / "gnn")
    again = DynamicsModel.from_pretrained(tmp_path / "gnn")
    assert all(torch.equal(a, b) for a, b in zip(gnn.state_dict().values(), again.state_dict().values()))
    grounder = LearnedGrounder.from_pretrained(SHIPPED_GROUNDER)
    graph = grounder.ground([np.full((128, 128, 3), 180, np.uint8)])[0]
    assert graph.to_json()
