"""Where the shipped dynamics models are, and the function-style names of
``DynamicsModel.save_pretrained`` / ``DynamicsModel.from_pretrained``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from physground.dynamics.gnn import DynamicsModel

SHIPPED_GNN = Path(__file__).parent / "checkpoints" / "gnn"
SHIPPED_MLP = Path(__file__).parent / "checkpoints" / "mlp"


def save_dynamics(model: DynamicsModel, path: str | Path, card: str | None = None, extra: dict[str, Any] | None = None) -> None:
    """``model.save_pretrained(path, card, extra)``."""
    model.save_pretrained(path, card=card, extra=extra)


def load_dynamics(path: str | Path, device: str | torch.device = "cpu") -> DynamicsModel:
    """``DynamicsModel.from_pretrained(path, device)``."""
    return DynamicsModel.from_pretrained(path, device)
