"""``physground probe``: what do the VLM's layers encode about physics, beyond what a shortcut or a
random network gives? (the paper's "decodability" analysis, with controls)

For fresh scenes of the tasks, the VLM reads the image and the task's question; the activation of
every layer at the last prompt token is the probe's input. Linear probes decode physical
quantities (:data:`QUANTITIES`): logistic regression (accuracy) for yes/no quantities, ridge
regression (R²) for numbers. Every score is cross-validated twice over: 5 outer folds score the
probe, and within each outer training fold 3 inner folds choose its regularisation from a grid
(:data:`LOGISTIC_CS`, :data:`RIDGE_ALPHAS`), as scikit-learn's ``LogisticRegressionCV`` /
``RidgeCV`` inside a cross-validation would (scikit-learn is not a dependency: the fits are
``agent.cues.fit_logistic`` and closed-form ridge). Features are standardised on the training fold.

Controls, each scored by the same probe:

- **Control task** (Hewitt & Liang, 2019): every *scene type* — the scene's stratum of its
  simulator cues (``envs.cues``: block count and top-block offset for towers, the ball's start for
  Catch) — gets a random label drawn once (yes/no at the quantity's rate; numbers drawn from the
  quantity's values). A probe that scores well on these labels memorises types rather than reading
  the quantity; **selectivity** = score - control score.
- **Count-controlled falls**: for "will it fall" quantities, probes fit and scored within each block
  count separately, against the majority answer within that count (in v0 scenes the count alone
  predicts falls; ``tower falls (v1)`` uses task-suite-v1 scenes, balanced within every count and
  offset bin by construction).
- **Cue baseline**: the same probe on the simulator's cue features instead of activations (what the
  cues alone explain; no perception).
- **Random network**: the VLM's architecture with freshly drawn weights (:func:`randomise_weights`),
  one draw per seed: what image/prompt statistics give without any training.

Every measurement is repeated for ``seeds`` seeds (fresh scenes, folds, control labels and random
weights per seed) and reported as the mean with a 95 % t-interval over seeds. The base VLM is
compared with the trained versions of given runs (their LoRA adapters).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from physground import envs
from physground.agent.cues import fit_logistic
from physground.envs.cues import cue_features, cue_stratum
from physground.envs.files import atomic_write, atomic_write_text
from physground.envs.scene import BLOCK_SIZE, find_object

PROBE_SEED = 90_000_000
"""Probing scenes use seeds from here (``+ 100_000 * seed + i``): never seen in training or evaluation."""

LOGISTIC_CS = (0.001, 0.01, 0.1, 1.0)
"""Inverse L2 strengths the inner folds choose from (logistic probes)."""

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
"""L2 strengths the inner folds choose from (ridge probes)."""

OUTER_FOLDS, INNER_FOLDS = 5, 3

TOWER_CUES, CATCH_CUES = ("count", "top-offset"), ("ball-start",)


@dataclass
class ProbeData:
    """One quantity: its scenes' images and prompts, targets, and what the controls need.

    Attributes:
        name: The quantity, e.g. "tower falls".
        kind: "classification" (targets 0/1) or "regression".
        images: N images (H, W, 3) uint8; quantities of one scene set share the list.
        prompts: N prompts.
        targets: (N,) float; NaN where the quantity is undefined (left out of its probes).
        types: (N,) int, the scene type of the control task (the cue stratum).
        cues: (N, F) simulator cue features (the cue baseline's input).
        groups: (N,) int block count for the count-controlled probe, or None.
    """

    name: str
    kind: str
    images: list[np.ndarray]
    prompts: list[str]
    targets: np.ndarray
    types: np.ndarray
    cues: np.ndarray
    groups: np.ndarray | None = None


def _scenes(task: str, version: int, n: int, first_seed: int, image_size: int) -> tuple[list[np.ndarray], list[str], list[dict[str, Any]]]:
    import gymnasium as gym

    env = gym.make(envs.task_spec(task).env_id_at(version), scene={"image_size": image_size})
    images, prompts, infos = [], [], []
    for i in range(n):
        obs, info = env.reset(seed=first_seed + i)
        images.append(obs["image"])
        prompts.append(obs["prompt"])
        infos.append(info)
    env.close()
    return images, prompts, infos


def _cubes(scene: dict[str, Any]) -> list[dict[str, Any]]:
    by_id = {o["id"]: o for o in scene["objects"]}
    return [by_id[i] for i in scene["meta"]["tower"]]


def _support_offset(scene: dict[str, Any]) -> float:
    """BlockRemoval: horizontal distance (blocks) from the centre of mass of the blocks above the
    removed one to the centre of the block they drop onto; NaN when the bottom block is removed."""
    cubes = _cubes(scene)
    level = [c["id"] for c in cubes].index(scene["meta"]["red"])
    if level == 0:
        return float("nan")
    above = np.mean([c["position"][0] for c in cubes[level + 1 :]])
    return float(abs(above - cubes[level - 1]["position"][0]) / BLOCK_SIZE)


def probe_datasets(n: int, seed: int = 0, image_size: int = 128) -> list[ProbeData]:
    """The quantities of :data:`QUANTITIES` on ``n`` fresh scenes per scene set (seed ``seed``)."""
    first = PROBE_SEED + 100_000 * seed
    out = []
    for version, suffix in ((0, ""), (1, " (v1)")):
        images, prompts, infos = _scenes("TowerStability", version, n, first, image_size)
        scenes = [info["scene"] for info in infos]
        types = _type_ids(scenes, TOWER_CUES)
        cues = np.stack([cue_features(s, TOWER_CUES) for s in scenes])
        counts = np.array([len(_cubes(s)) for s in scenes])
        falls = np.array([float(info["task_label"] == 0) for info in infos])  # YES = 0: the tower falls
        out.append(ProbeData(f"tower falls{suffix}", "classification", images, prompts, falls, types, cues, counts))
        if version == 0:
            offsets = np.array([abs(_cubes(s)[-1]["position"][0] - _cubes(s)[0]["position"][0]) / BLOCK_SIZE for s in scenes])
            out.append(ProbeData("number of blocks", "regression", images, prompts, counts.astype(float), types, cues))
            out.append(ProbeData("top block offset", "regression", images, prompts, offsets, types, cues))
    images, prompts, infos = _scenes("BlockRemoval", 0, n, first, image_size)
    scenes = [info["scene"] for info in infos]
    types, cues = _type_ids(scenes, TOWER_CUES), np.stack([cue_features(s, TOWER_CUES) for s in scenes])
    above = [len(_cubes(s)) - 1 - [c["id"] for c in _cubes(s)].index(s["meta"]["red"]) for s in scenes]
    out.append(ProbeData("blocks above the removed one", "regression", images, prompts, np.array(above, float), types, cues))
    out.append(ProbeData("support offset after removal", "regression", images, prompts, np.array([_support_offset(s) for s in scenes]), types, cues))
    images, prompts, infos = _scenes("Catch", 0, n, first, image_size)
    scenes = [info["scene"] for info in infos]
    types, cues = _type_ids(scenes, CATCH_CUES), np.stack([cue_features(s, CATCH_CUES) for s in scenes])
    balls = [find_object(s, "ball0") for s in scenes]
    landing = np.array([info["landing_x"] for info in infos])
    basket = np.array([find_object(s, "basket")["position"][0] for s in scenes])
    out.append(ProbeData("ball speed", "regression", images, prompts, np.array([float(np.linalg.norm(b["linear_velocity"])) for b in balls]), types, cues))
    out.append(ProbeData("landing position", "regression", images, prompts, landing / BLOCK_SIZE, types, cues))
    out.append(ProbeData("basket offset from landing", "regression", images, prompts, (basket - landing) / BLOCK_SIZE, types, cues))
    return out


QUANTITIES = (
    "tower falls", "number of blocks", "top block offset", "tower falls (v1)", "blocks above the removed one", "support offset after removal",
    "ball speed", "landing position", "basket offset from landing",
)
"""What is probed (``probe_datasets``): TowerStability v0 and v1 scenes, BlockRemoval and Catch scenes."""


def _type_ids(scenes: Sequence[dict[str, Any]], cues: Sequence[str]) -> np.ndarray:
    strata: dict[tuple[int, ...], int] = {}
    return np.array([strata.setdefault(cue_stratum(s, cues), len(strata)) for s in scenes])


# -- probes ------------------------------------------------------------------------------------


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0) + 1e-6
    return (train - mean) / std, (test - mean) / std


def _ridge_predictions(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, alphas: Sequence[float]) -> np.ndarray:
    """Ridge predictions (len(alphas), len(xte)) for every alpha from one eigendecomposition."""
    xtr, xte = _standardise(xtr, xte)
    mean = ytr.mean()
    values, vectors = np.linalg.eigh(xtr.T @ xtr)
    projected = vectors.T @ (xtr.T @ (ytr - mean))
    return np.stack([xte @ (vectors @ (projected / (values + a))) + mean for a in alphas])


def _logistic_predictions(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, cs: Sequence[float]) -> np.ndarray:
    """Predicted classes (len(cs), len(xte)) of L2 logistic regression for every C."""
    xtr, xte = _standardise(xtr, xte)
    if len(np.unique(ytr)) < 2:  # one class in the fold: that class
        return np.full((len(cs), len(xte)), ytr[0])
    out = []
    for c in cs:
        w, b, _ = fit_logistic(xtr, ytr.astype(int), 2, regularisation=c, max_iter=100)
        out.append((xte @ w.T + b).argmax(-1))
    return np.stack(out).astype(float)


def _nested(x: np.ndarray, y: np.ndarray, grid: Sequence[float], fit: Callable[..., np.ndarray], loss: Callable[[np.ndarray, np.ndarray], float], seed: int) -> np.ndarray:
    """Outer-fold predictions, each from the grid value the inner folds of its training fold chose."""
    pred = np.zeros(len(y), dtype=float)
    for k, test in enumerate(_folds(len(y), OUTER_FOLDS, seed)):
        train = np.setdiff1d(np.arange(len(y)), test)
        inner_losses = np.zeros(len(grid))
        for inner in _folds(len(train), INNER_FOLDS, seed + 1000 + k):
            fit_rows = np.setdiff1d(np.arange(len(train)), inner)
            preds = fit(x[train[fit_rows]], y[train[fit_rows]], x[train[inner]], grid)
            inner_losses += [loss(y[train[inner]], p) for p in preds]
        best = grid[int(np.argmin(inner_losses))]
        pred[test] = fit(x[train], y[train], x[test], [best])[0]
    return pred


def _squared_error(y: np.ndarray, p: np.ndarray) -> float:
    return float(((y - p) ** 2).sum())


def _errors(y: np.ndarray, p: np.ndarray) -> float:
    return float((y != p).sum())


def ridge_r2(x: np.ndarray, y: np.ndarray, seed: int = 0, alphas: Sequence[float] = RIDGE_ALPHAS) -> float:
    """Nested cross-validated R² of ridge regression (closed form), ``x`` (N, F), ``y`` (N,)."""
    pred = _nested(x, y, alphas, _ridge_predictions, _squared_error, seed)
    return float(1 - ((y - pred) ** 2).sum() / max(1e-12, ((y - y.mean()) ** 2).sum()))


def logistic_accuracy(x: np.ndarray, y: np.ndarray, seed: int = 0, cs: Sequence[float] = LOGISTIC_CS) -> float:
    """Nested cross-validated accuracy of L2 logistic regression, ``x`` (N, F), ``y`` (N,) 0/1."""
    return float((_nested(x, y, cs, _logistic_predictions, _errors, seed) == y).mean())


def probe_score(kind: str, x: np.ndarray, y: np.ndarray, seed: int = 0) -> float:
    """The probe of ``kind`` ("classification": accuracy, else R²)."""
    return logistic_accuracy(x, y, seed) if kind == "classification" else ridge_r2(x, y, seed)


MIN_GROUP = 30
"""Scenes a block count needs (with at least 5 of each answer) to be in the count-controlled probe."""


def within_group_accuracy(x: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int = 0) -> dict[str, float]:
    """The logistic probe fit and scored within each group (block count) separately.

    Returns:
        ``{"accuracy": ..., "majority": ..., "scenes": ...}``: accuracy and the within-group
        majority answer's rate, both averaged over the scenes of the groups used (groups with at
        least ``MIN_GROUP`` scenes and 5 of each answer); NaN when no group qualifies.
    """
    hits, majority, used = 0.0, 0.0, 0
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        positives = int(y[rows].sum())
        if len(rows) < MIN_GROUP or min(positives, len(rows) - positives) < 5:
            continue
        hits += logistic_accuracy(x[rows], y[rows], seed) * len(rows)
        majority += max(positives, len(rows) - positives)
        used += len(rows)
    if not used:
        return {"accuracy": float("nan"), "majority": float("nan"), "scenes": 0}
    return {"accuracy": hits / used, "majority": majority / used, "scenes": used}


def control_targets(data: ProbeData, seed: int) -> np.ndarray:
    """Hewitt & Liang's control task: one random label per scene type (yes/no at the quantity's
    rate; numbers drawn from the quantity's values), the same for every scene of the type."""
    rng = np.random.default_rng([seed, 7])
    values = data.targets[np.isfinite(data.targets)]
    types = np.unique(data.types)
    if data.kind == "classification":
        drawn = (rng.random(len(types)) < values.mean()).astype(float)
    else:
        drawn = rng.choice(values, size=len(types))
    label = dict(zip(types.tolist(), drawn.tolist()))
    return np.array([label[t] for t in data.types.tolist()])


# -- models ------------------------------------------------------------------------------------


@torch.no_grad()
def randomise_weights(model: torch.nn.Module, seed: int, std: float = 0.02) -> None:
    """Redraw every weight of ``model`` in place: matrices, embeddings and convolutions from
    N(0, ``std``) (Hugging Face's ``initializer_range``), biases 0, normalisation scales 1 — the
    architecture untrained."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) or type(module).__name__.endswith("RMSNorm")
        for name, param in module.named_parameters(recurse=False):
            if name == "bias":
                param.zero_()
            elif norm:
                param.fill_(1.0)
            else:
                param.copy_(torch.randn(param.shape, generator=generator) * std)


def layer_activations(vlm: Any, images: list[np.ndarray], prompts: list[str], batch: int = 32) -> np.ndarray:
    """Activations (layers + 1, N, hidden) at the last prompt token."""
    with torch.no_grad():
        parts = [vlm.hidden_states(images[i : i + batch], prompts[i : i + batch]).float().cpu().numpy() for i in range(0, len(images), batch)]
    return np.concatenate(parts, axis=1)


def probe_features(features: np.ndarray, data: ProbeData, seed: int) -> dict[str, Any]:
    """Score, control score and (for data with groups) the count-controlled probe of one feature
    set ``features`` (N, F)."""
    keep = np.isfinite(data.targets)
    x, y, control = features[keep], data.targets[keep], control_targets(data, seed)[keep]
    out: dict[str, Any] = {"score": probe_score(data.kind, x, y, seed), "control": probe_score(data.kind, x, control, seed)}
    if data.groups is not None:
        out["within_count"] = within_group_accuracy(x, y, data.groups[keep], seed)
    return out


def probe_model(vlm: Any, datasets: list[ProbeData], seed: int = 0) -> dict[str, list[dict[str, Any]]]:
    """Per quantity, :func:`probe_features` of every layer's activations."""
    out, cache = {}, {}
    for data in datasets:
        key = id(data.images)
        if key not in cache:
            cache[key] = layer_activations(vlm, data.images, data.prompts)
        out[data.name] = [probe_features(layer, data, seed) for layer in cache[key]]
    return out


# -- the run -------------------------------------------------------------------------------------


T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
"""Student's t 97.5 % quantiles by degrees of freedom (1.96 from 10 on, a slight undercover)."""


def seed_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, low, high): the 95 % t-interval of the mean over seeds (a point for one seed)."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=float)
    if not len(v):
        return (float("nan"),) * 3
    mean = float(v.mean())
    if len(v) == 1:
        return mean, mean, mean
    half = T_975.get(len(v) - 1, 1.96) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return mean, mean - half, mean + half


def run_probing(runs: list[str], n: int, out: str | Path, seeds: int = 3, random_network: bool = True, image_size: int = 128,
                vlm: str | None = None) -> dict[str, Any]:
    """Probe the base VLM (``vlm``, a ``perception.vlm.resolve_vlm`` name or folder; default the
    tiny VLM), a randomly initialised one of its architecture and the VLM of each run on ``seeds``
    seeds of ``n`` scenes per scene set; write probing.json, probing.md, probing.png.

    Raises:
        ValueError: ``n`` below 50, ``seeds`` below 1, or a run that is not a VLM agent's.
    """
    from physground.agent.factory import load_agent
    from physground.perception.vlm import VLM
    from physground.perception.vlm_names import resolve_vlm

    if n < 50 or seeds < 1:
        raise ValueError(f"probing needs at least 50 scenes and one seed, got scenes={n}, seeds={seeds}")
    models: dict[str, Callable[[int], Any]] = {}
    folder = resolve_vlm(vlm)
    base = VLM.load(folder)
    models["base VLM"] = lambda seed: base
    if random_network:

        def random_vlm(seed: int) -> Any:
            fresh = VLM.load(folder)
            randomise_weights(fresh.model, seed)
            return fresh

        models["random-init VLM"] = random_vlm
    for run in runs:
        spec, policy = load_agent(run)
        if not spec.agent.startswith("vlm"):
            raise ValueError(f"run {run!r} is a {spec.agent} agent: probing needs a VLM agent")
        models[f"{spec.agent} ({spec.task}, seed {spec.seed})"] = lambda seed, vlm=policy.vlm: vlm
    per_seed: dict[str, list[dict[str, Any]]] = {name: [] for name in [*models, "cues (simulator)"]}
    for seed in range(seeds):
        datasets = probe_datasets(n, seed, image_size)
        for name, make in models.items():
            per_seed[name].append(probe_model(make(seed), datasets, seed))
        per_seed["cues (simulator)"].append({d.name: [probe_features(d.cues, d, seed)] for d in datasets})
    kinds = {d.name: d.kind for d in datasets}
    summary = summarise(per_seed, kinds)
    out = Path(out)
    atomic_write_text(out / "probing.json", json.dumps({"scenes_per_set": n, "seeds": seeds, "per_seed": per_seed, "summary": summary}, indent=1))
    table = report_table(summary, kinds, n, seeds)
    atomic_write_text(out / "probing.md", table)
    _plot(summary, kinds, out / "probing.png")
    return {"summary": summary, "table": table}


def summarise(per_seed: dict[str, list[dict[str, list[dict[str, Any]]]]], kinds: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per model and quantity: per layer the seed intervals of score, control and selectivity, and
    the best layer (highest mean score) with its count-controlled probe."""
    summary: dict[str, dict[str, Any]] = {}
    for model, seeds in per_seed.items():
        summary[model] = {}
        for quantity in kinds:
            layers = len(seeds[0][quantity])
            rows = []
            for layer in range(layers):
                cells = [s[quantity][layer] for s in seeds]
                row = {
                    "score": seed_interval([c["score"] for c in cells]), "control": seed_interval([c["control"] for c in cells]),
                    "selectivity": seed_interval([c["score"] - c["control"] for c in cells]),
                }
                if "within_count" in cells[0]:
                    row["within_count"] = seed_interval([c["within_count"]["accuracy"] for c in cells])
                    row["majority_within_count"] = seed_interval([c["within_count"]["majority"] for c in cells])
                rows.append(row)
            best = int(np.argmax([r["score"][0] for r in rows]))
            summary[model][quantity] = {"layers": rows, "best_layer": best}
    return summary


def _fmt(interval: Sequence[float], digits: int = 2) -> str:
    mean, low, high = interval
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]" if high > low else f"{mean:.{digits}f}"


def report_table(summary: dict[str, dict[str, Any]], kinds: dict[str, str], n: int, seeds: int) -> str:
    """probing.md: per quantity, every model's best layer with score, control, selectivity and
    (falls) the count-controlled probe; mean [95 % t-interval over seeds]."""
    lines = [
        f"# Probing with controls ({n} scenes per scene set, {seeds} seeds; mean [95 % t-interval over seeds])", "",
        "Score: nested cross-validated accuracy (yes/no) or R² (numbers) at the model's best layer (highest mean score; layer 0 = embeddings). "
        "Control: the same probe on Hewitt & Liang control labels (one random label per cue stratum); selectivity = score - control. "
        "Within count: the probe fit and scored within each block count, beside the majority answer within each count. "
        "`cues (simulator)`: the probe on the simulator's cue features (no image).", "",
    ]
    for quantity, kind in kinds.items():
        has_groups = "within_count" in summary["base VLM"][quantity]["layers"][0]
        head = "| model | layer | " + ("accuracy" if kind == "classification" else "R²") + " | control | selectivity |"
        head += " within count | majority within count |" if has_groups else ""
        lines += [f"## {quantity}", "", head, "|---|---:|---:|---:|---:|" + ("---:|---:|" if has_groups else "")]
        for model, quantities in summary.items():
            q = quantities[quantity]
            row = q["layers"][q["best_layer"]]
            layer = "-" if model == "cues (simulator)" else str(q["best_layer"])
            line = f"| {model} | {layer} | {_fmt(row['score'])} | {_fmt(row['control'])} | {_fmt(row['selectivity'])} |"
            if has_groups:
                line += f" {_fmt(row['within_count'])} | {_fmt(row['majority_within_count'])} |"
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def _plot(summary: dict[str, dict[str, Any]], kinds: dict[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = math.ceil(len(kinds) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 2.9 * rows), squeeze=False)
    for ax, (quantity, kind) in zip(axes.ravel(), kinds.items()):
        for k, (model, quantities) in enumerate(summary.items()):
            layers = quantities[quantity]["layers"]
            if model == "cues (simulator)":
                ax.axhline(layers[0]["score"][0], color="grey", linestyle=":", label=model)
                continue
            colour = f"C{k}"
            x = np.arange(len(layers))
            mean, low, high = (np.array([r["score"][i] for r in layers]) for i in range(3))
            ax.plot(x, mean, marker="o", color=colour, label=model)
            ax.fill_between(x, low, high, color=colour, alpha=0.2)
            ax.plot(x, [r["control"][0] for r in layers], linestyle="--", color=colour, alpha=0.7)
        ax.set_title(quantity, fontsize=9)
        ax.set_xlabel("layer (0 = embeddings)", fontsize=7)
        ax.set_ylabel("accuracy" if kind == "classification" else "R² (cross-validated)", fontsize=7)
    for ax in axes.ravel()[len(kinds) :]:
        ax.axis("off")
    axes[0][0].legend(fontsize=6, title="dashed: control task", title_fontsize=6)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
