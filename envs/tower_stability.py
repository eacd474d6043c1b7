"""TowerStability: will this block tower fall?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from physground.envs.base import TaskConfig
from physground.envs.programs import Program, tower
from physground.envs.scene import Scene, new_scene
from physground.envs.towers import TowerQuestionConfig, TowerQuestionEnv, distinct_colours, sample_tower


@dataclass(frozen=True)
class TowerStabilityConfig(TowerQuestionConfig):
    """Options of TowerStability (see ``TowerQuestionConfig``; towers of 2-6 blocks)."""


class TowerStabilityEnv(TowerQuestionEnv):
    """## Description
    A tower of 2-6 cubes stands on the table; each block is shifted sideways from the one below.
    The question: "Will this block tower fall?" The answer comes from simulating the tower in
    MuJoCo: it falls if any block moves more than half a block size within 3 s.

    ## Observation
    ``{"image": (H, W, 3) uint8 front view, "prompt": "Will this block tower fall?"}``

    ## Actions
    ``Discrete(2)``: 0 = "yes", 1 = "no" (``action_names``). ``step`` also takes free text.

    ## Reward
    ``reward_correct`` (1) for the right answer, ``reward_wrong`` (0) otherwise,
    ``invalid_answer_reward`` (-1) for unparseable text. One step, then ``terminated``.

    ## Ground truth
    ``info["scene"]`` (every block's pose and velocity), ``info["label"]`` at reset;
    ``info["events"]`` (``any_fell``, ``fallen``, ``max_displacement`` in block sizes) at step.
    With ``balanced`` (default) the answer is drawn 50/50 first and towers are resampled until the
    simulation agrees, so both answers are equally frequent.

    ## Program
    ``yes_no(do=none, ask=fell(tower(cubes)))``: nothing changes, does any block fall.

    ## Version history
    - v1: the answers are balanced within every stratum of the block count and the top block's offset from the bottom one
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "TowerStability"
    balance_cues: ClassVar[tuple[str, ...]] = ("count", "top-offset")
    config_class: ClassVar[type[TaskConfig]] = TowerStabilityConfig

    def _sample_scene(self) -> Scene:
        cfg, rng = self.config, self.np_random
        n = int(rng.integers(cfg.min_blocks, cfg.max_blocks + 1))
        cubes = sample_tower(rng, n, distinct_colours(rng, n, palette=cfg.colours), cfg.max_offset)
        return new_scene(self.task_name, cubes, {"tower": [c["id"] for c in cubes], "question": "any_fell"})

    def question_program(self, values: dict[str, Any]) -> Program:
        return {"head": "yes_no", "do": {"op": "none"}, "ask": {"op": "fell", "of": tower()}, "horizon": self.config.sim_seconds}

    def _propose(self) -> Scene:
        return self._sample_scene()
