"""The physground command: listing, rendering, one-line errors."""

from __future__ import annotations

import imageio.v2 as imageio
import pytest

from physground.experiments.cli import main


def test_envs_lists_every_task_with_its_actions(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for task, version in (("TowerStability", 1), ("TowerBuild", 0), ("BlockRemoval", 1), ("RollOff", 1), ("Catch", 0), ("Push", 0)):
        assert f"physground/{task}-v{version}" in out
    assert "left | stay | right" in out and "Will this block tower fall?" in out


def test_render_writes_a_first_frame_and_an_episode_gif(tmp_path, capsys):
    assert main(["render", "BlockRemoval", "--seed", "2", "--out", str(tmp_path), "--size", "64", "--action", "yes"]) == 0
    png = imageio.imread(tmp_path / "BlockRemoval_seed2.png")
    gif = imageio.mimread(tmp_path / "BlockRemoval_seed2.gif")
    assert png.shape == (64, 64, 3)
    red_pixels = lambda im: int(((im[..., 0] > 150) & (im[..., 1] < 80) & (im[..., 2] < 80)).sum())  # noqa: E731
    assert red_pixels(png) > 10, "the red block is in the first frame"
    assert len(gif) > 2 and red_pixels(gif[-1][..., :3]) == 0, "the GIF ends on the outcome, red block removed"
    assert "actions: yes" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["render", "Jenga"], "unknown task 'Jenga'"),
        (["render", "Catch", "--action", "up"], "unknown action 'up' for Catch; valid: left, stay, right"),
        (["render", "TowerStability", "--size", "0"], "image_size"),
    ],
)
def test_bad_input_gives_one_line_errors(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("physground: error:") and message in err and "\n" not in err
