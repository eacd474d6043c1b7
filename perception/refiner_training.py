"""Training the position refiner (``physground train-refiner``).

Scenes of the tasks with blocks are rendered in the default look (the refiner reads geometry
through the calibrated default camera). Each training example is one block: a coarse centre is the
true centre plus a uniform random offset (drawn from the example's own seed, so runs repeat), the
crop around its projection is cut in the collate function for the whole batch, and the target is
the offset back to the true centre in block sizes. A thin Lightning module trains the CNN; the
grounder is then evaluated on fresh scenes without and with the refiner and saved with both.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from physground.envs.files import atomic_directory
from physground.envs.scene import BLOCK_SIZE, DEFAULT_MULTISAMPLES, SceneConfig
from physground.perception.grounder_training import SHIPPED_GROUNDER
from physground.perception.grounders import LearnedGrounder
from physground.perception.grounding_eval import evaluate_grounder, evaluation_scenes, format_scores
from physground.perception.refiner import REFINED_AXES, PositionRefiner, RefinerConfig, crop_around
from physground.perception.scene_data import render_scenes
from physground.perception.supervised_module import supervised_module
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT, machine_summary
from physground.perception.vlm import VLM

BLOCK_TASKS = ("TowerStability", "TowerBuild", "BlockRemoval", "Push")


@dataclass
class RefinerSettings:
    """Everything ``train_refiner`` needs (saved with the checkpoint).

    Attributes:
        out: Output folder (the grounder's files plus the refiner); may be ``grounder`` itself.
        grounder: Learned grounder the refiner is added to.
        vlm: VLM the grounder reads.
        n_scenes: Rendered training scenes (5 % held out for validation).
        steps: Optimiser steps.
        batch_size: Blocks per step.
        lr: Peak learning rate (one-cycle).
        jitter: Half-widths of the uniform coarse-centre offsets along world x, y, z (block sizes).
        seed: Seed of the scenes, the offsets and the initialisation.
        eval_per_task: Fresh scenes per task for the before/after evaluation.
        workers: Rendering processes.
        accelerator: Lightning accelerator.
        loader_workers: Processes that cut the training crops (0: the training process). The
            batches are the same for any value; on a GPU, cutting them in the training process
            leaves the card idle.
        multisamples: Anti-aliasing samples per pixel of the training and evaluation renders
            (``SceneConfig.multisamples``; the refiner reads the pixels, so use the agents' value).
        refiner: The refiner's shape and inputs (``RefinerConfig``).
    """

    out: str
    grounder: str = str(SHIPPED_GROUNDER)
    vlm: str = str(SHIPPED_CHECKPOINT)
    n_scenes: int = 16000
    steps: int = 12000
    batch_size: int = 128
    lr: float = 2e-3
    jitter: tuple[float, float, float] = (0.5, 0.1, 0.25)
    seed: int = 0
    eval_per_task: int = 500
    workers: int = 1
    accelerator: str = "auto"
    loader_workers: int = 0
    multisamples: int = DEFAULT_MULTISAMPLES
    refiner: RefinerConfig = field(default_factory=RefinerConfig)

    def __post_init__(self) -> None:
        SceneConfig(multisamples=self.multisamples)  # validates it, naming the field
        if not isinstance(self.loader_workers, int) or self.loader_workers < 0:
            raise ValueError(f"refiner loader_workers must be an integer >= 0, got {self.loader_workers!r}")
        for name in ("n_scenes", "steps", "batch_size", "eval_per_task", "workers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"refiner {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.steps < 3:
            raise ValueError(f"refiner steps must be at least 3 (a one-cycle schedule), got {self.steps}")
        if not self.lr > 0:
            raise ValueError(f"refiner lr must be positive, got {self.lr!r}")
        if len(self.jitter) != 3 or any(not j >= 0 for j in self.jitter):
            raise ValueError(f"refiner jitter must be three non-negative block sizes (x y z), got {self.jitter!r}")


class BlockExamples(torch.utils.data.Dataset):
    """Example ``k``: a block and a coarse offset drawn from the example's own seed ``(seed, k)``.

    Items are (image index, coarse centre (3,) m, target (2,) block sizes); ``collate`` cuts the crops.
    """

    def __init__(self, images: torch.Tensor, image_index: np.ndarray, centres: np.ndarray, jitter: tuple[float, float, float], seed: int, length: int, config: RefinerConfig) -> None:
        self.images, self.image_index, self.centres = images, image_index, centres
        self.jitter, self.seed, self.length, self.config = np.asarray(jitter) * BLOCK_SIZE, seed, length, config

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, k: int) -> tuple[int, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, k])
        block = int(rng.integers(len(self.centres)))
        offset = rng.uniform(-self.jitter, self.jitter)
        target = -offset[list(REFINED_AXES)] / BLOCK_SIZE
        return int(self.image_index[block]), self.centres[block] + offset, target

    def collate(self, batch: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(crops (B, 3, crop, crop), targets (B, 2))."""
        index = torch.tensor([b[0] for b in batch])
        crops = crop_around(self.images[index].float() / 255.0, np.stack([b[1] for b in batch]), self.config)
        return crops, torch.tensor(np.stack([b[2] for b in batch]), dtype=torch.float32)


def block_centres(scenes: list[dict[str, Any]], kinds: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(image index (N,), centre (N, 3) m) of every object of ``kinds`` in ``scenes``."""
    rows = [(i, o["position"]) for i, s in enumerate(scenes) for o in s["objects"] if o["shape"] in kinds]
    if not rows:
        raise ValueError(f"no object of kinds {kinds} in the rendered scenes")
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)


def refiner_loss(refiner: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Smooth L1 between predicted and true corrections; parts: mean absolute x and z errors (blocks)."""
    crops, target = batch
    error = refiner(crops) - target
    loss = torch.nn.functional.smooth_l1_loss(error, torch.zeros_like(error), beta=0.05)
    return loss, {"x_error_blocks": error[:, 0].abs().mean(), "z_error_blocks": error[:, 1].abs().mean()}


def train_refiner(settings: RefinerSettings) -> dict[str, Any]:
    """Render, train, evaluate the grounder without and with the refiner, save (atomically)."""
    import lightning as L

    started = time.time()
    L.seed_everything(settings.seed, workers=True)
    device = "cuda" if torch.cuda.is_available() and settings.accelerator != "cpu" else "cpu"
    vlm = VLM.load(settings.vlm, device=device)
    grounder = before_grounder(LearnedGrounder.load(settings.grounder, vlm))  # a refiner already there is replaced
    config = settings.refiner
    data = render_scenes(settings.n_scenes, settings.seed, image_size=config.reference_size, workers=settings.workers, tasks=BLOCK_TASKS,
                         multisamples=settings.multisamples)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2).contiguous()  # uint8 (N, 3, H, W)
    n_val_scenes = max(1, len(data.scenes) // 20)
    index, centres = block_centres(data.scenes, config.kinds)
    val = index < n_val_scenes
    train_set = BlockExamples(images, index[~val], centres[~val], settings.jitter, settings.seed, settings.steps * settings.batch_size, config)
    val_set = BlockExamples(images, index[val], centres[val], settings.jitter, settings.seed + 1, int(val.sum()), config)
    train_loader = torch.utils.data.DataLoader(
        train_set, batch_size=settings.batch_size, shuffle=False, collate_fn=train_set.collate, drop_last=True,
        num_workers=settings.loader_workers, persistent_workers=settings.loader_workers > 0,
    )
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=256, collate_fn=val_set.collate)
    data_seconds = time.time() - started
    refiner = PositionRefiner(config)
    module = supervised_module(refiner, refiner_loss, settings.lr, settings.steps)
    out = Path(settings.out)
    with atomic_directory(out) as work:
        for name in ("head.safetensors", "config.json", "README.md", "train.json"):
            if (Path(settings.grounder) / name).exists():
                shutil.copy2(Path(settings.grounder) / name, work / name)
        trainer = L.Trainer(
            max_epochs=1, accelerator=settings.accelerator, devices=1, enable_checkpointing=False, val_check_interval=0.25,
            logger=L.pytorch.loggers.TensorBoardLogger(str(work / "logs"), name="refiner"), log_every_n_steps=20, gradient_clip_val=1.0,
        )
        train_started = time.time()
        trainer.fit(module, train_loader, val_loader)
        train_seconds = time.time() - train_started
        eval_data = evaluation_scenes(settings.eval_per_task, workers=settings.workers, multisamples=settings.multisamples)
        before = evaluate_grounder(grounder, eval_data)
        grounder.refiner = module.model.cpu().eval()
        after = evaluate_grounder(grounder, eval_data)
        summary = {
            "settings": asdict(settings),
            "refiner": asdict(config),
            "parameters": sum(p.numel() for p in refiner.parameters()),
            "train_blocks": int((~val).sum()),
            "steps": int(trainer.global_step),
            "seconds": {"data": round(data_seconds, 1), "train": round(train_seconds, 1), "total": round(time.time() - started, 1)},
            "machine": machine_summary(),
            "evaluation": {"without refiner": before, "with refiner": after},
            # only the block tasks hold cubes, so "all" is the block tasks' error
            "block_x_error": {"without refiner": before["all"]["cube_x_error"], "with refiner": after["all"]["cube_x_error"]},
        }
        card = (work / "README.md").read_text() if (work / "README.md").exists() else "# physground learned grounder\n"
        extra = {k: v for k, v in json.loads((work / "config.json").read_text()).items() if k not in ("head", "threshold", "refiner")}
        grounder.save(work, card=card.split("\n## Position refiner")[0].rstrip() + "\n\n" + refiner_card(summary), extra=extra)
        (work / "refiner.json").write_text(json.dumps(summary, indent=2))
    return summary


def before_grounder(grounder: LearnedGrounder) -> LearnedGrounder:
    """The same grounder without its refiner."""
    return LearnedGrounder(grounder.vlm, grounder.head, grounder.threshold)


def refiner_card(summary: dict[str, Any]) -> str:
    """The refiner's section of the checkpoint's README."""
    s, r = summary["settings"], summary["refiner"]
    command = (
        f"physground train-refiner --grounder {s['grounder']} --out {s['out']} --scenes {s['n_scenes']} --steps {s['steps']} "
        f"--batch-size {s['batch_size']} --lr {s['lr']} --seed {s['seed']} --eval-per-task {s['eval_per_task']} --workers {s['workers']} "
        f"--loader-workers {s['loader_workers']} --multisamples {s['multisamples']}"
    )
    xe = summary["block_x_error"]
    row = lambda k: f"| {k} | {xe[k]['blocks']} | {xe[k]['mean_abs']:.3f} | {xe[k]['std']:.3f} | {xe[k]['p95']:.3f} |"  # noqa: E731
    return f"""## Position refiner

A CNN ({summary['parameters'] / 1e6:.2f} M parameters) that corrects each block's centre from the raw pixels: a
{r['crop']} x {r['crop']} crop (on the grid of a {r['reference_size']}-pixel image) around the default camera's projection of the
head's estimate -> correction of world x and z; {r['passes']} passes at inference. Trained on
{summary['train_blocks']} blocks of {s['n_scenes']} rendered scenes ({', '.join(BLOCK_TASKS)}, default look) with coarse centres
offset by U(+-{s['jitter'][0]}, +-{s['jitter'][1]}, +-{s['jitter'][2]}) block sizes along x, y, z.

```
{command}
```

- {summary['steps']} steps, batch {s['batch_size']}, AdamW, one-cycle lr {s['lr']}, smooth L1; seed {s['seed']}.
- Time: data {summary['seconds']['data']} s, training {summary['seconds']['train']} s, total {summary['seconds']['total']} s.
- Machine: {summary['machine']}.
- Assumes the default camera pose (it reads metric positions through the camera's projection).

Block centre error along x on fresh scenes of the block tasks (block sizes):

| grounder | blocks | mean abs. | std | 95th pct. |
|---|---:|---:|---:|---:|
{row('without refiner')}
{row('with refiner')}

Evaluation with the refiner ({s['eval_per_task']} fresh scenes per task, default look):

{format_scores(summary['evaluation']['with refiner'])}
"""
