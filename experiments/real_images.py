"""``physground eval-images``: evaluate a trained agent on a folder of photographs.

The labels are a CSV with a header and the columns ``image`` (a file name inside the images
folder) and ``answer`` (one of the task's answer words, any case). Pictures of any size are
centre-cropped to a square and resized to the agent's image size. Every problem in the input
(missing image, unreadable picture, unknown answer, malformed CSV) is a one-line error naming the
row and value, raised before anything is evaluated.

For TowerStability the target domain is photographs of 2-4 wooden blocks stacked on plain cloth
(as in Lerer et al. 2016: humans reach about 65.6 %, GPT-4V about 60 %).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physground import envs
from physground.envs.files import atomic_write_text
from physground.perception.images import read_picture


@dataclass
class LabelledImage:
    name: str
    image: np.ndarray
    answer: int


def read_labels(images_dir: str | Path, labels_csv: str | Path, task: str, size: int) -> list[LabelledImage]:
    """Validated (image, answer) pairs.

    Raises:
        FileNotFoundError: The folder, the CSV or an image named in it is missing.
        ValueError: A malformed CSV, an unreadable picture or an unknown answer word.
    """
    folder, path = Path(images_dir), Path(labels_csv)
    if not folder.is_dir():
        raise FileNotFoundError(f"no images folder {str(folder)!r}")
    if not path.exists():
        raise FileNotFoundError(f"no labels CSV {str(path)!r}")
    names = [n.lower() for n in envs.task_spec(task).env_class(scene=envs.SceneConfig(render_images=False)).action_names]
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (spreadsheet exports) is not part of the first column's name
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"labels {str(path)!r} is not a readable UTF-8 CSV: {exc}") from exc
    if "image" not in header or "answer" not in header:
        raise ValueError(f"labels {str(path)!r} must have a header with the columns image,answer; got {header}")
    reader.fieldnames = header
    root = folder.resolve()
    seen: dict[str, int] = {}
    out = []
    for row_number, row in enumerate(rows, start=2):
        row = {k.strip() if isinstance(k, str) else k: v for k, v in row.items()}
        if None in row or any(v is None for v in row.values()):
            fields = len(header) + len(row.get(None) or []) - sum(v is None for v in row.values())
            raise ValueError(f"labels {str(path)!r} line {row_number}: {fields} field{'s' if fields != 1 else ''}, the header has {len(header)} (quote names that hold commas)")
        name, answer = (row.get("image") or "").strip(), (row.get("answer") or "").strip().lower()
        if not name:
            raise ValueError(f"labels {str(path)!r} line {row_number}: empty image name")
        if answer not in names:
            raise ValueError(f"labels {str(path)!r} line {row_number}: answer {row.get('answer')!r} is not one of {', '.join(names)}")
        file = folder / name
        if Path(name).is_absolute() or not file.resolve().is_relative_to(root):
            raise ValueError(f"labels {str(path)!r} line {row_number}: image {name!r} is outside the images folder {str(folder)!r}")
        if name in seen:
            raise ValueError(f"labels {str(path)!r} line {row_number}: image {name!r} is already listed on line {seen[name]} (each picture counts once)")
        seen[name] = row_number
        if not file.exists():
            raise FileNotFoundError(f"labels {str(path)!r} line {row_number}: no image {str(file)!r}")
        try:
            pixels = read_picture(file, size)
        except ValueError as exc:
            raise ValueError(f"labels {str(path)!r} line {row_number}: {exc}") from exc
        out.append(LabelledImage(name, pixels, names.index(answer)))
    if not out:
        raise ValueError(f"labels {str(path)!r} has no rows")
    return out


def evaluate_images(run_dir: str | Path, task: str, images_dir: str | Path, labels_csv: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Accuracy of a run's agent on labelled photographs; predictions written to ``out`` (CSV)."""
    from physground.agent.factory import load_agent

    spec, policy = load_agent(run_dir)
    if spec.agent.endswith("-oracle") or spec.agent == "hybrid-gold-program":
        raise ValueError(f"{spec.agent} reads simulator ground truth (scenes or programs), which photographs do not have; use hybrid or a VLM agent")
    if spec.agent == "mlp":
        raise ValueError("the mlp agent reads vector observations, not photographs")
    name = envs.task_spec(task).name
    policy = policy.for_task(name)
    data = read_labels(images_dir, labels_csv, name, spec.image_size)
    prompt = envs.task_spec(name).env_class(scene=envs.SceneConfig(render_images=False)).reset(seed=0)[0]["prompt"]
    predictions = []
    for start in range(0, len(data), 16):
        chunk = data[start : start + 16]
        inputs = policy.prepare({"image": np.stack([d.image for d in chunk]), "prompt": tuple(prompt for _ in chunk)}, {})
        predictions += [int(a) for a in policy.act(inputs, deterministic=True).actions]
    words = policy.action_names
    correct = [p == d.answer for p, d in zip(predictions, data)]
    result = {"images": len(data), "accuracy": float(np.mean(correct)), "predicted": {w: predictions.count(i) for i, w in enumerate(words)}}
    if out:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")  # quotes names holding commas or quotes
        writer.writerow(["image", "answer", "predicted", "correct"])
        writer.writerows([d.name, words[d.answer], words[p], int(c)] for d, p, c in zip(data, predictions, correct))
        atomic_write_text(out, buffer.getvalue())
    return result
