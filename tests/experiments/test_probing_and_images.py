"""Probing statistics and evaluation on photographs."""

from __future__ import annotations

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

from physground.envs import SceneConfig, TowerStabilityEnv
from physground.experiments.cli import main
from physground.experiments.probing import (
    PROBE_SEED,
    QUANTITIES,
    ProbeData,
    control_targets,
    logistic_accuracy,
    probe_datasets,
    probe_features,
    randomise_weights,
    ridge_r2,
    seed_interval,
    within_group_accuracy,
)
from physground.experiments.real_images import read_labels
from physground.perception.images import square_resize


def test_probes_decode_what_is_there_and_not_what_is_not():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20))
    y = x[:, 3] * 2.0 + 0.1 * rng.normal(size=300)
    assert ridge_r2(x, y) > 0.95
    assert ridge_r2(x, rng.normal(size=300)) < 0.1
    labels = (x[:, 5] > 0).astype(float)
    assert logistic_accuracy(x, labels) > 0.9
    assert logistic_accuracy(x, rng.integers(0, 2, 300).astype(float)) < 0.65


def _data(x: np.ndarray, y: np.ndarray, types: np.ndarray, kind: str = "classification", groups: np.ndarray | None = None) -> ProbeData:
    return ProbeData("q", kind, [], [], y, types, x, groups)


def test_the_control_task_gives_a_type_one_label_and_exposes_memorising_features():
    """Features that only identify the scene type decode control labels, not the quantity: their
    selectivity is negative; features carrying the quantity but not the type are selective."""
    rng = np.random.default_rng(1)
    types = rng.integers(0, 12, 400)
    y = (rng.random(400) < 0.5).astype(float)  # not a function of the type
    data = _data(np.eye(12)[types] + 0.05 * rng.normal(size=(400, 12)), y, types)
    control = control_targets(data, seed=0)
    assert all(len(set(control[types == t])) == 1 for t in np.unique(types))
    assert set(np.unique(control)) == {0.0, 1.0}
    memorising = probe_features(data.cues, data, seed=0)
    assert memorising["control"] > 0.9 and memorising["score"] < 0.62
    reading = probe_features(np.column_stack([y + 0.3 * rng.normal(size=400), rng.normal(size=(400, 5))]), data, seed=0)
    assert reading["score"] > 0.85 and reading["score"] - reading["control"] > 0.25


def test_regression_control_labels_come_from_the_quantitys_values_and_skip_undefined_targets():
    rng = np.random.default_rng(2)
    types = rng.integers(0, 5, 200)
    y = rng.normal(size=200)
    y[:20] = np.nan
    data = _data(rng.normal(size=(200, 3)), y, types, kind="regression")
    control = control_targets(data, seed=3)
    assert set(control.tolist()) <= set(y[20:].tolist())
    out = probe_features(data.cues, data, seed=0)  # NaN targets left out, not propagated
    assert np.isfinite(out["score"]) and np.isfinite(out["control"])


def test_the_count_controlled_probe_separates_count_from_what_varies_within_a_count():
    """A feature that is the count predicts falls overall but nothing within a count; a feature
    that decides falls within each count does."""
    rng = np.random.default_rng(3)
    counts = rng.integers(2, 6, 600)
    within = rng.normal(size=600)
    falls = ((counts >= 4) ^ (within > 1.0)).astype(float)  # mostly the count, partly within
    count_only = within_group_accuracy(np.column_stack([counts, rng.normal(size=600)]), falls, counts)
    physical = within_group_accuracy(np.column_stack([within, rng.normal(size=600)]), falls, counts)
    assert count_only["scenes"] == physical["scenes"] == 600
    assert abs(count_only["accuracy"] - count_only["majority"]) < 0.05 < physical["accuracy"] - physical["majority"]
    pure = within_group_accuracy(np.column_stack([counts]), (counts >= 4).astype(float), counts)
    assert pure["scenes"] == 0 and np.isnan(pure["accuracy"])  # no count holds both answers


def test_seed_intervals_are_t_intervals():
    mean, low, high = seed_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and high - mean == pytest.approx(4.303 / np.sqrt(3))
    assert seed_interval([0.5]) == (0.5, 0.5, 0.5)


def test_random_weights_are_fresh_reproducible_and_keep_norms_neutral(llava_dir):
    import torch
    from transformers import AutoModelForImageTextToText

    def randomised(seed: int) -> torch.nn.Module:
        model = AutoModelForImageTextToText.from_pretrained(llava_dir)
        randomise_weights(model, seed)
        return model

    trained = dict(AutoModelForImageTextToText.from_pretrained(llava_dir).named_parameters())
    first, again, other = (dict(randomised(s).named_parameters()) for s in (0, 0, 1))
    matrices = [name for name, p in trained.items() if p.dim() >= 2]
    assert matrices and all(not torch.equal(first[n], trained[n]) for n in matrices)
    assert all(torch.equal(first[n], again[n]) for n in trained)
    assert any(not torch.equal(first[n], other[n]) for n in matrices)
    norms = [n for n in trained if "norm" in n and n.endswith("weight")]
    assert norms and all(torch.all(first[n] == 1) for n in norms)
    assert all(float(first[n].std()) == pytest.approx(0.02, rel=0.3) for n in matrices if first[n].numel() > 1000)


def test_probe_datasets_hold_the_quantities_of_their_scenes():
    data = {d.name: d for d in probe_datasets(6, seed=0, image_size=32)}
    assert list(data) == list(QUANTITIES)
    towers = data["tower falls"]
    assert towers.images is data["number of blocks"].images and len(towers.images) == 6
    assert set(towers.targets.tolist()) <= {0.0, 1.0} and np.array_equal(towers.groups, data["number of blocks"].targets)
    support, above = data["support offset after removal"].targets, data["blocks above the removed one"].targets
    env = gym.make("physground/BlockRemoval-v0", scene={"render_images": False})
    for i in range(6):
        scene = env.reset(seed=PROBE_SEED + i)[1]["scene"]
        level = scene["meta"]["tower"].index(scene["meta"]["red"])
        assert above[i] == len(scene["meta"]["tower"]) - 1 - level and np.isnan(support[i]) == (level == 0)
    env.close()
    assert all(np.isfinite(data[q].targets).all() for q in ("ball speed", "landing position", "basket offset from landing"))


@pytest.fixture
def photos(tmp_path):
    env = TowerStabilityEnv(scene=SceneConfig(image_size=96))
    folder = tmp_path / "photos"
    folder.mkdir()
    rows = ["image,answer"]
    for i in range(4):
        obs, info = env.reset(seed=i)
        # a non-square "photograph" with a border, as a camera would give
        picture = np.pad(obs["image"], ((10, 10), (30, 30), (0, 0)), constant_values=200)
        imageio.imwrite(folder / f"p{i}.png", picture)
        rows.append(f"p{i}.png,{info['answer'].upper() if i % 2 else info['answer']}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder, tmp_path / "labels.csv"


def test_images_of_any_size_are_cropped_and_resized(photos):
    folder, labels = photos
    data = read_labels(folder, labels, "TowerStability", 64)
    assert len(data) == 4 and data[0].image.shape == (64, 64, 3) and {d.answer for d in data} <= {0, 1}
    from PIL import Image

    assert square_resize(Image.new("RGB", (300, 100), (255, 0, 0)), 32).shape == (32, 32, 3)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f, l: l.write_text("image,answer\nmissing.png,yes\n"), "no image"),
        (lambda f, l: l.write_text("image,answer\np0.png,perhaps\n"), "answer 'perhaps' is not one of yes, no"),
        (lambda f, l: l.write_text("picture;label\np0.png;yes\n"), "header with the columns image,answer"),
        (lambda f, l: (f / "p0.png").write_bytes(b"not a png"), "cannot read picture"),
        (lambda f, l: l.write_text("image,answer\n"), "has no rows"),
        (lambda f, l: l.write_text("image,answer\np0.png,yes,extra\n"), "line 2: 3 fields, the header has 2"),
        (lambda f, l: l.write_text("image,answer\np0.png\n"), "line 2: 1 field, the header has 2"),
        (lambda f, l: l.write_text("image,answer\np0.png,yes\np1.png,no\np0.png,yes\n"), "line 4: image 'p0.png' is already listed on line 2"),
        (lambda f, l: l.write_text("image,answer\n../labels.csv,yes\n"), "image '../labels.csv' is outside the images folder"),
        (lambda f, l: l.write_text(f"image,answer\n{f / 'p0.png'},yes\n"), "is outside the images folder"),
        (lambda f, l: l.write_bytes(b"\xff\xfeimage,answer\n"), "not a readable UTF-8 CSV"),
    ],
)
def test_bad_inputs_are_refused_naming_the_problem(photos, mutate, message):
    folder, labels = photos
    mutate(folder, labels)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        read_labels(folder, labels, "TowerStability", 64)


def test_a_byte_order_mark_is_not_part_of_the_header(photos):
    folder, labels = photos
    labels.write_bytes(b"\xef\xbb\xbf" + labels.read_bytes())
    assert len(read_labels(folder, labels, "TowerStability", 32)) == 4


def test_eval_images_command_scores_a_run(photos, tmp_path, llava_dir, capsys):
    folder, labels = photos
    run = tmp_path / "zs"
    assert main(["train-agent", "--agent", "vlm-zero-shot", "--task", "TowerStability", "--vlm", str(llava_dir), "--out", str(run), "--image-size", "64"]) == 0
    out = tmp_path / "pred.csv"
    assert main(["eval-images", "--run", str(run), "--task", "TowerStability", "--images", str(folder), "--labels", str(labels), "--out", str(out)]) == 0
    assert '"accuracy"' in capsys.readouterr().out
    lines = out.read_text().strip().splitlines()
    assert lines[0] == "image,answer,predicted,correct" and len(lines) == 5
    (folder / "p0.png").rename(folder / "a, b.png")  # a name with a comma is quoted, not split
    labels.write_text(labels.read_text().replace("p0.png", '"a, b.png"'))
    assert main(["eval-images", "--run", str(run), "--task", "TowerStability", "--images", str(folder), "--labels", str(labels), "--out", str(out)]) == 0
    import csv

    assert [row[0] for row in csv.reader(out.open())][1] == "a, b.png"
    assert main(["eval-images", "--run", str(run), "--task", "TowerStability", "--images", str(folder), "--labels", str(tmp_path / "nope.csv")]) == 2
    assert "no labels CSV" in capsys.readouterr().err
