"""Training the learned grounder (``physground train-grounder``).

Scenes of every task are rendered (a quarter with randomised looks); the frozen VLM's image
tokens are computed once; a thin Lightning module trains the set-prediction head on simulator
labels with Hungarian matching. The result is evaluated on fresh scenes and saved with a card.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from physground.envs.files import atomic_directory
from physground.envs.scene import DEFAULT_MULTISAMPLES, SceneConfig
from physground.envs.typed_config import replace_fields
from physground.perception.grounders import GrounderHead, GrounderHeadConfig, LearnedGrounder, grounder_loss, scene_targets
from physground.perception.grounding_eval import evaluate_grounder, evaluation_scenes, format_scores
from physground.perception.scene_data import render_scenes
from physground.perception.supervised_module import supervised_module
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT, machine_summary
from physground.perception.vlm import VLM

SHIPPED_GROUNDER = Path(__file__).parent / "checkpoints" / "learned-grounder"


@dataclass
class GrounderSettings:
    """Everything ``train_grounder`` needs (saved with the checkpoint).

    ``head`` overrides ``GrounderHeadConfig``'s shape fields (``width``, ``layers``, ``heads``,
    ``queries``); its ``feature_dim`` and ``num_tokens`` come from the VLM.
    """

    out: str
    vlm: str = str(SHIPPED_CHECKPOINT)
    n_scenes: int = 12000
    eval_per_task: int = 500
    epochs: int = 25
    batch_size: int = 128
    lr: float = 5e-4
    seed: int = 0
    workers: int = 1
    dr_fraction: float = 0.25
    accelerator: str = "auto"
    max_minutes: float | None = None
    multisamples: int = DEFAULT_MULTISAMPLES
    """Anti-aliasing samples per pixel of the training and evaluation renders (``SceneConfig``)."""
    head: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        SceneConfig(multisamples=self.multisamples)  # validates it, naming the field
        for name in ("n_scenes", "eval_per_task", "epochs", "batch_size", "workers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"grounder {name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"grounder lr must be positive, got {self.lr!r}")
        fixed = sorted(set(self.head) & {"feature_dim", "num_tokens"})
        if fixed:
            raise ValueError(f"head.{fixed[0]} follows from the VLM's image tokens; it cannot be set")
        replace_fields(GrounderHeadConfig(), self.head, "head")  # checks names and types


class FeatureDataset(torch.utils.data.Dataset):
    """(image tokens (T, D), targets) pairs."""

    def __init__(self, features: torch.Tensor, targets: list[list[dict[str, Any]]]) -> None:
        self.features, self.targets = features, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, list[dict[str, Any]]]:
        return self.features[i], self.targets[i]


def _collate(batch: list[tuple[torch.Tensor, list[dict[str, Any]]]]) -> tuple[torch.Tensor, list[list[dict[str, Any]]]]:
    return torch.stack([b[0] for b in batch]).float(), [b[1] for b in batch]


def _grounder_loss(head: torch.nn.Module, batch: tuple[torch.Tensor, list[Any]]) -> tuple[torch.Tensor, dict[str, float]]:
    features, targets = batch
    return grounder_loss(head(features), targets)


@torch.no_grad()
def compute_features(vlm: VLM, images: Any, batch_size: int = 64) -> torch.Tensor:
    """The VLM's image tokens of every image, (N, T, D) float16 on the CPU."""
    return torch.cat([vlm.vision_features(list(images[i : i + batch_size])).to(torch.float16).cpu() for i in range(0, len(images), batch_size)])


def train_grounder(settings: GrounderSettings) -> dict[str, Any]:
    """Render, featurise, train, evaluate and save (temporary folder, renamed at the end)."""
    import lightning as L

    started = time.time()
    L.seed_everything(settings.seed, workers=True)
    device = "cuda" if torch.cuda.is_available() and settings.accelerator != "cpu" else "cpu"
    vlm = VLM.load(settings.vlm, device=device)
    data = render_scenes(settings.n_scenes, settings.seed, dr_fraction=settings.dr_fraction, workers=settings.workers, multisamples=settings.multisamples)
    features = compute_features(vlm, data.images)
    targets = [scene_targets(s) for s in data.scenes]
    data_seconds = time.time() - started
    config = replace_fields(GrounderHeadConfig(feature_dim=features.shape[2], num_tokens=features.shape[1]), settings.head, "head")
    head = GrounderHead(config)
    n_val = max(1, len(targets) // 20)
    train = FeatureDataset(features[n_val:], targets[n_val:])
    val = FeatureDataset(features[:n_val], targets[:n_val])
    train_loader = torch.utils.data.DataLoader(train, batch_size=settings.batch_size, shuffle=True, collate_fn=_collate, drop_last=True)
    val_loader = torch.utils.data.DataLoader(val, batch_size=settings.batch_size, collate_fn=_collate)
    total = settings.epochs * len(train_loader)
    module = supervised_module(head, _grounder_loss, settings.lr, total)
    out = Path(settings.out)
    with atomic_directory(out) as work:
        trainer = L.Trainer(
            max_epochs=settings.epochs, accelerator=settings.accelerator, devices=1, enable_checkpointing=False,
            logger=L.pytorch.loggers.TensorBoardLogger(str(work / "logs"), name="grounder"), log_every_n_steps=20, gradient_clip_val=1.0,
            max_time={"minutes": settings.max_minutes} if settings.max_minutes else None,
        )
        train_started = time.time()
        trainer.fit(module, train_loader, val_loader)
        train_seconds = time.time() - train_started
        grounder = LearnedGrounder(vlm, module.model.cpu().eval())
        grounder.vlm = vlm
        eval_data = evaluation_scenes(settings.eval_per_task, workers=settings.workers, multisamples=settings.multisamples)
        results = evaluate_grounder(grounder, eval_data)
        summary = {
            "settings": asdict(settings),
            "parameters": sum(p.numel() for p in head.parameters()),
            "train_scenes": len(train),
            "steps": int(trainer.global_step),
            "epochs_completed": int(trainer.current_epoch),
            "seconds": {"data": round(data_seconds, 1), "train": round(train_seconds, 1), "total": round(time.time() - started, 1)},
            "machine": machine_summary(),
            "evaluation": results,
        }
        grounder.save(work, card=grounder_card(summary), extra={"vlm": Path(settings.vlm).name})
        (work / "train.json").write_text(json.dumps(summary, indent=2))
    return summary


def grounder_card(summary: dict[str, Any]) -> str:
    """The checkpoint's README."""
    s = summary["settings"]
    command = (
        f"physground train-grounder --out {s['out']} --scenes {s['n_scenes']} --eval-per-task {s['eval_per_task']} --epochs {s['epochs']} "
        f"--batch-size {s['batch_size']} --lr {s['lr']} --seed {s['seed']} --workers {s['workers']} --multisamples {s['multisamples']}"
        + (f" --max-minutes {s['max_minutes']}" if s["max_minutes"] else "")
    )
    return f"""# physground learned grounder

A DETR-style set-prediction head ({summary['parameters'] / 1e6:.2f} M parameters) on the image tokens of the tiny VLM
(`perception/checkpoints/tiny-vlm`, frozen). Twelve object queries attend to the 64 image tokens and predict, per object, its
kind (cube, ball, ramp, ramp support, platform, mat, zone, basket or nothing), colour, surface, centre, size, ramp pitch and
(for a ball) velocity. Trained with Hungarian matching on simulator labels of rendered scenes from all six tasks.

## How it was made

```
{command}
```

- Data: {summary['train_scenes']} training scenes ({s['dr_fraction'] * 100:.0f} % with domain randomisation), seed {s['seed']}.
- {summary['steps']} steps ({summary['epochs_completed']} epochs), batch {s['batch_size']}, AdamW, one-cycle lr {s['lr']}.
- Time: data and features {summary['seconds']['data']} s, training {summary['seconds']['train']} s, total {summary['seconds']['total']} s.
- Machine: {summary['machine']}.

## Evaluation on fresh scenes ({s['eval_per_task']} per task, default look)

{format_scores(summary['evaluation'])}

Position error: mean distance between matched centres, in block sizes (6 cm).

Apache-2.0.
"""
