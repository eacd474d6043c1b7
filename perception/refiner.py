"""Sub-pixel position refinement of grounded blocks.

The learned grounder reads the VLM's 8 x 8 image tokens, so its block centres are off by about a
pixel (0.13 block sizes in x on towers), which is as large as the offsets that decide whether a
tower stands. The refiner looks at the raw pixels instead: a crop of the image centred on the
projection of a coarse estimate goes through a small CNN that predicts the correction of the
block's centre in the image plane (world x and z). It is trained on rendered scenes with
simulator labels, the coarse estimate being the true centre plus a random offset.

Projection uses the env's default front camera (``envs.scene.project_points``): the refiner assumes
that calibrated view, as any method that reads metric positions from pixels does. Images of any
size are sampled on the grid of a ``reference_size`` image, so a crop covers the same part of the
scene at every resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from physground.envs.scene import BLOCK_SIZE, project_points

REFINED_AXES = (0, 2)
"""World axes the refiner corrects: x (image horizontal) and z (image vertical)."""


@dataclass(frozen=True)
class RefinerConfig:
    """Shape of the refiner and of its inputs.

    Attributes:
        crop: Side of the crop (pixels of a ``reference_size`` image).
        reference_size: Image side whose pixel grid the crop uses.
        width: Channels of the first convolutions (doubled after two stride-2 stages).
        kinds: Object kinds it refines.
        passes: Refinement passes at inference (each re-crops at the corrected centre).
    """

    crop: int = 32
    reference_size: int = 128
    width: int = 48
    kinds: tuple[str, ...] = ("cube",)
    passes: int = 2

    def __post_init__(self) -> None:
        if self.crop < 8 or self.crop % 8:
            raise ValueError(f"refiner crop must be a multiple of 8 (at least 8), got {self.crop!r}")
        if self.passes < 1:
            raise ValueError(f"refiner passes must be at least 1, got {self.passes!r}")


class PositionRefiner(nn.Module):
    """CNN from a crop centred on a coarse estimate to the correction of the object's centre.

    Forward: crops (B, 3, crop, crop) in [0, 1] -> (B, 2) corrections of world (x, z) in block
    sizes. The head flattens the last feature map instead of pooling it, so where the edges are in
    the crop is kept.
    """

    def __init__(self, config: RefinerConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1), nn.GELU(),
            nn.Conv2d(w, w, 3, padding=1, stride=2), nn.GELU(),
            nn.Conv2d(w, 2 * w, 3, padding=1, stride=2), nn.GELU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1, stride=2), nn.GELU(),
        )
        side = config.crop // 8
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * w * side * side, 128), nn.GELU(), nn.Linear(128, len(REFINED_AXES)))

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        c = self.config.crop
        if crops.dim() != 4 or crops.shape[1:] != (3, c, c):
            raise ValueError(f"refiner expects crops (B, 3, {c}, {c}), got {tuple(crops.shape)}")
        return self.head(self.features(crops))


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (B, H, W, 3) -> float (B, 3, H, W) in [0, 1]."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"refiner expects RGB images (B, H, W, 3), got shape {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0


def crop_around(images: torch.Tensor, centres: np.ndarray, config: RefinerConfig) -> torch.Tensor:
    """Crops centred on the default camera's projection of world points (bilinear, sub-pixel).

    Args:
        images: (B, 3, H, W) float, square.
        centres: (B, 3) world points (m); crop b is taken from image b.
        config: Crop size and reference grid.

    Returns:
        (B, 3, crop, crop); pixels outside the image are 0.
    """
    pixels = torch.as_tensor(project_points(centres, config.reference_size), dtype=torch.float32)  # (B, 2): column, row
    steps = torch.arange(config.crop, dtype=torch.float32) - config.crop / 2 + 0.5
    cols = (pixels[:, 0:1] + steps) / config.reference_size * 2 - 1  # (B, crop), normalised (align_corners=False)
    rows = (pixels[:, 1:2] + steps) / config.reference_size * 2 - 1
    grid = torch.stack([cols[:, None, :].expand(-1, config.crop, -1), rows[:, :, None].expand(-1, -1, config.crop)], dim=-1)
    return F.grid_sample(images, grid.to(images.device), mode="bilinear", padding_mode="zeros", align_corners=False)


@torch.no_grad()
def refine_centres(refiner: PositionRefiner, images: torch.Tensor, centres: np.ndarray) -> np.ndarray:
    """Corrected world centres after ``refiner.config.passes`` passes.

    Args:
        refiner: A trained refiner.
        images: (B, 3, H, W) float, one per centre.
        centres: (B, 3) coarse centres (m).

    Returns:
        (B, 3) refined centres (m); y is left as given.
    """
    refined = np.array(centres, dtype=float, copy=True).reshape(-1, 3)
    if len(refined) == 0:
        return refined
    images = images.to(next(refiner.parameters()).device)
    for _ in range(refiner.config.passes):
        correction = refiner(crop_around(images, refined, refiner.config)).double().cpu().numpy()
        refined[:, REFINED_AXES] += correction * BLOCK_SIZE
    return refined
