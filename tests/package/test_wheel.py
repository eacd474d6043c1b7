"""The built distribution: one ``physground`` namespace, the shipped checkpoints inside.

The default test builds the wheel and reads its file list; the slow one installs it (not editable)
into a fresh virtual environment and runs the micro ablation from outside the source tree.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("perception/checkpoints", "dynamics/checkpoints", "experiments/configs")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], check=True, capture_output=True)
    (path,) = out.glob("physground-*.whl")
    return path


def test_the_wheel_installs_one_namespace_and_holds_every_shipped_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        tops = {n.split("/")[0] for n in names}
        assert tops == {"physground", next(t for t in tops if t.endswith(".dist-info"))}, f"bare top-level names: {tops}"
        shipped = [p for folder in SHIPPED for p in sorted((ROOT / folder).rglob("*")) if p.is_file()]
        assert len(shipped) > 20
        for path in shipped:
            member = "physground/" + path.relative_to(ROOT).as_posix()
            assert member in names, f"{member} missing from the wheel"
            assert hashlib.sha256(archive.read(member)).digest() == hashlib.sha256(path.read_bytes()).digest(), member
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "physground = physground.experiments.cli:main" in entry_points
    assert not [n for n in names if n.startswith("physground/tests") or "/__pycache__/" in n]


@pytest.mark.slow
def test_a_fresh_non_editable_install_runs_the_micro_ablation(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["torch==2.13.0"], check=True)
    subprocess.run(pip + [str(wheel)], check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    done = subprocess.run([str(venv / "bin" / "physground"), "ablate", "--preset", "micro", "--workers", "1", "--out", "micro"], cwd=work,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (work / "micro" / "transfer.csv").exists()
    load_all = (
        "import physground.envs as e; print(e.__file__)\n"
        "from physground.dynamics.checkpoint import SHIPPED_GNN, SHIPPED_MLP\n"
        "from physground.dynamics.gnn import DynamicsModel\n"
        "from physground.perception.grounder_training import SHIPPED_GROUNDER\n"
        "from physground.perception.grounders import LearnedGrounder\n"
        "DynamicsModel.from_pretrained(SHIPPED_GNN); DynamicsModel.from_pretrained(SHIPPED_MLP)\n"
        "LearnedGrounder.from_pretrained(SHIPPED_GROUNDER)  # with the shipped tiny VLM\n"
        "print('loaded every shipped checkpoint')\n"
    )
    done = subprocess.run([str(venv / "bin" / "python"), "-c", load_all], cwd=work, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert str(venv) in done.stdout and "loaded every shipped checkpoint" in done.stdout, "imported from the installed wheel, not the source tree"
