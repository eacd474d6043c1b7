"""Block towers shared by TowerStability, BlockRemoval and TowerBuild: sampling and the fall test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from physground.envs.base import YesNoConfig, YesNoTaskEnv, check_choices, check_float, check_int
from physground.envs.executor import ExecutionContext, expected_rest_positions, tower_displacements, tower_fall_events  # noqa: F401  (shared with the tasks)
from physground.envs.scene import BLOCK_SIZE, COLOURS, Scene, World, make_cube, objects_of_shape

TOWER_BASE_X = (-0.08, 0.08)
"""Range of the bottom block's centre x (m)."""


def sample_tower(
    rng: np.random.Generator,
    n_blocks: int,
    colours: list[str],
    max_offset: float,
    base_x: float | None = None,
    lean_probability: float = 0.0,
) -> list[dict[str, Any]]:
    """Cubes ``cube0`` (bottom) ... ``cube{n-1}`` stacked face to face with random x offsets.

    Each block's centre is shifted from the one below by U(-max_offset, max_offset) block sizes
    along x (the image's horizontal axis, so every offset is visible from the front camera).
    Blocks touch exactly: a tower never starts interpenetrating.

    Args:
        rng: The env's random generator.
        n_blocks: Number of blocks.
        colours: One palette colour per block, bottom to top.
        max_offset: Largest offset between neighbours, in block sizes.
        base_x: Bottom block's centre x; drawn from ``TOWER_BASE_X`` when None.
        lean_probability: Chance that every offset has the same sign (a tower leaning one way,
            offsets U(0.1, max_offset)); otherwise offsets are U(-max_offset, max_offset).
    """
    if len(colours) != n_blocks:
        raise ValueError(f"need {n_blocks} colours, got {len(colours)}")
    x = float(rng.uniform(*TOWER_BASE_X)) if base_x is None else base_x
    lean = float(rng.choice((-1.0, 1.0))) if rng.random() < lean_probability else 0.0
    cubes = []
    for i in range(n_blocks):
        if i > 0:
            step = lean * rng.uniform(min(0.1, max_offset), max_offset) if lean else rng.uniform(-max_offset, max_offset)
            x += float(step) * BLOCK_SIZE
        cubes.append(make_cube(f"cube{i}", colours[i], (x, 0.0, BLOCK_SIZE / 2 + i * BLOCK_SIZE)))
    return cubes


def static_margin(cubes: list[dict[str, Any]]) -> float:
    """Smallest distance (block sizes) from the centre of mass above any block to its edge.

    For a single column of equal axis-aligned cubes, rigid-body statics says the tower stands
    iff this is positive. It is used only to skip hopeless proposals cheaply; whether a tower
    stands is always decided by simulation.

    Args:
        cubes: The column bottom to top.
    """
    xs = np.array([c["position"][0] for c in cubes], dtype=float)
    margin = np.inf
    for i in range(len(xs) - 1):
        com_above = xs[i + 1 :].mean()
        margin = min(margin, 0.5 - abs(com_above - xs[i]) / BLOCK_SIZE)
    return float(margin)


def distinct_colours(rng: np.random.Generator, n: int, exclude: tuple[str, ...] = (), palette: tuple[str, ...] | None = None) -> list[str]:
    """``n`` different palette colours (none of ``exclude``), in random order."""
    choices = [c for c in (palette or tuple(COLOURS)) if c not in exclude]
    if n > len(choices):
        raise ValueError(f"cannot draw {n} distinct colours from {choices}")
    return [str(c) for c in rng.choice(choices, size=n, replace=False)]


def fall_stop_condition(world: World, start: Scene, ids: list[str], threshold: float) -> Callable[[], bool]:
    """A cheap check for ``PhysicsTaskEnv.simulate``: True once a block has surely fallen.

    A block still *above* its rest position may just be settling into a gap (BlockRemoval), so
    only sideways displacement and sinking below the rest height count here; ``events`` judges
    the full displacement at the end.
    """
    expected = expected_rest_positions(start, ids)
    limit_sq = (threshold * BLOCK_SIZE) ** 2
    index, qpos = world.position_index(ids), world.data.qpos

    def fallen() -> bool:
        delta = qpos[index] - expected
        np.minimum(delta[:, 2], 0.0, out=delta[:, 2])
        return bool(((delta * delta).sum(axis=1) > limit_sq).any())

    return fallen


def tower_ids(scene: Scene) -> list[str]:
    """Ids of the scene's tower blocks (``meta["tower"]``), bottom to top."""
    return list(scene["meta"]["tower"])


def cube_ids(scene: Scene) -> list[str]:
    """Ids of all cubes in the scene."""
    return [o["id"] for o in objects_of_shape(scene, "cube")]


@dataclass(frozen=True)
class TowerQuestionConfig(YesNoConfig):
    """Options shared by yes/no questions about whether a tower falls.

    Attributes:
        min_blocks: Fewest blocks in a tower.
        max_blocks: Most blocks in a tower (at most ``scene.max_blocks``).
        max_offset: Largest x offset between neighbouring blocks, in block sizes.
        fall_threshold: A block has fallen when it ends more than this many block sizes from where
            it should rest.
        sim_seconds: Simulated time in which a fall counts.
        colours: Palette colours blocks are drawn from (distinct within a tower).
    """

    fewest_blocks_allowed: ClassVar[int] = 1
    distinct_colours_needed_below_max: ClassVar[int] = 0

    min_blocks: int = 2
    max_blocks: int = 6
    max_offset: float = 0.6
    fall_threshold: float = 0.5
    sim_seconds: float = 3.0
    colours: tuple[str, ...] = tuple(COLOURS)

    def validate(self) -> None:
        super().validate()
        check_int("min_blocks", self.min_blocks, self.fewest_blocks_allowed, self.scene.max_blocks)
        check_int("max_blocks", self.max_blocks, self.min_blocks, self.scene.max_blocks)
        check_float("max_offset", self.max_offset, 0.0, 1.0)
        check_float("fall_threshold", self.fall_threshold, 0.01, 10.0)
        check_float("sim_seconds", self.sim_seconds, 0.05, 60.0)
        check_choices("colours", self.colours, COLOURS)
        needed = self.max_blocks - self.distinct_colours_needed_below_max
        if len(set(self.colours)) < needed:
            raise ValueError(f"colours must offer at least {needed} distinct colours for max_blocks={self.max_blocks}, got {len(set(self.colours))}")


class TowerQuestionEnv(YesNoTaskEnv):
    """A yes/no question about a tower of blocks (``meta["tower"]``, bottom to top) and whether it falls."""

    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(fall_threshold=self.config.fall_threshold)

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        return fall_stop_condition(self.world, start, tower_ids(start), self.config.fall_threshold)
