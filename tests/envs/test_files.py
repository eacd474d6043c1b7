"""Writes that never leave anything half-written behind."""

from __future__ import annotations

import pytest

from physground.envs.files import atomic_directory, atomic_path, atomic_write_text, weights_digest


def test_a_failed_text_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_directory_is_replaced_whole_on_success(tmp_path):
    target = tmp_path / "checkpoint"
    with atomic_directory(target) as work:
        (work / "a.txt").write_text("1")
        (work / "b.txt").write_text("1")
    with atomic_directory(target) as work:
        (work / "a.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]  # nothing of the old folder survives
    assert (target / "a.txt").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_a_failed_directory_write_keeps_the_old_folder_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "checkpoint"
    with atomic_directory(target) as work:
        (work / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as work:
            (work / "a.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]


def test_the_weights_digest_follows_the_weights_only(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "README.md").write_text("card")
    first = weights_digest(tmp_path)
    (tmp_path / "README.md").write_text("a new card")
    assert weights_digest(tmp_path) == first and len(first) == 64
    (tmp_path / "model.safetensors").write_bytes(b"weightz")
    assert weights_digest(tmp_path) != first
    with pytest.raises(FileNotFoundError, match="no .safetensors weights in"):
        weights_digest(tmp_path / "empty")
