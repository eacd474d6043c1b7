"""The tiny VLM: static questions only, deterministic data, CPU pre-training, the shipped model."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from physground.envs import TASKS, SceneConfig
from physground.envs.scene import BLOCK_SIZE
from physground.perception.scene_text import OPT_IN_TYPES, QUESTION_TYPES, caption, normalize_answer, offset_answer, scene_questions, tower_colours
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT, SMALL_MODEL, PretrainSettings, evaluate_vlm, generate_pairs, pretrain
from physground.perception.vlm import VLM
from tests.conftest import composed_slow

OUTCOME_WORDS = re.compile(r"\b(fall|falls|fell|land|lands|catch|caught|topple|collapse|will|stable|stand)\b", re.I)


@pytest.mark.parametrize("task", composed_slow(list(TASKS)))
def test_questions_are_about_static_content_only(task):
    env = TASKS[task].env_class(scene=SceneConfig(render_images=False))
    rng = np.random.default_rng(0)
    for seed in range(20):
        for qa in scene_questions(env.propose_scene(seed), rng, OPT_IN_TYPES).values():
            assert not OUTCOME_WORDS.search(qa.question + " " + qa.answer), qa


def test_answers_agree_with_the_scene():
    env = TASKS["TowerStability"].env_class(scene=SceneConfig(render_images=False))
    rng = np.random.default_rng(1)
    for seed in range(30):
        scene = env.propose_scene(seed)
        cubes = sorted((o for o in scene["objects"] if o["shape"] == "cube"), key=lambda o: -o["position"][2])
        qs = scene_questions(scene, rng)
        assert qs["count"].answer == str(len(cubes))
        assert tower_colours(scene) == [c["colour"] for c in cubes]
        if "order" in qs:
            assert qs["order"].answer == ", ".join(c["colour"] for c in cubes)
        assert qs["highest"].answer == f"the {cubes[0]['colour']} block"
        assert caption(scene).startswith(f"a tower of {len(cubes)} block")
    assert normalize_answer("  The Red Block. ") == "the red block"


def test_pair_generation_is_deterministic_whatever_the_worker_count():
    one = generate_pairs(12, seed=3, workers=1)
    two = generate_pairs(12, seed=3, workers=2)
    np.testing.assert_array_equal(one.images, two.images)
    assert one.items == two.items and len(one) >= 12 * 5
    assert {k for *_, k in one.items} == set(QUESTION_TYPES) - set(OPT_IN_TYPES), "opt-in types only when asked for"


def test_offset_answers_are_tenths_of_a_block_with_a_direction():
    b = BLOCK_SIZE
    assert offset_answer(0.01 * b, 0.0) == "centred"
    assert offset_answer(0.0, 0.26 * b) == "0.3 left"
    assert offset_answer(0.58 * b, 0.0) == "0.6 right"


def test_offset_questions_are_opt_in_and_agree_with_the_tower():
    env = TASKS["TowerStability"].env_class(scene=SceneConfig(render_images=False))
    for seed in range(30):
        scene = env.propose_scene(seed)
        plain = scene_questions(scene, np.random.default_rng(seed))
        with_offset = scene_questions(scene, np.random.default_rng(seed), ("offset",))
        assert "offset" not in plain and {k: with_offset[k] for k in plain} == plain, "default questions unchanged"
        tower = sorted((o for o in scene["objects"] if o["shape"] == "cube"), key=lambda o: o["position"][2])
        if len(tower) < 2:
            assert "offset" not in with_offset
            continue
        qa = with_offset["offset"]
        pairs = {(f"the {u['colour']} block", f"the {l['colour']} block"): offset_answer(u["position"][0], l["position"][0]) for l, u in zip(tower, tower[1:])}
        (pair,) = [p for p in pairs if p[0] in qa.question and p[1] in qa.question]
        assert qa.answer == pairs[pair]
    data = generate_pairs(6, seed=2, extra={"offset": 2})
    assert any(k == "offset" for *_, k in data.items)


def test_pretraining_runs_on_cpu_and_writes_a_complete_checkpoint(tmp_path):
    out = tmp_path / "tiny"
    summary = pretrain(PretrainSettings(out=str(out), n_scenes=24, eval_scenes=6, epochs=1, batch_size=16, accelerator="cpu", model=SMALL_MODEL))
    for name in ("model.safetensors", "config.json", "tokenizer.json", "processor_config.json", "README.md", "pretrain.json"):
        assert (out / name).exists(), name
    assert not list(tmp_path.glob(".*partial")), "the temporary folder must be renamed away"
    card = (out / "README.md").read_text()
    assert "physground pretrain-vlm --out" in card and "| count |" in card
    assert summary["train_pairs"] > 100 and set(summary["held_out_accuracy"]) == set(QUESTION_TYPES)
    VLM.load(out)  # loads back through the Auto classes


def test_the_shipped_checkpoint_is_small_documented_and_answers_fresh_scenes():
    files = sum(p.stat().st_size for p in SHIPPED_CHECKPOINT.iterdir())
    assert files <= 20 * 1024 * 1024
    summary = json.loads((SHIPPED_CHECKPOINT / "pretrain.json").read_text())
    for kind, result in summary["held_out_accuracy"].items():
        assert result["accuracy"] >= 0.9, kind
    card = (SHIPPED_CHECKPOINT / "README.md").read_text()
    assert "never trained on an outcome" in card and "physground pretrain-vlm" in card
    vlm = VLM.load(SHIPPED_CHECKPOINT)
    data = generate_pairs(12, seed=424242, dr_fraction=0.0)
    scores = evaluate_vlm(vlm, data)
    correct = sum(v["correct"] for v in scores.values())
    total = sum(v["total"] for v in scores.values())
    assert correct / total >= 0.85, scores


def test_evaluation_in_the_tagged_format_counts_only_answers_in_it():
    from physground.envs.answer_formats import answer_format
    from physground.perception.tiny_vlm import PairData

    class Scripted:  # answers by question, and records the prompts it was given
        prompts: list[str] = []

        def generate(self, images, prompts, max_new_tokens):
            self.prompts += prompts
            return ["<answer>3</answer>" if p.startswith("How many") else "red" for p in prompts]

    data = PairData(np.zeros((1, 4, 4, 3), np.uint8), [(0, "How many blocks?", "3", "count"), (0, "What colour is it?", "red", "colour")], ["TowerStability"])
    vlm = Scripted()
    plain = evaluate_vlm(vlm, data)
    assert plain["count"]["correct"] == 0 and plain["colour"]["correct"] == 1 and "followed" not in plain["count"]
    tagged = evaluate_vlm(vlm, data, answer_format=answer_format("tagged"))
    assert tagged["count"] == {"accuracy": 1.0, "correct": 1, "total": 1, "followed": 1, "followed_share": 1.0}
    assert tagged["colour"]["correct"] == 0 and tagged["colour"]["followed"] == 0, "right word, not in the format"
    assert vlm.prompts[-1] == "What colour is it? Write your answer between <answer> and </answer>."
