"""Saving and loading dynamics models: ``model.safetensors`` (weights and normalisation
statistics), ``config.json`` and a model card. Loading checks every tensor's shape and refuses a
model without fitted statistics."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dynamics.gnn import DynamicsConfig, DynamicsModel
from envs.files import atomic_write, atomic_write_text

SHIPPED_GNN = Path(__file__).parent / "checkpoints" / "gnn"
SHIPPED_MLP = Path(__file__).parent / "checkpoints" / "mlp"


def save_dynamics(model: DynamicsModel, path: str | Path, card: str | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write the model to ``path`` (each file via a temporary file and a rename)."""
    from safetensors.torch import save_file

    if not bool(model.normalised):
        raise ValueError("refusing to save a dynamics model whose normalisation statistics were never fitted")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path / "model.safetensors", lambda p: save_file(state, str(p)))
    atomic_write_text(path / "config.json", json.dumps({"model": asdict(model.config), **(extra or {})}, indent=2))
    if card:
        atomic_write_text(path / "README.md", card)


def load_dynamics(path: str | Path, device: str | torch.device = "cpu") -> DynamicsModel:
    """Load a model saved by :func:`save_dynamics`.

    Raises:
        FileNotFoundError: Nothing there (the message says how to make one).
        ValueError: A corrupted file, a config that does not fit the weights, or statistics that do
            not match the model's inputs.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / "model.safetensors").exists() or not (path / "config.json").exists():
        raise FileNotFoundError(f"no dynamics model (model.safetensors + config.json) in {str(path)!r}; train one with `physground train-dynamics`")
    try:
        config = DynamicsConfig(**json.loads((path / "config.json").read_text())["model"])
        state = load_file(str(path / "model.safetensors"))
    except Exception as exc:  # json, safetensors and dataclass errors all mean a bad checkpoint
        raise ValueError(f"corrupted dynamics checkpoint in {str(path)!r}: {exc}") from exc
    model = DynamicsModel(config)
    expected = model.state_dict()
    for name, tensor in expected.items():
        if name not in state:
            raise ValueError(f"dynamics checkpoint {str(path)!r} lacks {name!r}")
        if tuple(state[name].shape) != tuple(tensor.shape):
            kind = "normalisation statistics" if name.endswith(("_mean", "_std")) else "weights"
            raise ValueError(f"dynamics checkpoint {str(path)!r}: {kind} {name!r} have shape {tuple(state[name].shape)}, the model needs {tuple(tensor.shape)}")
    model.load_state_dict(state)
    if not bool(model.normalised):
        raise ValueError(f"dynamics checkpoint {str(path)!r} has no fitted normalisation statistics")
    return model.to(device).eval()
