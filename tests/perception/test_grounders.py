"""Grounders: parsing model output, the oracle's perfect scores, the learned head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physground.envs.scene import BLOCK_SIZE
from physground.perception.grounder_training import SHIPPED_GROUNDER
from physground.perception.grounders import (
    CLASSES,
    GrounderHead,
    GrounderHeadConfig,
    LearnedGrounder,
    OracleGrounder,
    PerceivedObject,
    VLMGrounder,
    graph_from_objects,
    grounder_loss,
    hungarian_match,
    parse_object_list,
    scene_targets,
)
from physground.perception.grounding_eval import evaluate_grounder, evaluation_scenes
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT
from physground.perception.vlm import VLM


@pytest.fixture(scope="module")
def fresh_scenes():
    return evaluation_scenes(2)  # 2 scenes of each task


@pytest.fixture(scope="module")
def tiny_vlm():
    return VLM.load(SHIPPED_CHECKPOINT)


def test_parse_a_clean_list():
    result = parse_object_list('[{"shape": "cube", "colour": "red", "x": 0.01, "z": 0.03}, {"shape": "ball", "colour": "blue", "x": -0.1, "z": 0.2}]')
    assert [o.kind for o in result.objects] == ["cube", "ball"] and result.errors == []
    assert result.objects[0].position == [0.01, 0.0, 0.03]


@pytest.mark.parametrize(
    ("text", "kept", "error"),
    [
        ('Sure! ```json\n[{"shape": "block", "colour": "red", "x": 0, "z": 0.03}]\n```', 1, None),
        ('[{"shape": "cube", "colour": "red", "x": 0, "z": 0.03}, {"shape": "cube", "colo', 1, "malformed JSON"),
        ('[{"shape": "dragon", "x": 0, "z": 0}, {"shape": "cube", "x": 0, "z": 0.03}]', 1, "dragon"),
        ('[{"shape": "cube", "colour": "mauve", "x": 0, "z": 0.03}]', 1, "mauve"),
        ('[{"shape": "cube", "x": "left", "z": 0.03}]', 0, "numeric x and z"),
        ('{"shape": "ball", "x": 0.1, "z": 0.2}', 1, None),
        ("I see three blocks.", 0, "no JSON"),
        ("", 0, "empty answer"),
        ("[[[[", 0, "malformed JSON"),
    ],
)
def test_parse_keeps_the_valid_part_and_records_errors(text, kept, error):
    result = parse_object_list(text)
    assert len(result.objects) == kept
    if error is None:
        assert result.errors == []
    else:
        assert any(error in e for e in result.errors), result.errors


def test_parser_never_raises_on_random_text():
    rng = np.random.default_rng(0)
    alphabet = list('[]{}":,. 0123456789abcxyz-') + ["shape", "cube", "ball", "x", "z"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 40))))
        parse_object_list(text)


def test_graph_from_objects_names_like_the_simulator():
    objs = [
        PerceivedObject("cube", "blue", None, [0.0, 0, 3 * BLOCK_SIZE / 2]),
        PerceivedObject("cube", "red", None, [0.0, 0, BLOCK_SIZE / 2]),
        PerceivedObject("platform", None, "ice", [0.5, 0, 0.03], size=[0.3, 0.12, 0.06], confidence=0.9),
        PerceivedObject("platform", None, "wood", [0.5, 0, 0.03], size=[0.3, 0.12, 0.06], confidence=0.4),
    ]
    g = graph_from_objects(objs)
    assert [n.id for n in g.nodes] == ["cube0", "cube1", "platform"]
    assert g.node("cube0").colour == "red" and g.node("platform").material == "ice"
    assert g.related("on_top_of") == {("cube1", "cube0")}


def test_oracle_grounder_scores_perfectly(fresh_scenes):
    results = evaluate_grounder(OracleGrounder(), fresh_scenes)
    assert results["all"]["count_accuracy"] == 1.0 and results["all"]["colour_accuracy"] == 1.0
    assert results["all"]["position_error"] == 0.0 and results["all"]["on_top_of_f1"] == 1.0
    cubes = sum(o["shape"] == "cube" for s in fresh_scenes.scenes for o in s["objects"])
    assert results["all"]["cube_x_error"] == {"blocks": cubes, "mean_abs": 0.0, "std": 0.0, "p95": 0.0}
    with pytest.raises(ValueError, match="ground-truth scene"):
        OracleGrounder().ground(list(fresh_scenes.images[:1]))


def test_vlm_grounder_never_crashes_and_records_parse_errors(tiny_vlm, fresh_scenes):
    grounder = VLMGrounder(tiny_vlm, max_new_tokens=12)
    graphs = grounder.ground(list(fresh_scenes.images[:3]))
    assert len(graphs) == 3 and len(grounder.last_errors) == 3
    for graph, errors, answer in zip(graphs, grounder.last_errors, grounder.last_answers):
        assert graph.nodes or errors, f"an empty graph must come with a recorded reason: {answer!r}"


def test_hungarian_matching_pairs_targets_with_the_closest_queries():
    pred = {"class": torch.zeros(4, len(CLASSES)), "box": torch.zeros(4, 9)}
    pred["box"][2, :3] = torch.tensor([5.0, 0, 0.5])
    pred["box"][0, :3] = torch.tensor([-3.0, 0, 0.5])
    targets = [{"class": 1, "box": [-3.0, 0, 0.5] + [1] * 6}, {"class": 1, "box": [5.0, 0, 0.5] + [1] * 6}]
    rows, cols = hungarian_match(pred, targets)
    assert dict(zip(cols.tolist(), rows.tolist())) == {0: 0, 1: 2}


def test_the_head_overfits_a_few_scenes(fresh_scenes):
    torch.manual_seed(0)
    config = GrounderHeadConfig(feature_dim=16, num_tokens=8, width=64, layers=2, queries=8)
    head = GrounderHead(config)
    features = torch.randn(4, 8, 16)
    targets = [scene_targets(s) for s in fresh_scenes.scenes[:4]]
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        loss, parts = grounder_loss(head(features), targets)
        first = first if first is not None else float(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.1 * first and parts["position"] < 0.1


def test_the_head_refuses_features_of_the_wrong_shape():
    head = GrounderHead(GrounderHeadConfig(feature_dim=16, num_tokens=8))
    with pytest.raises(ValueError, match=r"expects features \(B, 8, 16\)"):
        head(torch.zeros(1, 9, 16))


def test_save_and_load_round_trip_and_refuse_bad_checkpoints(tiny_vlm, fresh_scenes, tmp_path):
    features = tiny_vlm.vision_features(list(fresh_scenes.images[:1]))
    head = GrounderHead(GrounderHeadConfig(feature_dim=features.shape[2], num_tokens=features.shape[1], width=32, layers=1))
    grounder = LearnedGrounder(tiny_vlm, head, threshold=0.7)
    grounder.save(tmp_path / "g")
    loaded = LearnedGrounder.load(tmp_path / "g", tiny_vlm)
    assert loaded.threshold == 0.7
    for a, b in zip(head.state_dict().values(), loaded.head.state_dict().values()):
        torch.testing.assert_close(a, b)
    with pytest.raises(FileNotFoundError, match="train-grounder"):
        LearnedGrounder.load(tmp_path / "missing", tiny_vlm)
    (tmp_path / "g" / "head.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="corrupted learned grounder"):
        LearnedGrounder.load(tmp_path / "g", tiny_vlm)


def test_the_shipped_learned_grounder_grounds_fresh_scenes(tiny_vlm, fresh_scenes):
    grounder = LearnedGrounder.load(SHIPPED_GROUNDER, tiny_vlm)
    results = evaluate_grounder(grounder, fresh_scenes)
    assert results["all"]["count_accuracy"] >= 0.75 and results["all"]["colour_accuracy"] >= 0.75
    assert results["all"]["position_error"] < 0.5


def test_a_grounder_refuses_a_vlm_whose_image_tokens_it_was_not_trained_on(llava_dir):
    with pytest.raises(ValueError, match=r"expects image tokens \(64, 256\) but this VLM gives .*train one on this VLM with `physground train-grounder --vlm"):
        LearnedGrounder.load(SHIPPED_GROUNDER, VLM.load(llava_dir))
