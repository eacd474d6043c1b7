"""The SmolLM2 VLM's build, parts and assembly path, on a tiny random Llama written as GGUF (the
real base is a 93 MB package the tests do not need)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from physground.perception import smollm2_vlm as S
from physground.perception.vlm import VLM
from physground.perception.vlm_names import resolve_vlm
from tests.perception.llama_gguf import write_tiny_llama_gguf

pytest.importorskip("gguf")
RECIPE = S.SmolVLMRecipe(vision_hidden=32, vision_layers=1, vision_heads=2, vision_init="random", lora_rank=4, lora_alpha=8)
IMAGE = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "tiny-llama.gguf"
    write_tiny_llama_gguf(path)
    return path


@pytest.fixture(scope="module")
def trained(base, tmp_path_factory):
    """A built VLM with adapters whose LoRA and projector weights moved (as after training), saved as parts."""
    tokenizer, lm = S.load_base(base)
    model = S.add_adapters(S.build_vlm(tokenizer, lm, RECIPE)[0], RECIPE)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or "multi_modal_projector" in name:
                p.add_(torch.randn_like(p) * 0.1)
    parts = tmp_path_factory.mktemp("parts") / "parts"
    S.save_parts(model, RECIPE, S.file_sha256(base), parts, {"base": str(base)}, dtype=torch.float32)
    return model.eval(), parts


def test_the_base_gguf_loads_with_the_weights_it_was_written_with(base, tmp_path):
    source = write_tiny_llama_gguf(tmp_path / "again.gguf")
    tokenizer, lm = S.load_base(tmp_path / "again.gguf")
    got = lm.state_dict()
    assert all(np.array_equal(got[k].numpy(), v) for k, v in source.items()), "q/k come back un-permuted, every tensor exact"
    assert tokenizer.eos_token == "<|im_end|>" and lm.config.quantization_config is None


def test_only_the_vision_tower_projector_and_adapters_train(trained):
    model, _ = trained
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("vision_tower" in n or "multi_modal_projector" in n or "lora_" in n for n in names)
    assert any("lora_" in n and "language_model" in n for n in names) and not any("lora_" in n and "vision_tower" in n for n in names)


def test_the_assembled_folder_is_a_standard_checkpoint_that_answers_like_the_trained_model(trained, base, tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model, parts = trained
    folder = S.assemble(parts, cache=tmp_path, base=base, progress=False)
    loaded = AutoModelForImageTextToText.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
    assert type(loaded).__name__ == "LlavaForConditionalGeneration" and not any("lora" in k for k in loaded.state_dict())
    vlm = VLM.load(folder)
    assert vlm.format_prompt("Will it fall?") == "<|im_start|>user\n<image>\nWill it fall?<|im_end|>\n<|im_start|>assistant\n" and vlm.answer_prefix == ""
    assert processor.tokenizer.convert_tokens_to_ids("<image>") == loaded.config.image_token_id
    expected = VLM(model, processor).score_options([IMAGE], ["Will it fall?"], ["yes", "no"])
    torch.testing.assert_close(vlm.score_options([IMAGE], ["Will it fall?"], ["yes", "no"]), expected, rtol=1e-4, atol=1e-4)
    record = json.loads((folder / S.ASSEMBLY_JSON).read_text())
    assert record["base_sha256"] == S.file_sha256(base) and record["parts_record"]["recipe"]["lora_rank"] == 4


def test_assembly_is_reused_until_the_base_or_a_part_changes(trained, base, tmp_path):
    _, parts = trained
    folder = S.assemble(parts, cache=tmp_path, base=base, progress=False)
    stamp = os.stat(folder / "model.safetensors").st_mtime_ns
    assert S.assemble(parts, cache=tmp_path, base=base, progress=False) == folder and os.stat(folder / "model.safetensors").st_mtime_ns == stamp
    changed = tmp_path / "changed"
    changed.mkdir()
    for name in (S.PARTS_JSON, *S.PART_FILES):
        (changed / name).write_bytes((parts / name).read_bytes())
    record = json.loads((changed / S.PARTS_JSON).read_text())
    record["note"] = "another run"
    (changed / S.PARTS_JSON).write_text(json.dumps(record))
    assert S.assemble(changed, cache=tmp_path, base=base, progress=False) != folder
    other_base = tmp_path / "other.gguf"
    write_tiny_llama_gguf(other_base, seed=1)
    with pytest.raises(ValueError, match=r"were trained on a base model with SHA-256 [0-9a-f]{12}\.\.\., but .*other\.gguf' has [0-9a-f]{12}"):
        S.assemble(parts, cache=tmp_path, base=other_base, progress=False)
    assert not list(tmp_path.glob(".*partial")), "nothing half-written"


def test_bad_parts_and_bad_bases_are_one_line_errors(trained, base, tmp_path):
    _, parts = trained
    with pytest.raises(FileNotFoundError, match=r"is not a SmolLM2 VLM parts folder: no parts.json"):
        S.assemble(tmp_path, cache=tmp_path, base=base)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in S.PART_FILES:
        (broken / name).write_bytes((parts / name).read_bytes())
    (broken / S.PARTS_JSON).write_text(json.dumps({"recipe": {"vision_init": "imagenet"}}))
    with pytest.raises(ValueError, match=r"parts.json: vision_init must be 'tiny-vlm' or 'random', got 'imagenet'"):
        S.assemble(broken, cache=tmp_path, base=base)
    (broken / S.PARTS_JSON).write_text(json.dumps({"recipe": {"lora_rnak": 4}}))
    with pytest.raises(ValueError, match=r"unknown recipe field 'lora_rnak'"):
        S.assemble(broken, cache=tmp_path, base=base)
    (broken / S.PARTS_JSON).write_text(json.dumps({"recipe": {**json.loads((parts / S.PARTS_JSON).read_text())["recipe"], "vision_hidden": 64}}))
    with pytest.raises(ValueError, match=r"vision.safetensors' does not fit the model"):
        S.assemble(broken, cache=tmp_path, base=base, progress=False)
    (tmp_path / "not.gguf").write_bytes(b"GGUF but not really")
    with pytest.raises(ValueError, match=r"cannot read .*not\.gguf' as a GGUF language model"):
        S.load_base(tmp_path / "not.gguf")
    with pytest.raises(ValueError, match="vision_init 'tiny-vlm' needs the tiny VLM's vision tower: hidden_size is 192 there, the recipe asks for 32"):
        S.tiny_vlm_vision_state(S.SmolVLMRecipe(vision_hidden=32, vision_heads=2))


def test_the_vision_tower_can_start_from_the_tiny_vlm_s(base):
    recipe = S.SmolVLMRecipe(lora_rank=0)
    tokenizer, lm = S.load_base(base)
    model, _ = S.build_vlm(tokenizer, lm, recipe)
    shipped = S.tiny_vlm_vision_state(recipe)
    assert all(torch.equal(model.model.vision_tower.state_dict()[k], v) for k, v in shipped.items()) and len(shipped) > 50


def test_resolve_vlm_names_and_parts_folders(trained, monkeypatch, tmp_path):
    from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT

    assert resolve_vlm(None) == SHIPPED_CHECKPOINT == resolve_vlm("tiny")
    assert resolve_vlm("some/checkpoint") == type(SHIPPED_CHECKPOINT)("some/checkpoint")
    monkeypatch.setattr(S, "SHIPPED_PARTS", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"no trained SmolLM2 VLM parts ship in .* yet: make them with `physground pretrain-vlm --language-model smollm2"):
        resolve_vlm("smollm2")


def test_pretraining_writes_parts_that_assemble_and_are_evaluated(base, tmp_path, monkeypatch):
    from physground.perception.smollm2_pretraining import SmolPretrainSettings, pretrain_smollm2

    monkeypatch.setenv("PHYSGROUND_CACHE", str(tmp_path / "cache"))
    settings = SmolPretrainSettings(out=str(tmp_path / "parts"), n_scenes=6, eval_scenes=3, epochs=1, batch_size=8, accelerator="cpu",
                                    recipe=RECIPE, base=str(base))
    summary = pretrain_smollm2(settings)
    out = tmp_path / "parts"
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted([*S.PART_FILES, S.PARTS_JSON, "pretrain.json", "README.md"])
    assert summary["trained_parameters"] < summary["parameters"] and summary["steps"] >= 1
    assert sum(v["total"] for v in summary["held_out_accuracy"].values()) == summary["held_out_pairs"]
    tagged = summary["held_out_tagged"]
    assert sum(v["total"] for v in tagged.values()) == summary["held_out_pairs"] and all(v["correct"] <= v["followed"] <= v["total"] for v in tagged.values())
    assert "## Instruction following" in (out / "README.md").read_text()
    assert "--language-model smollm2" in (out / "README.md").read_text() and f"--base {base}" in json.loads((out / S.PARTS_JSON).read_text())["command"]
    assert VLM.load(resolve_vlm(out)).generate([IMAGE], ["How many blocks are there?"], max_new_tokens=3) is not None
    with pytest.raises(ValueError, match="--init-from is for the tiny VLM"):
        pretrain_smollm2(SmolPretrainSettings(out=str(tmp_path / "x"), init_from="somewhere", base=str(base)))


def test_an_agent_takes_a_parts_folder_as_its_vlm_and_trains_adapters_on_it(trained, tmp_path, monkeypatch):
    from physground.agent.factory import AgentSpec, build_policy
    from physground.agent.run import RunDir
    from physground.agent.sft import SFTConfig, train_sft

    monkeypatch.setenv("PHYSGROUND_CACHE", str(tmp_path / "cache"))
    _, parts = trained
    torch.manual_seed(0)
    policy = build_policy(AgentSpec("vlm-sft", "TowerStability", vlm=str(parts), lora_rank=4))
    assert policy.vlm.format_prompt("x").startswith("<|im_start|>user\n<image>")
    before = {n: p.clone() for n, p in policy.named_parameters() if p.requires_grad}
    assert any("lora_" in n and "language_model" in n for n in before), "the agent's own adapters, on the assembled (merged) model"
    metrics = train_sft(policy, "TowerStability", RunDir(tmp_path / "s"), seed=0, config=SFTConfig(examples=8, epochs=1, batch_size=4, lr=1e-2),
                        image_size=64, progress=False)
    assert metrics["final"]["epoch"] == 1 and any(not torch.equal(p, before[n]) for n, p in policy.named_parameters() if n in before and "lora_" in n)
