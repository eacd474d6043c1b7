"""Position refiner: crop geometry, the correction loop, training examples, checkpoints, and the
shipped refiner's precision."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch
from PIL import Image

from physground.envs.scene import BLOCK_SIZE, project_points
from physground.perception.grounder_training import SHIPPED_GROUNDER, GrounderSettings
from physground.perception.grounders import GrounderHead, GrounderHeadConfig, LearnedGrounder
from physground.perception.grounding_eval import evaluate_grounder
from physground.perception.refiner import PositionRefiner, RefinerConfig, crop_around, images_to_tensor, refine_centres
from physground.perception.refiner_training import BlockExamples, RefinerSettings, before_grounder
from physground.perception.scene_data import render_scenes
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT
from physground.perception.vlm import VLM


@pytest.fixture(scope="module")
def tiny_vlm():
    return VLM.load(SHIPPED_CHECKPOINT)


def _ramp_images(size: int) -> torch.Tensor:
    """Channel 0 = column / size, channel 1 = row / size: bilinear sampling of it is exact."""
    cols, rows = np.meshgrid(np.arange(size), np.arange(size))
    image = np.stack([cols / size, rows / size, np.zeros_like(cols, dtype=float)])
    return torch.tensor(image[None], dtype=torch.float32)


def test_crops_sample_the_image_at_sub_pixel_positions_around_the_projection():
    config = RefinerConfig(crop=16)
    centre = np.array([[0.013, 0.0, 0.117]])
    col, row = project_points(centre, 128)[0]
    crop = crop_around(_ramp_images(128), centre, config)[0]
    k = torch.arange(16, dtype=torch.float32)
    # pixel c's centre is at c + 0.5; sample k of the crop is at col + k - 8 + 0.5
    torch.testing.assert_close(crop[0, 5], (col + k - 8) / 128, atol=1e-5, rtol=0)
    torch.testing.assert_close(crop[1, :, 5], (row + k - 8) / 128, atol=1e-5, rtol=0)


def test_crops_cover_the_same_scene_region_at_every_resolution():
    config = RefinerConfig(crop=16)
    centre = np.array([[-0.05, 0.0, 0.2]])
    small = crop_around(_ramp_images(64), centre, config)[0]
    large = crop_around(_ramp_images(128), centre, config)[0]
    # the ramp is position / size, so both read the same fraction of the image
    torch.testing.assert_close(small[0, 8, 2:-2], large[0, 8, 2:-2], atol=1 / 64, rtol=0)


def _constant_refiner(dx: float, dz: float, passes: int) -> PositionRefiner:
    refiner = PositionRefiner(RefinerConfig(crop=16, width=8, passes=passes))
    last = refiner.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([dx, dz]))
    return refiner


def test_each_pass_applies_the_correction_to_x_and_z_only():
    centres = np.array([[0.0, 0.01, 0.03], [0.1, -0.02, 0.09]])
    refined = refine_centres(_constant_refiner(0.1, -0.2, passes=2), torch.zeros(2, 3, 64, 64), centres)
    np.testing.assert_allclose(refined[:, 0], centres[:, 0] + 0.2 * BLOCK_SIZE, atol=1e-6)
    np.testing.assert_allclose(refined[:, 2], centres[:, 2] - 0.4 * BLOCK_SIZE, atol=1e-6)
    np.testing.assert_allclose(refined[:, 1], centres[:, 1])
    assert refine_centres(_constant_refiner(0.1, 0.1, 1), torch.zeros(0, 3, 64, 64), np.zeros((0, 3))).shape == (0, 3)


def test_bad_shapes_and_settings_are_refused_naming_the_value():
    with pytest.raises(ValueError, match=r"crop must be a multiple of 8.*12"):
        RefinerConfig(crop=12)
    with pytest.raises(ValueError, match=r"expects crops \(B, 3, 16, 16\)"):
        _constant_refiner(0, 0, 1)(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"RGB images \(B, H, W, 3\), got shape \(2, 8, 8\)"):
        images_to_tensor(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="refiner steps must be a positive integer, got 0"):
        RefinerSettings(out="x", steps=0)
    with pytest.raises(ValueError, match="refiner steps must be at least 3 .*got 2"):
        RefinerSettings(out="x", steps=2)
    with pytest.raises(ValueError, match=r"jitter must be three non-negative.*-0.1"):
        RefinerSettings(out="x", jitter=(0.5, -0.1, 0.2))
    with pytest.raises(ValueError, match=r"multisamples must be an integer in \[0, 16\], got 17"):
        RefinerSettings(out="x", multisamples=17)
    with pytest.raises(ValueError, match=r"multisamples must be an integer in \[0, 16\], got -1"):
        GrounderSettings(out="x", multisamples=-1)


def test_training_scenes_are_rendered_with_the_anti_aliasing_asked_for():
    aliased, multisampled = (render_scenes(2, seed=31_000_003, tasks=("TowerStability",), multisamples=m) for m in (0, 4))
    assert [s["objects"] for s in aliased.scenes] == [s["objects"] for s in multisampled.scenes], "the same scenes"
    assert not np.array_equal(aliased.images, multisampled.images)
    assert np.abs(aliased.images.astype(int) - multisampled.images.astype(int)).mean() < 2, "edges differ, not the picture"


def test_the_default_settings_are_the_shipped_refiners_recipe():
    """`physground train-refiner` with no options retrains the shipped refiner (paths and the
    rendering processes aside), and the command line's defaults are the settings' defaults."""
    import json

    from physground.experiments.cli import _perception_settings, build_parser

    recipe = json.loads((SHIPPED_GROUNDER / "refiner.json").read_text())["settings"]
    defaults = asdict(RefinerSettings(out="x"))
    for key in ("n_scenes", "steps", "batch_size", "lr", "jitter", "seed", "eval_per_task", "multisamples"):
        assert defaults[key] == (tuple(recipe[key]) if key == "jitter" else recipe[key]), key
    from_cli = asdict(_perception_settings(build_parser().parse_args(["train-refiner"]), RefinerSettings, "refiner"))
    assert from_cli == {**defaults, "out": "out/learned-grounder"}, "the command line's defaults are the settings' own"


def test_crops_cut_in_loader_processes_are_the_batches_of_the_training_process():
    config = RefinerConfig(crop=16)
    images = torch.randint(0, 256, (3, 3, 128, 128), dtype=torch.uint8)
    centres = np.array([[0.0, 0.0, 0.03], [0.05, 0.0, 0.09], [-0.04, 0.0, 0.15]])
    examples = BlockExamples(images, np.array([0, 1, 2]), centres, (0.5, 0.1, 0.25), seed=5, length=24, config=config)
    batches = [
        list(torch.utils.data.DataLoader(examples, batch_size=8, collate_fn=examples.collate, num_workers=workers))
        for workers in (0, 2)
    ]
    assert len(batches[0]) == 3
    for (crops, targets), (crops2, targets2) in zip(*batches):
        assert torch.equal(crops, crops2) and torch.equal(targets, targets2)


def test_training_examples_repeat_and_point_back_to_the_true_centre():
    config = RefinerConfig(crop=16)
    images = torch.zeros(2, 3, 128, 128, dtype=torch.uint8)
    centres = np.array([[0.0, 0.0, 0.03], [0.05, 0.0, 0.09]])
    examples = BlockExamples(images, np.array([0, 1]), centres, (0.5, 0.1, 0.25), seed=3, length=10, config=config)
    for k in range(10):
        index, coarse, target = examples[k]
        again = examples[k]
        assert again[0] == index and np.array_equal(again[1], coarse)
        np.testing.assert_allclose(coarse[[0, 2]] + target * BLOCK_SIZE, centres[index][[0, 2]], atol=1e-12)
        assert abs(target[0]) <= 0.5 and abs(target[1]) <= 0.25
    crops, targets = examples.collate([examples[0], examples[1]])
    assert crops.shape == (2, 3, 16, 16) and targets.shape == (2, 2)


def test_a_grounder_saves_and_loads_its_refiner_and_refuses_a_corrupted_one(tiny_vlm, tmp_path):
    features = tiny_vlm.vision_features([np.zeros((64, 64, 3), np.uint8)])
    head = GrounderHead(GrounderHeadConfig(feature_dim=features.shape[2], num_tokens=features.shape[1], width=32, layers=1))
    refiner = _constant_refiner(0.3, 0.0, passes=1)
    LearnedGrounder(tiny_vlm, head, refiner=refiner).save(tmp_path / "g")
    loaded = LearnedGrounder.load(tmp_path / "g", tiny_vlm)
    assert loaded.refiner is not None and loaded.refiner.config == refiner.config
    for a, b in zip(refiner.state_dict().values(), loaded.refiner.state_dict().values()):
        torch.testing.assert_close(a, b)
    (tmp_path / "g" / "refiner.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="corrupted position refiner"):
        LearnedGrounder.load(tmp_path / "g", tiny_vlm)


def test_the_shipped_refiner_places_blocks_more_precisely_than_the_head_alone(tiny_vlm):
    grounder = LearnedGrounder.load(SHIPPED_GROUNDER, tiny_vlm)
    assert grounder.refiner is not None
    data = render_scenes(24, seed=31_000_001, tasks=("TowerStability", "BlockRemoval"))
    refined = evaluate_grounder(grounder, data)["all"]["cube_x_error"]
    coarse = evaluate_grounder(before_grounder(grounder), data)["all"]["cube_x_error"]
    assert refined["blocks"] >= 48
    assert refined["mean_abs"] < 0.05 and refined["mean_abs"] < coarse["mean_abs"] / 2


@pytest.mark.slow
def test_train_refiner_end_to_end_writes_a_loadable_grounder_with_a_card(tiny_vlm, tmp_path):
    from physground.perception.refiner_training import train_refiner

    out = tmp_path / "grounder"
    summary = train_refiner(RefinerSettings(out=str(out), n_scenes=60, steps=6, batch_size=16, eval_per_task=2, accelerator="cpu"))
    assert summary["steps"] == 6 and set(summary["block_x_error"]) == {"without refiner", "with refiner"}
    assert {"head.safetensors", "refiner.safetensors", "config.json", "README.md", "refiner.json"} <= {p.name for p in out.iterdir()}
    card = (out / "README.md").read_text()
    assert card.count("## Position refiner") == 1 and "physground train-refiner" in card
    assert LearnedGrounder.load(out, tiny_vlm).refiner is not None
    assert not list(tmp_path.glob(".grounder.*")), "no temporary folder left behind"


def test_a_refined_grounder_takes_a_batch_of_mixed_image_sizes(tiny_vlm):
    grounder = LearnedGrounder.load(SHIPPED_GROUNDER, tiny_vlm)
    data = render_scenes(2, seed=31_000_002, tasks=("TowerStability",))
    small = np.asarray(Image.fromarray(data.images[1]).resize((96, 96)))
    graphs = grounder.ground([data.images[0], small])
    assert all(any(n.shape == "cube" for n in g.nodes) for g in graphs)


def test_perception_settings_come_from_a_config_file_then_the_flags_and_are_checked_whole(tmp_path, capsys):
    from physground.experiments.cli import _perception_settings, build_parser, main
    from physground.perception.grounder_training import GrounderSettings
    from physground.perception.refiner import RefinerConfig
    from physground.perception.refiner_training import RefinerSettings

    config = tmp_path / "refiner.yaml"
    config.write_text("steps: 10\nlr: 0.01\nrefiner: {crop: 24}\n")
    args = build_parser().parse_args(["train-refiner", "--config", str(config), "--steps", "50", "--refiner.passes", "1", "--out", str(tmp_path / "r")])
    settings = _perception_settings(args, RefinerSettings, "refiner")
    assert settings.steps == 50 and settings.lr == 0.01 and settings.refiner == RefinerConfig(crop=24, passes=1)
    assert settings.n_scenes == RefinerSettings(out="x").n_scenes, "the dataclass holds the defaults"
    bad = tmp_path / "grounder.yaml"
    bad.write_text("head: {width: wide}\n")
    assert main(["train-grounder", "--config", str(bad), "--out", str(tmp_path / "g")]) == 2
    assert "config" in (err := capsys.readouterr().err) and "head.width must be an integer, got 'wide'" in err and err.count("\n") == 1
    assert main(["train-grounder", "--head.layers", "0", "--scenes", "0", "--out", str(tmp_path / "g")]) == 2
    assert "grounder n_scenes must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="head.feature_dim follows from the VLM"):
        GrounderSettings(out="x", head={"feature_dim": 8})
    assert not (tmp_path / "g").exists() and not (tmp_path / "r").exists()
