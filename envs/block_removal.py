"""BlockRemoval: if the red block is removed, will the tower fall?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from physground.envs.base import TaskConfig, check_float
from physground.envs.programs import Program, coloured, tower
from physground.envs.scene import BLOCK_SIZE, COLOURS, Scene, new_scene
from physground.envs.towers import TowerQuestionConfig, TowerQuestionEnv, distinct_colours, sample_tower, static_margin, tower_fall_events, tower_ids

REMOVED_COLOUR = "red"


@dataclass(frozen=True)
class BlockRemovalConfig(TowerQuestionConfig):
    """Options of BlockRemoval (see ``TowerQuestionConfig``; towers of 3-6 blocks).

    Attributes:
        colours: Palette colours of the other blocks (distinct; never red).
        same_side_probability: Chance that the red block and the block on it are drawn leaning the
            same way (offsets of one sign, 0.15-0.5 block sizes each): the towers whose fall after
            the removal is in question. Otherwise offsets are uniform. This only shapes the
            proposal; every label still comes from simulation.
    """

    fewest_blocks_allowed: ClassVar[int] = 3  # the red block, one below or above it, one on top
    distinct_colours_needed_below_max: ClassVar[int] = 1  # the red block brings its own colour

    min_blocks: int = 3
    colours: tuple[str, ...] = tuple(c for c in COLOURS if c != REMOVED_COLOUR)
    same_side_probability: float = 0.7

    def validate(self) -> None:
        super().validate()
        check_float("same_side_probability", self.same_side_probability, 0.0, 1.0)
        if REMOVED_COLOUR in self.colours:
            raise ValueError(f"colours must not contain {REMOVED_COLOUR!r}: it marks the block to remove")


class BlockRemovalEnv(TowerQuestionEnv):
    """## Description
    A standing tower of 3-6 cubes contains one red cube (never the top one). The question: "If the
    red block is removed, will the tower fall?" The answer comes from simulating the tower with the
    red block taken out: the blocks above drop by one block size, and the tower has fallen if any
    block ends more than half a block size from where it should rest within 3 s.

    ## Observation
    ``{"image": (H, W, 3) uint8 front view (red block in place), "prompt": str}``

    ## Actions
    ``Discrete(2)``: 0 = "yes", 1 = "no". ``step`` also takes free text.

    ## Reward
    ``reward_correct`` (1) / ``reward_wrong`` (0) / ``invalid_answer_reward`` (-1). One step.

    ## Ground truth
    ``info["scene"]``, ``info["label"]``; at step ``info["events"]`` (``any_fell`` ...) and the end
    scene of the rollout without the red block. Towers are checked to stand *with* the red block
    (by simulation) before they are asked about. Balanced 50/50 by resampling.

    ## Program
    ``yes_no(do=remove(unique(filter(objects, colour=red))), ask=fell(tower(cubes)))``: the removal
    is recorded in ``meta["removed"]``; a block has fallen against its expected rest position (one
    block lower above the gap).

    ## Version history
    - v1: the answers are balanced within every stratum of the block count and the top block's offset from the bottom one
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "BlockRemoval"
    balance_cues: ClassVar[tuple[str, ...]] = ("count", "top-offset")
    config_class: ClassVar[type[TaskConfig]] = BlockRemovalConfig

    def _sample_scene(self) -> Scene:
        while True:  # proposals that statics already rules out are skipped without simulating
            scene = self._propose_scene()
            if static_margin(scene["objects"]) > 0.02:
                return scene

    def _propose_scene(self) -> Scene:
        cfg, rng = self.config, self.np_random
        n = int(rng.integers(cfg.min_blocks, cfg.max_blocks + 1))
        red_level = int(rng.integers(0, n - 1))
        colours = self._tower_colours(n, red_level)
        cubes = sample_tower(rng, n, colours, cfg.max_offset)
        if rng.random() < cfg.same_side_probability:
            lean = float(rng.choice((-1.0, 1.0)))
            shifts = {red_level: lean * float(rng.uniform(0.15, 0.5)), red_level + 1: lean * float(rng.uniform(0.15, 0.5))}
            if red_level == 0:
                shifts.pop(0)  # the bottom block has no block below to lean from
            for level in sorted(shifts):
                # Re-place this level and shift everything above it by the same amount.
                delta = cubes[level - 1]["position"][0] + shifts[level] * BLOCK_SIZE - cubes[level]["position"][0]
                for cube in cubes[level:]:
                    cube["position"][0] += delta
        meta = {"tower": [c["id"] for c in cubes], "red": cubes[red_level]["id"], "question": "any_fell", "ask": self._ask(colours[red_level])}
        return new_scene(self.task_name, cubes, meta)

    def _tower_colours(self, n: int, removed_level: int) -> list[str]:
        """Colours bottom to top; the block at ``removed_level`` is the one the question removes."""
        colours = distinct_colours(self.np_random, n - 1, palette=self.config.colours)
        colours.insert(removed_level, REMOVED_COLOUR)
        return colours

    def _ask(self, removed_colour: str) -> dict[str, Any]:
        """The question's slot values (none: BlockRemoval always removes the red block)."""
        return {}

    def _accept(self, scene: Scene, happens: bool) -> bool:
        # The question presupposes a standing tower: check it, with the red block, by simulation.
        ids = tower_ids(scene)
        end = self.simulate(scene, early_stop=True)
        return not tower_fall_events(scene, end, ids, self.config.fall_threshold)["any_fell"]

    def question_program(self, values: dict[str, Any]) -> Program:
        return removal_program(REMOVED_COLOUR, self.config.sim_seconds)

    def _propose(self) -> Scene:
        return self._sample_scene()


def removal_program(colour: str, horizon: float) -> Program:
    """"If the <colour> block is removed, will the tower fall?" as a program."""
    return {"head": "yes_no", "do": {"op": "remove", "target": coloured(colour)}, "ask": {"op": "fell", "of": tower()}, "horizon": horizon}
