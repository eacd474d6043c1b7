"""Scene cues: single simulator-given quantities that could answer a question without physics.

Each cue maps a scene (the ``info["scene"]`` format) to a fixed-length float32 vector of
indicators, zeros where the scene lacks it:

==============  ==============================================================================
count           number of tower blocks (one-hot 1-8)
top-offset      |x of the top tower block - x of the bottom one| in block sizes (bins of 0.2)
top-x           x of the top tower block (bins of half a block)
surface         the surface material under the moving object (one-hot)
zone            x of the target zone's centre (bins of 3 cm)
block-start     x of the block on the mat before the push (bins of 2 cm)
ball-start      the ball as shown: its height (bins of 2 cm), its x relative to the basket (or
                absolute without one; bins of 2 cm) and the sign of its horizontal velocity
asked           the question's slot values (``meta["ask"]``: colour, position, strength, direction)
==============  ==============================================================================

The yes/no tasks balance their answers within every *stratum* of their cues (``cue_stratum``: the
scenes whose cue vectors are equal), so no function of those cues predicts the answer
(``YesNoConfig.stratified``); the cue baselines (``agent.cues``) measure what a cue predicts.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from physground.envs.programs import DIRECTIONS
from physground.envs.scene import BLOCK_SIZE, COLOURS, SURFACES, Scene

Features = Callable[[Scene], np.ndarray]


def one_hot(index: int | None, size: int) -> np.ndarray:
    """A length-``size`` indicator of ``index`` (all zeros for None)."""
    out = np.zeros(size, dtype=np.float32)
    if index is not None:
        out[index] = 1.0
    return out


def binned(value: float | None, low: float, width: float, bins: int) -> np.ndarray:
    """One-hot of ``value``'s bin: ``bins`` bins of ``width`` from ``low``, the ends open."""
    if value is None:
        return np.zeros(bins, dtype=np.float32)
    return one_hot(int(np.clip(np.floor((value - low) / width), 0, bins - 1)), bins)


def _objects(scene: Scene, shape: str) -> list[dict[str, Any]]:
    return [o for o in scene["objects"] if o["shape"] == shape]


def _by_id(scene: Scene, object_id: str) -> dict[str, Any] | None:
    return next((o for o in scene["objects"] if o["id"] == object_id), None)


def tower_blocks(scene: Scene) -> list[dict[str, Any]]:
    """The tower's blocks bottom to top (``meta["tower"]``; none in a scene without a tower)."""
    return [o for o in (_by_id(scene, i) for i in scene.get("meta", {}).get("tower") or ()) if o is not None]


MAX_COUNT = 8


def count_cue(scene: Scene) -> np.ndarray:
    n = len(tower_blocks(scene))
    return one_hot(min(n, MAX_COUNT) - 1 if n else None, MAX_COUNT)


def top_offset_cue(scene: Scene) -> np.ndarray:
    blocks = tower_blocks(scene)
    value = abs(blocks[-1]["position"][0] - blocks[0]["position"][0]) / BLOCK_SIZE if blocks else None
    return binned(value, 0.0, 0.2, 16)


def top_x_cue(scene: Scene) -> np.ndarray:
    blocks = tower_blocks(scene)
    return binned(blocks[-1]["position"][0] if blocks else None, -0.3, BLOCK_SIZE / 2, 20)


SURFACE_NAMES = tuple(SURFACES)


def surface_cue(scene: Scene) -> np.ndarray:
    surface = scene.get("meta", {}).get("surface")
    return one_hot(SURFACE_NAMES.index(surface) if surface in SURFACE_NAMES else None, len(SURFACE_NAMES))


def zone_cue(scene: Scene) -> np.ndarray:
    zones = _objects(scene, "zone")
    return binned(zones[0]["position"][0] if zones else None, -0.33, 0.03, 22)


def block_start_cue(scene: Scene) -> np.ndarray:
    cubes = _objects(scene, "cube") if _by_id(scene, "mat") is not None else []
    return binned(cubes[0]["position"][0] if cubes else None, -0.33, 0.02, 33)


def ball_start_cue(scene: Scene) -> np.ndarray:
    balls, baskets = _objects(scene, "ball"), _objects(scene, "basket")
    if not balls:
        return np.zeros(16 + 30 + 3, dtype=np.float32)
    ball = balls[0]
    x = ball["position"][0] - (baskets[0]["position"][0] if baskets else 0.0)
    vx = float((ball.get("velocity") or [0.0])[0])
    return np.concatenate([binned(ball["position"][2], 0.0, 0.02, 16), binned(x, -0.3, 0.02, 30), one_hot(int(np.sign(round(vx, 4))) + 1, 3)])


ASKED_VALUES = (
    *(("colour", c) for c in COLOURS), *(("position", p) for p in range(-6, 7)), *(("strength", s) for s in range(1, 11)),
    *(("direction", d) for d in DIRECTIONS),
)
"""Every slot value a question may carry, in a fixed order."""


def asked_cue(scene: Scene) -> np.ndarray:
    out = np.zeros(len(ASKED_VALUES), dtype=np.float32)
    for key, value in (scene.get("meta", {}).get("ask") or {}).items():
        if (key, value) in ASKED_VALUES:
            out[ASKED_VALUES.index((key, value))] = 1.0
    return out


CUES: dict[str, Features] = {
    "count": count_cue, "top-offset": top_offset_cue, "top-x": top_x_cue, "surface": surface_cue, "zone": zone_cue, "block-start": block_start_cue,
    "ball-start": ball_start_cue, "asked": asked_cue,
}
"""Every cue by name: scene -> fixed-length feature vector (float32)."""


def cue_features(scene: Scene, cues: Sequence[str]) -> np.ndarray:
    """The concatenated features (F,) of ``cues`` for ``scene``.

    Raises:
        ValueError: An unknown cue name.
    """
    unknown = [c for c in cues if c not in CUES]
    if unknown:
        raise ValueError(f"unknown cue {unknown[0]!r}; valid: {', '.join(CUES)}")
    return np.concatenate([CUES[name](scene) for name in cues])


def feature_size(cues: Sequence[str]) -> int:
    """F of ``cue_features`` for ``cues`` (the same for every scene)."""
    return int(cue_features({"objects": [], "meta": {}}, cues).size)


def present(scene: Scene, cues: Sequence[str]) -> bool:
    """Whether ``scene`` shows any of ``cues`` (some feature non-zero)."""
    return bool(cue_features(scene, cues).any())


def cue_stratum(scene: Scene, cues: Sequence[str]) -> tuple[int, ...]:
    """The scene's stratum of ``cues``: the indices of its non-zero cue features (scenes of one
    stratum look the same to every function of those cues)."""
    return tuple(int(i) for i in np.flatnonzero(cue_features(scene, cues)))
