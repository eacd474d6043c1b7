"""Probing statistics and evaluation on photographs."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest

from physground.envs import SceneConfig, TowerStabilityEnv
from physground.experiments.cli import main
from physground.experiments.probing import logistic_accuracy, ridge_r2
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
