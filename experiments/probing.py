"""``physground probe``: what do the VLM's layers encode about physics? (the paper's
"decodability" analysis)

For scenes of the tasks, the VLM reads the image and the task's question; the activation of every
layer at the last prompt token is the probe's input. Cross-validated linear probes (5 folds,
standardised features) decode physical quantities:

- will the tower fall (TowerStability, logistic regression, accuracy),
- number of blocks (TowerStability, ridge, R²),
- horizontal offset of the top block's centre from the bottom block's (TowerStability, ridge, R²),
- ball speed (Catch, ridge, R²),
- landing position of the ball (Catch, ridge, R²).

The base VLM is compared with the trained versions of the given runs (their LoRA adapters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physground.envs import CatchEnv, SceneConfig, TowerStabilityEnv
from physground.envs.files import atomic_write, atomic_write_text
from physground.envs.scene import BLOCK_SIZE, find_object


@dataclass
class ProbeData:
    """Images, prompts and targets of one quantity."""

    name: str
    kind: str  # "classification" or "regression"
    images: list[np.ndarray]
    prompts: list[str]
    targets: np.ndarray


def probe_datasets(n: int, seed: int = 90_000_000, image_size: int = 128) -> list[ProbeData]:
    """Fresh scenes and their quantities (``n`` scenes per task)."""
    towers, catch = TowerStabilityEnv(scene=SceneConfig(image_size=image_size)), CatchEnv(scene=SceneConfig(image_size=image_size))
    t_img, t_prompt, fall, count, offset = [], [], [], [], []
    for i in range(n):
        obs, info = towers.reset(seed=seed + i)
        cubes = sorted((o for o in info["scene"]["objects"] if o["shape"] == "cube"), key=lambda o: o["position"][2])
        t_img.append(obs["image"])
        t_prompt.append(obs["prompt"])
        fall.append(float(info["label"] == towers.YES))
        count.append(float(len(cubes)))
        offset.append((cubes[-1]["position"][0] - cubes[0]["position"][0]) / BLOCK_SIZE)
    c_img, c_prompt, speed, landing = [], [], [], []
    for i in range(n):
        obs, info = catch.reset(seed=seed + i)
        ball = find_object(info["scene"], "ball0")
        c_img.append(obs["image"])
        c_prompt.append(obs["prompt"])
        speed.append(float(np.linalg.norm(ball["linear_velocity"])))
        landing.append(info["landing_x"] / BLOCK_SIZE)
    towers.close()
    catch.close()
    return [
        ProbeData("tower falls", "classification", t_img, t_prompt, np.array(fall)),
        ProbeData("number of blocks", "regression", t_img, t_prompt, np.array(count)),
        ProbeData("top block offset", "regression", t_img, t_prompt, np.array(offset)),
        ProbeData("ball speed", "regression", c_img, c_prompt, np.array(speed)),
        ProbeData("landing position", "regression", c_img, c_prompt, np.array(landing)),
    ]


def layer_activations(vlm: Any, images: list[np.ndarray], prompts: list[str], batch: int = 32) -> np.ndarray:
    """Activations (layers + 1, N, hidden) at the last prompt token."""
    with torch.no_grad():
        parts = [vlm.hidden_states(images[i : i + batch], prompts[i : i + batch]).float().cpu().numpy() for i in range(0, len(images), batch)]
    return np.concatenate(parts, axis=1)


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def ridge_r2(x: np.ndarray, y: np.ndarray, alpha: float = 10.0, k: int = 5, seed: int = 0) -> float:
    """Cross-validated R² of ridge regression (closed form)."""
    pred = np.zeros_like(y, dtype=float)
    for test in _folds(len(y), k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        xtr, xte = _standardise(x[train], x[test])
        ymean = y[train].mean()
        w = np.linalg.solve(xtr.T @ xtr + alpha * np.eye(x.shape[1]), xtr.T @ (y[train] - ymean))
        pred[test] = xte @ w + ymean
    return float(1 - ((y - pred) ** 2).sum() / max(1e-12, ((y - y.mean()) ** 2).sum()))


def logistic_accuracy(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, k: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of L2-regularised logistic regression (LBFGS)."""
    correct = 0
    for test in _folds(len(y), k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        xtr, xte = (torch.tensor(a, dtype=torch.float64) for a in _standardise(x[train], x[test]))
        ytr = torch.tensor(y[train], dtype=torch.float64)
        w = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=100, line_search_fn="strong_wolfe")

        def closure(opt: torch.optim.Optimizer = opt, w: torch.Tensor = w, xtr: torch.Tensor = xtr, ytr: torch.Tensor = ytr) -> torch.Tensor:
            opt.zero_grad()
            logits = xtr @ w[:-1] + w[-1]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, ytr) + l2 * (w[:-1] ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            correct += int(((xte @ w[:-1] + w[-1] > 0).double().numpy() == y[test]).sum())
    return correct / len(y)


def probe_model(vlm: Any, datasets: list[ProbeData]) -> dict[str, list[float]]:
    """Per quantity, the probe score of every layer."""
    out = {}
    cache: dict[int, np.ndarray] = {}
    for data in datasets:
        key = id(data.images)
        if key not in cache:
            cache[key] = layer_activations(vlm, data.images, data.prompts)
        acts = cache[key]
        score = logistic_accuracy if data.kind == "classification" else ridge_r2
        out[data.name] = [score(acts[layer], data.targets) for layer in range(acts.shape[0])]
    return out


def run_probing(runs: list[str], n: int, out: str | Path) -> dict[str, Any]:
    """Probe the base VLM and the VLM of each run; write probing.json, probing.md, probing.png."""
    from physground.agent.factory import load_agent
    from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT
    from physground.perception.vlm import VLM

    datasets = probe_datasets(n)
    results = {"base VLM": probe_model(VLM.load(SHIPPED_CHECKPOINT), datasets)}
    for run in runs:
        spec, policy = load_agent(run)
        if not spec.agent.startswith("vlm"):
            raise ValueError(f"run {run!r} is a {spec.agent} agent: probing needs a VLM agent")
        results[f"{spec.agent} ({spec.task}, seed {spec.seed})"] = probe_model(policy.vlm, datasets)
    out = Path(out)
    atomic_write_text(out / "probing.json", json.dumps({"scenes_per_task": n, "results": results}, indent=1))
    lines = ["| model | " + " | ".join(d.name for d in datasets) + " |", "|---|" + "---:|" * len(datasets)]
    for model, scores in results.items():
        cells = [f"{max(scores[d.name]):.2f} (layer {int(np.argmax(scores[d.name]))})" for d in datasets]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    table = "Best layer per quantity (accuracy for 'tower falls', cross-validated R² otherwise):\n\n" + "\n".join(lines) + "\n"
    atomic_write_text(out / "probing.md", table)
    _plot(results, datasets, out / "probing.png")
    return {"results": results, "table": table}


def _plot(results: dict[str, dict[str, list[float]]], datasets: list[ProbeData], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 3), squeeze=False)
    for ax, data in zip(axes[0], datasets):
        for model, scores in results.items():
            ax.plot(range(len(scores[data.name])), scores[data.name], marker="o", label=model)
        ax.set_title(data.name, fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)", fontsize=7)
        ax.set_ylabel("accuracy" if data.kind == "classification" else "R²", fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
