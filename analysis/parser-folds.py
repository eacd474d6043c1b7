"""How well does the question parser read questions it was not trained on: held-out templates and
paraphrases of its training tasks, and the templates of a task left out of its training data
entirely (leave-one-task-out, ``perception.parser_training.fold``)?

Trains one parser per fold (``physground train-parser`` with the default recipe), one process per
fold with one thread each, and writes one Markdown table: per fold the exact match on its training
tasks' train / held-out / paraphrase templates and on its left-out tasks (every template of them),
in full and ignoring the horizon (no question states how long to simulate).

    MUJOCO_GL=egl python analysis/parser-folds.py OUT [--folds all,without-RollOff,...] [--workers N] [--language-model vlm|smollm2]

Each fold's checkpoint (with its metrics.json and card) lands in OUT/<fold>; the table in
OUT/parser-folds.md. Device recipe: ``source analysis/device-setup.sh && device_setup`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _train(fold: str, out: Path, language_model: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    code = (
        "import torch; torch.set_num_threads(1)\n"
        "from physground.perception.parser_training import ParserSettings, train_parser\n"
        f"train_parser(ParserSettings(out={str(out / fold)!r}, fold={fold!r}, language_model={language_model!r}))\n"
    )
    log = out / f"{fold}.log"
    with log.open("w") as f:
        subprocess.run([sys.executable, "-c", code], env=env, stdout=f, stderr=subprocess.STDOUT, check=True)
    return json.loads((out / fold / "metrics.json").read_text())


def _cell(r: dict | None, key: str = "exact") -> str:
    return "" if r is None else f"{100 * r[key]:.1f}"


def table(metrics: dict[str, dict]) -> str:
    """One row per fold: exact match (%) per group, and the left-out tasks ignoring the horizon."""
    lines = [
        "| fold | train pairs | trained: train | held-out templates | paraphrases | left-out tasks | left-out, ignoring horizon | new tasks |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fold, m in metrics.items():
        s = m["evaluation"]["summary"]
        left = s.get("left-out")
        lines.append(
            f"| {fold} | {m['training_pairs']} | {_cell(s.get('trained/train'))} | {_cell(s.get('trained/heldout'))} | {_cell(s.get('trained/paraphrase'))} "
            f"| {_cell(left)} | {_cell(left, 'exact_ignoring_horizon')} | {_cell(s.get('new'))} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--folds", default=None, help="comma-separated folds (default: every fold)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--language-model", default="vlm", choices=("vlm", "smollm2"))
    args = parser.parse_args()
    from physground.perception.parser_training import fold_names

    folds = args.folds.split(",") if args.folds else list(fold_names())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.workers) as pool:
        results = dict(zip(folds, pool.map(lambda f: _train(f, out, args.language_model), folds)))
    text = table(results)
    (out / "parser-folds.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
