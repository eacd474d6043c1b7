"""One Lightning module for the perception heads trained on simulator labels (grounder head,
position refiner): a loss function per batch, AdamW, a one-cycle schedule, logged loss parts."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

LossFn = Callable[[nn.Module, Any], "tuple[torch.Tensor, dict[str, float | torch.Tensor]]"]
"""(model, batch) -> (loss, named parts to log)."""


def supervised_module(model: nn.Module, loss_fn: LossFn, lr: float, total_steps: int, weight_decay: float = 0.01) -> Any:
    """A ``LightningModule`` that trains ``model`` (as ``.model``) on ``loss_fn``.

    Logs ``{stage}/loss`` and ``{stage}/{part}`` for ``train`` and ``val``; a non-finite loss stops
    training with the stage and step named.

    Raises:
        ValueError: Fewer than 3 steps (too short for a one-cycle schedule).
    """
    import lightning as L

    if total_steps < 3:
        raise ValueError(f"training needs at least 3 optimiser steps for its one-cycle schedule, got {total_steps}")

    class SupervisedModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def _common_step(self, batch: Any, stage: str) -> torch.Tensor:
            loss, parts = loss_fn(self.model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{stage} loss is {loss.item()} at step {self.global_step}")
            size = len(batch[1]) if isinstance(batch, (tuple, list)) else len(next(iter(batch.values())))  # (inputs, targets) or a dict
            self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=size)
            for name, value in parts.items():
                self.log(f"{stage}/{name}", value, batch_size=size)
            return loss

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            return self._common_step(batch, "train")

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            self._common_step(batch, "val")

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=weight_decay)
            # 5 % warm-up, but at least two steps: OneCycleLR divides by zero on shorter phases
            warmup = min(0.5, max(0.05, 2.0 / total_steps))
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=warmup)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return SupervisedModule()
