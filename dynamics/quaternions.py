"""Rotation math on quaternions [w, x, y, z] (torch, batched), shared by the dynamics model and its data."""

from __future__ import annotations

import torch


def quat_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (N, 3, 3) of quaternions (N, 4)."""
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-9)
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b of quaternions (N, 4)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw],
        dim=-1,
    )


def axis_angle_to_quat(v: torch.Tensor) -> torch.Tensor:
    """Quaternions (N, 4) of rotation vectors (N, 3) (axis times angle, rad)."""
    angle = v.norm(dim=-1, keepdim=True)
    half = angle / 2
    scale = torch.where(angle > 1e-8, torch.sin(half) / angle.clamp(min=1e-8), 0.5 - angle**2 / 48)
    return torch.cat([torch.cos(half), v * scale], dim=-1)


def quat_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """Rotation vectors (N, 3) of quaternions (N, 4), angle in [0, pi]."""
    q = q / q.norm(dim=-1, keepdim=True).clamp(min=1e-9)
    q = torch.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    s = xyz.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(s, q[..., :1])
    return torch.where(s > 1e-8, xyz * angle / s.clamp(min=1e-8), 2 * xyz)
