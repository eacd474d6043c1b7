"""An interrupted ablation cell is never a result: signals checkpoint the running cells, leave no
orphans, and ``--resume`` finishes exactly the unfinished cells, to the uninterrupted result."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from physground.agent.run import RunDir
from physground.envs.files import atomic_directory, recover_directory
from physground.experiments import ablation
from physground.experiments.ablation import CellInterrupted, Preset, cells_of, run_ablation

PRESET = """name: interrupted
agents: [hybrid-task-code-oracle]
train_tasks: [TowerStability]
test_tasks: [TowerStability]
seeds: [0, 1]
steps: {hybrid-task-code-oracle: 256}
eval_episodes: 3
num_envs: 2
image_size: 64
accelerator: cpu
ppo: {checkpoint_every: 1}
"""


def ablate(preset: Path, out: Path, *extra: str) -> subprocess.Popen:
    command = [str(Path(sys.executable).with_name("physground")), "ablate", "--preset", str(preset), "--out", str(out), "--workers", "2", *extra]
    return subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def held(lock: Path) -> bool:
    """Whether some process still holds the lock file (a cell still running)."""
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGINT to the group", "SIGTERM to the main process"])
def test_a_signalled_ablation_checkpoints_its_cells_and_resume_gives_the_uninterrupted_result(tmp_path, how):
    preset = tmp_path / "p.yaml"
    preset.write_text(PRESET)
    reference = ablate(preset, tmp_path / "whole")
    assert reference.wait(timeout=600) == 0, reference.stderr.read()[-2000:]

    out = tmp_path / "cut"
    run = ablate(preset, out)
    deadline = time.time() + 300
    while not list(out.glob("cells/*/checkpoint/state.json")):
        assert time.time() < deadline and run.poll() is None, "no checkpoint appeared"
        time.sleep(0.2)
    if how.startswith("SIGINT"):
        os.killpg(run.pid, signal.SIGINT)
    else:
        os.kill(run.pid, signal.SIGTERM)
    code = run.wait(timeout=300)
    err = run.stderr.read()
    assert code == 128 + (signal.SIGINT if how.startswith("SIGINT") else signal.SIGTERM), err
    last = err.strip().splitlines()[-1]
    assert last.startswith("physground: interrupted: stopped by signal") and "--resume" in last, err
    cells = sorted((out / "cells").iterdir())
    assert not any(held(c / ".lock") for c in cells), "no cell process is left running"
    unfinished = [c for c in cells if not (c / "cell.json").exists()]
    assert unfinished, "the signal came before every cell finished"
    for cell in unfinished:
        metrics = json.loads((cell / "metrics.json").read_text()) if (cell / "metrics.json").exists() else {"finished": False}
        assert not metrics["finished"], "an unfinished cell's training is not recorded as finished"

    resumed = ablate(preset, out, "--resume")
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()[-2000:]
    assert (out / "transfer.csv").read_bytes() == (tmp_path / "whole" / "transfer.csv").read_bytes()


def test_a_cell_whose_training_did_not_finish_is_neither_evaluated_nor_recorded(tmp_path, monkeypatch):
    preset = Preset.load("micro")
    cell = next(c for c in cells_of(preset) if c.agent == "hybrid-task-code-oracle")

    def stopped_training(spec, folder, resume=False, progress=True, callbacks=(), reset_cache=None):  # noqa: ANN001, ANN202 - as train_agent stopped by a signal
        run = RunDir(folder)
        run.write_metrics({"updates": 1, "finished": False, "history": []})
        return run

    monkeypatch.setattr("physground.agent.training.train_agent", stopped_training)
    evaluated = []
    monkeypatch.setattr("physground.agent.evaluation.evaluate_run", lambda *a, **k: evaluated.append(a) or {})
    with pytest.raises(CellInterrupted, match="training stopped after update 1"):
        ablation.run_cell(preset, cell, str(tmp_path))
    assert not evaluated and not (tmp_path / "cells" / cell.name / "cell.json").exists()


def test_when_no_cell_finishes_the_error_names_every_cell_and_its_cause(tmp_path, monkeypatch):
    preset = Preset.load("micro")

    def broken(preset, cell, out):  # noqa: ANN001, ANN202
        raise ValueError(f"cannot load a checkpoint for {cell.agent}")

    monkeypatch.setattr(ablation, "run_cell", broken)
    with pytest.raises(RuntimeError) as info:
        run_ablation(preset, str(tmp_path / "a"), progress=False)
    message = str(info.value)
    assert "no cell finished, so no reports were written" in message and "no finished cells" not in message
    assert all(c.name in message for c in cells_of(preset)) and "cannot load a checkpoint for vlm-ppo" in message


def test_one_ablation_per_folder_at_a_time(tmp_path):
    from physground.envs.files import exclusive_lock

    with exclusive_lock(tmp_path / "a" / ".ablation.lock", "ablation x"):
        with pytest.raises(RuntimeError, match=r"ablation .* is in use by another process \(pid \d+\)"):
            run_ablation(Preset.load("micro"), str(tmp_path / "a"), progress=False)


def test_a_checkpoint_swap_cut_between_its_renames_is_recovered(tmp_path):
    run = RunDir(tmp_path / "run")
    with atomic_directory(run.checkpoint) as work:
        (work / "state.json").write_text('{"update": 1}')
    # the crash: the old checkpoint moved aside, the new one not yet renamed in
    os.replace(run.checkpoint, tmp_path / "run" / ".checkpoint.old")
    (tmp_path / "run" / ".checkpoint.x.partial").mkdir()
    os.utime(tmp_path / "run" / ".checkpoint.x.partial", (0, 0))
    assert run.has_checkpoint() and (run.checkpoint / "state.json").read_text() == '{"update": 1}'
    assert not (tmp_path / "run" / ".checkpoint.x.partial").exists() and not recover_directory(run.checkpoint)
