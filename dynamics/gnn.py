"""Encode-process-decode interaction network over object graphs (plain ``nn.Module``s).

Graphs are rebuilt from the objects' state at every step: an edge links two objects of the same
scene whose bounding boxes are closer than ``radius`` (locality, as in the Graph Network
Simulator, so the model generalises to more objects). Static objects (ramps, platforms, mats,
baskets) send messages but are never moved.

Node input (``NODE_INPUT_DIM``): height of the object's bottom above the table and the height it
would have after one free-fall step of ``dt`` (both clipped at ``HEIGHT_CLIP``), its vertical
half-extent, the first two columns of its rotation matrix (6), linear and angular velocity (6) and
its static properties (size, shape, material, is_static). Position is never an input beyond the
clip: along the table predictions do not depend on where a scene stands, and upwards an object two
blocks above the table looks like any other high object (the table only matters to what can reach
it within one step), so a fifth or sixth block of a tower is not outside the training range.

Edge input (``EDGE_INPUT_DIM``, sender j -> receiver i): centre offset (3) and its length,
bounding-box gap (3) and its length, relative velocity (3), and the receiver's centre in the
sender's frame (3) raw and divided by the sender's half size (3) — "is the ball above the
platform, past its end?".

Output per object: the change over one model step (``dt``, 0.1 s) of position (3), linear velocity
(3), orientation as an axis-angle vector (3) and angular velocity (3), normalised with statistics
of the training data saved in the model's buffers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import to_dense_batch

from physground.dynamics.data import PROP_DIM, STATE_DIM
from physground.dynamics.quaternions import axis_angle_to_quat, quat_multiply, quat_to_axis_angle, quat_to_matrix
from physground.envs.files import atomic_write, atomic_write_text

NODE_INPUT_DIM = 3 + 6 + 6 + PROP_DIM
HEIGHT_CLIP = 0.12
"""Heights above the table (m) beyond which a node's height inputs stop growing (two blocks)."""
GRAVITY = 9.81
EDGE_INPUT_DIM = 3 + 1 + 3 + 1 + 3 + 3 + 3
TARGET_DIM = 12
TARGET_STD_FLOOR = torch.tensor([1e-3] * 3 + [1e-2] * 3 + [1e-2] * 3 + [1e-1] * 3)
"""Smallest spread a target is normalised by (m, m/s, rad, rad/s): directions the training data
never moves in (scenes are planar) must not blow up small errors."""


def state_delta(state: torch.Tensor, next_state: torch.Tensor) -> torch.Tensor:
    """Model targets (N, 12): Δposition, Δvelocity, rotation vector of q1 q0⁻¹, Δangular velocity."""
    conj = state[:, 3:7] * torch.tensor([1.0, -1.0, -1.0, -1.0], device=state.device)
    rot = quat_to_axis_angle(quat_multiply(next_state[:, 3:7], conj))
    return torch.cat([next_state[:, 0:3] - state[:, 0:3], next_state[:, 7:10] - state[:, 7:10], rot, next_state[:, 10:13] - state[:, 10:13]], dim=-1)


def apply_delta(state: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """The state (N, 13) after a change ``delta`` (N, 12) (inverse of :func:`state_delta`)."""
    quat = quat_multiply(axis_angle_to_quat(delta[:, 6:9]), state[:, 3:7])
    quat = quat / quat.norm(dim=-1, keepdim=True)
    return torch.cat([state[:, 0:3] + delta[:, 0:3], quat, state[:, 7:10] + delta[:, 3:6], state[:, 10:13] + delta[:, 9:12]], dim=-1)


# ----------------------------------------------------------------------------------------------
# Features and graphs
# ----------------------------------------------------------------------------------------------


def node_features(state: torch.Tensor, props: torch.Tensor, dt: float) -> torch.Tensor:
    """Node inputs (N, NODE_INPUT_DIM) of states (N, 13) and properties (N, PROP_DIM); ``dt`` is
    the model's step in seconds (see the module docstring)."""
    rot = quat_to_matrix(state[:, 3:7])
    extent = (rot.abs() @ (props[:, :3, None] / 2)).squeeze(-1)
    bottom = state[:, 2:3] - extent[:, 2:3]
    # where free fall would take the bottom within one step: tells a fast fall that will hit the
    # table this step from one that will not, although both heights are clipped
    falling = bottom + state[:, 9:10] * dt - 0.5 * GRAVITY * dt * dt
    heights = torch.cat([bottom, falling], dim=-1).clamp(max=HEIGHT_CLIP)
    return torch.cat([heights, extent[:, 2:3], rot[:, :, :2].reshape(-1, 6), state[:, 7:13], props], dim=-1)


def radius_edges(state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges between objects of the same graph whose bounding boxes are within ``radius`` (m),
    and their features.

    Returns:
        ``edge_index`` (2, E) as (sender, receiver) and ``edge_attr`` (E, EDGE_INPUT_DIM).
    """
    rot = quat_to_matrix(state[:, 3:7])
    half = props[:, :3] / 2
    extent = (rot.abs() @ half[:, :, None]).squeeze(-1)
    _, mask = to_dense_batch(torch.arange(len(state), device=state.device), batch)
    index = torch.full(mask.shape, -1, dtype=torch.long, device=state.device)
    index[mask] = torch.arange(len(state), device=state.device)
    pair = (index[:, :, None] >= 0) & (index[:, None, :] >= 0)
    pair &= ~torch.eye(index.shape[1], dtype=torch.bool, device=state.device)[None]
    g, a, b = pair.nonzero(as_tuple=True)
    sender, receiver = index[g, a], index[g, b]
    static = props[:, -1] > 0.5
    keep = ~(static[sender] & static[receiver])
    delta = state[receiver, 0:3] - state[sender, 0:3]
    gap = (delta.abs() - extent[sender] - extent[receiver]).clamp(min=0)
    keep &= gap.norm(dim=-1) < radius
    sender, receiver, delta, gap = sender[keep], receiver[keep], delta[keep], gap[keep]
    local = (rot[sender].transpose(1, 2) @ delta[:, :, None]).squeeze(-1)
    attr = torch.cat(
        [
            delta, delta.norm(dim=-1, keepdim=True), gap, gap.norm(dim=-1, keepdim=True),
            state[sender, 7:10] - state[receiver, 7:10], local, local / half[sender].clamp(min=1e-3),
        ],
        dim=-1,
    )
    return torch.stack([sender, receiver]), attr


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------


def mlp(inputs: int, hidden: int, outputs: int, layers: int = 2, norm: bool = True) -> nn.Sequential:
    """``layers`` hidden layers of width ``hidden`` with SiLU, optionally LayerNorm at the end."""
    mods: list[nn.Module] = []
    width = inputs
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.SiLU()]
        width = hidden
    mods.append(nn.Linear(width, outputs))
    if norm:
        mods.append(nn.LayerNorm(outputs))
    return nn.Sequential(*mods)


class InteractionLayer(MessagePassing):
    """One interaction-network step with explicit edge and node updates (residual):
    e' = e + f_e([e, h_receiver, h_sender]);  h' = h + f_v([h, Σ_incoming e']).

    Forward: (h (N, D), edge_index (2, E), e (E, D)) -> (h' (N, D), e' (E, D)).
    """

    def __init__(self, width: int, mlp_layers: int = 2) -> None:
        super().__init__(aggr="sum")
        self.edge_mlp = mlp(3 * width, width, width, mlp_layers)
        self.node_mlp = mlp(2 * width, width, width, mlp_layers)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sender, receiver = edge_index
        e_new = e + self.edge_mlp(torch.cat([e, h[receiver], h[sender]], dim=-1))
        h_new = self.propagate(edge_index, h=h, e=e_new, size=(h.shape[0], h.shape[0]))
        return h_new, e_new

    def message(self, e: torch.Tensor) -> torch.Tensor:
        return e

    def update(self, aggregated: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return h + self.node_mlp(torch.cat([h, aggregated], dim=-1))


@dataclass(frozen=True)
class DynamicsConfig:
    """Shape and physics constants of a dynamics model.

    Attributes:
        hidden: Latent width.
        message_passing: Interaction layers (0 = the MLP baseline: no messages at all).
        mlp_layers: Hidden layers per MLP.
        radius: Edge radius between bounding boxes (m).
        dt: Seconds per model step.
    """

    hidden: int = 128
    message_passing: int = 3
    mlp_layers: int = 2
    radius: float = 0.06
    dt: float = 0.1


class DynamicsModel(nn.Module):
    """Encode-process-decode graph network predicting each object's state change over ``dt``.

    Normalisation statistics live in buffers (saved with the weights); :meth:`fit_normalisation`
    sets them from training data.
    """

    def __init__(self, config: DynamicsConfig) -> None:
        super().__init__()
        self.config = config
        h, layers = config.hidden, config.mlp_layers
        self.node_encoder = mlp(NODE_INPUT_DIM, h, h, layers)
        self.edge_encoder = mlp(EDGE_INPUT_DIM, h, h, layers)
        self.processor = nn.ModuleList(InteractionLayer(h, layers) for _ in range(config.message_passing))
        self.decoder = mlp(h, h, TARGET_DIM, layers, norm=False)
        for name, dim in (("node", NODE_INPUT_DIM), ("edge", EDGE_INPUT_DIM), ("target", TARGET_DIM)):
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))
        self.register_buffer("normalised", torch.tensor(False))

    @property
    def uses_messages(self) -> bool:
        return self.config.message_passing > 0

    def fit_normalisation(self, state: torch.Tensor, next_state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor) -> None:
        """Set input/target statistics from a large sample of transitions."""
        with torch.no_grad():
            nodes = node_features(state, props, self.config.dt)
            _, edges = radius_edges(state, props, batch, self.config.radius)
            dynamic = props[:, -1] < 0.5
            targets = state_delta(state, next_state)[dynamic]
            floors = {"node": torch.full((NODE_INPUT_DIM,), 1e-3), "edge": torch.full((EDGE_INPUT_DIM,), 1e-3), "target": TARGET_STD_FLOOR}
            for name, values in (("node", nodes), ("edge", edges), ("target", targets)):
                getattr(self, f"{name}_mean").copy_(values.mean(0))
                getattr(self, f"{name}_std").copy_(torch.maximum(values.std(0), floors[name].to(values.device)))
            self.normalised.fill_(True)

    def forward(self, state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """Normalised state changes (N, 12) of every object (static ones are ignored by callers).

        Args:
            state: (N, 13) object states of all graphs.
            props: (N, PROP_DIM) static properties.
            batch: (N,) graph index of each object.
        """
        if state.dim() != 2 or state.shape[1] != STATE_DIM:
            raise ValueError(f"state must have shape (N, {STATE_DIM}), got {tuple(state.shape)}")
        if props.shape != (state.shape[0], PROP_DIM):
            raise ValueError(f"props must have shape ({state.shape[0]}, {PROP_DIM}), got {tuple(props.shape)}")
        h = self.node_encoder((node_features(state, props, self.config.dt) - self.node_mean) / self.node_std)
        if self.uses_messages:
            edge_index, attr = radius_edges(state, props, batch, self.config.radius)
            e = self.edge_encoder((attr - self.edge_mean) / self.edge_std)
            for layer in self.processor:
                h, e = layer(h, edge_index, e)
        return self.decoder(h)

    def save_pretrained(self, path: str | Path, card: str | None = None, extra: dict[str, Any] | None = None) -> None:
        """Write ``model.safetensors`` (weights and normalisation statistics), ``config.json`` and a
        model card (``README.md``) to folder ``path``, each via a temporary file and a rename.

        Raises:
            ValueError: The normalisation statistics were never fitted.
        """
        from safetensors.torch import save_file

        if not bool(self.normalised):
            raise ValueError("refusing to save a dynamics model whose normalisation statistics were never fitted")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic_write(path / "model.safetensors", lambda p: save_file(state, str(p)))
        atomic_write_text(path / "config.json", json.dumps({"model": asdict(self.config), **(extra or {})}, indent=2))
        if card:
            atomic_write_text(path / "README.md", card)

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device = "cpu") -> DynamicsModel:
        """Load a model saved by :meth:`save_pretrained` (safetensors; every tensor's shape checked).

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
        model = cls(config)
        for name, tensor in model.state_dict().items():
            if name not in state:
                raise ValueError(f"dynamics checkpoint {str(path)!r} lacks {name!r}")
            if tuple(state[name].shape) != tuple(tensor.shape):
                kind = "normalisation statistics" if name.endswith(("_mean", "_std")) else "weights"
                raise ValueError(f"dynamics checkpoint {str(path)!r}: {kind} {name!r} have shape {tuple(state[name].shape)}, the model needs {tuple(tensor.shape)}")
        model.load_state_dict(state)
        if not bool(model.normalised):
            raise ValueError(f"dynamics checkpoint {str(path)!r} has no fitted normalisation statistics")
        return model.to(device).eval()

    def step(self, state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """The state ``dt`` later (N, 13); static objects stay where they are."""
        return self.advance(state, props, self(state, props, batch))

    def advance(self, state: torch.Tensor, props: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """The state (N, 13) after this model's normalised ``prediction`` (N, 12) for ``state``;
        static objects stay where they are (differentiable: training unrolls through it)."""
        nxt = apply_delta(state, prediction * self.target_std + self.target_mean)
        return torch.where(props[:, -1:] > 0.5, state, nxt)


def constant_velocity_step(state: torch.Tensor, props: torch.Tensor, dt: float) -> torch.Tensor:
    """Baseline: every dynamic object keeps its velocity (no gravity, no contacts)."""
    delta = torch.cat([state[:, 7:10] * dt, torch.zeros_like(state[:, 7:10]), state[:, 10:13] * dt, torch.zeros_like(state[:, 10:13])], dim=-1)
    nxt = apply_delta(state, delta)
    return torch.where(props[:, -1:] > 0.5, state, nxt)
