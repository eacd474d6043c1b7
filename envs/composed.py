"""Composed tasks: questions that combine the primitives of the six tasks in new ways.

Each is a task like any other (scene sampler + templates + program, labels from executing the
program with MuJoCo), built from the shared world's scenes, and none is in any training preset
by default: they measure whether an agent that learned the primitives elsewhere can answer a
question nobody trained it on. With the six tasks, every primitive of the query language appears
in at least two tasks (``tests/envs/test_programs.py`` checks it), so any one task can be left
out and its primitives stay seen.

=================  =========================================================================
ColourRemoval      If the <colour> block is removed, will the tower fall? (any colour)
DropOnTop          If the red block is dropped at position <p>, will it land on top of the tower?
ToppleSpot         Where should the red block be dropped so that the tower falls? (positions)
PushZone           Will the block stop in the dark zone if pushed with strength <s>?
PushOff            If the block is pushed with strength <s>, will it slide off the mat?
BasketMove         If the basket moves <left/right> once, will the ball miss it?
=================  =========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from physground.envs.base import PhysicsTaskEnv, TaskConfig, YesNoConfig, YesNoTaskEnv, check_float, check_range
from physground.envs.block_removal import BlockRemovalEnv, removal_program
from physground.envs.catch import CatchConfig, sample_flight_scene, simulate_with_glide
from physground.envs.executor import ExecutionContext, execute
from physground.envs.programs import OPTION, Program, coloured, fixture, the, tower
from physground.envs.push import BLOCK_START_X, MAT_LENGTH, PushConfig, push_objects, sample_push_scene, strength_choice_program, zone_object
from physground.envs.scene import BASKET_INNER_HALF_WIDTH, Scene, find_object, new_scene
from physground.envs.tower_build import PLACED_COLOUR, ReleaseGrid, ReleasePositionAnswers, TowerBuildConfig, check_drop_scene_fields, propose_build_scene
from physground.envs.towers import TowerQuestionConfig, distinct_colours, fall_stop_condition, tower_fall_events, tower_ids

# -- ColourRemoval --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColourRemovalConfig(TowerQuestionConfig):
    """Options of ColourRemoval (see ``TowerQuestionConfig``; towers of 3-6 blocks of distinct
    colours, any of them may be the one removed).

    Attributes:
        same_side_probability: As in BlockRemoval: chance that the removed block and the one on it
            lean the same way (shapes the proposal only).
    """

    fewest_blocks_allowed: ClassVar[int] = 3
    min_blocks: int = 3
    same_side_probability: float = 0.7

    def validate(self) -> None:
        super().validate()
        check_float("same_side_probability", self.same_side_probability, 0.0, 1.0)


class ColourRemovalEnv(BlockRemovalEnv):
    """## Description
    BlockRemoval's towers with blocks of any palette colours; the question names the colour of the
    block to remove (never the top one): "If the <colour> block is removed, will the tower fall?"

    ## Program
    ``yes_no(do=remove(unique(filter(objects, colour=<colour>))), ask=fell(tower(cubes)))``.

    ## Version history
    - v1: the answers are balanced within every stratum of the block count, the top block's offset and the colour asked about
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "ColourRemoval"
    balance_cues: ClassVar[tuple[str, ...]] = ("count", "top-offset", "asked")
    config_class: ClassVar[type[TaskConfig]] = ColourRemovalConfig

    def _tower_colours(self, n: int, removed_level: int) -> list[str]:
        return distinct_colours(self.np_random, n, palette=self.config.colours)

    def _ask(self, removed_colour: str) -> dict[str, Any]:
        return {"colour": removed_colour}

    def question_program(self, values: dict[str, Any]) -> Program:
        return removal_program(values.get("colour", "red"), self.config.sim_seconds)


# -- drops onto a tower -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DropQuestionConfig(YesNoConfig):
    """Options of DropOnTop: TowerBuild's towers and release grid (see ``TowerBuildConfig``)."""

    min_blocks: int = TowerBuildConfig.min_blocks
    max_blocks: int = TowerBuildConfig.max_blocks
    max_offset: float = TowerBuildConfig.max_offset
    lean_probability: float = TowerBuildConfig.lean_probability
    n_offsets: int = TowerBuildConfig.n_offsets
    offset_range: float = TowerBuildConfig.offset_range
    base_range: float = TowerBuildConfig.base_range
    drop_gap: float = TowerBuildConfig.drop_gap
    fall_threshold: float = TowerBuildConfig.fall_threshold
    sim_seconds: float = TowerBuildConfig.sim_seconds
    colours: tuple[str, ...] = TowerBuildConfig.colours

    def validate(self) -> None:
        super().validate()
        check_drop_scene_fields(self)


class _DropScenes(ReleaseGrid):
    """Standing TowerBuild towers with the red block beside them, on TowerBuild's release grid."""

    config: Any
    np_random: np.random.Generator
    task_name: ClassVar[str]

    def _standing_scene(self) -> Scene:
        for _ in range(1000):
            scene = propose_build_scene(self.task_name, self.np_random, self.config)
            end = self.simulate(scene, early_stop=True)  # type: ignore[attr-defined]
            if not tower_fall_events(scene, end, tower_ids(scene), self.config.fall_threshold)["any_fell"]:
                return scene
        raise RuntimeError(f"{self.task_name}: no standing tower in 1000 draws")

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        return fall_stop_condition(self.world, start, tower_ids(start), self.config.fall_threshold)  # type: ignore[attr-defined]


def _drop(position: Any) -> dict[str, Any]:
    red = coloured(PLACED_COLOUR)
    return {"op": "drop", "target": red, "position": position, "above": {"op": "top", "of": tower(without=red)}}


class DropOnTopEnv(_DropScenes, YesNoTaskEnv):
    """## Description
    TowerBuild's scene; the question names a release position: "If the red block is dropped at
    position <p>, will it land on top of the tower?" Positions are drawn uniformly and scenes
    resampled until the simulated answer matches the one drawn 50/50.

    ## Program
    ``yes_no(do=drop(red, <p>, above=top(tower)), ask=on_top(red, tower))``.

    ## Version history
    - v1: the answers are balanced within every stratum of the block count, the top block's offset and the position asked about
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "DropOnTop"
    balance_cues: ClassVar[tuple[str, ...]] = ("count", "top-offset", "asked")
    config_class: ClassVar[type[TaskConfig]] = DropQuestionConfig

    def _sample_scene(self) -> Scene:
        scene = self._standing_scene()
        half = self.config.n_offsets // 2
        scene["meta"]["ask"] = {"position": int(self.np_random.integers(-half, half + 1))}
        return scene

    def _propose(self) -> Scene:
        scene = propose_build_scene(self.task_name, self.np_random, self.config)
        half = self.config.n_offsets // 2
        scene["meta"]["ask"] = {"position": int(self.np_random.integers(-half, half + 1))}
        return scene

    def question_program(self, values: dict[str, Any]) -> Program:
        red = coloured(PLACED_COLOUR)
        ask = {"op": "on_top", "of": red, "on": tower(without=red)}
        return {"head": "yes_no", "do": _drop(values.get("position", 0)), "ask": ask, "horizon": self.config.sim_seconds}


@dataclass(frozen=True)
class ToppleSpotConfig(TowerBuildConfig):
    """Options of ToppleSpot (TowerBuild's towers and grid; one try; ``reward_success`` when a tower
    block falls, ``reward_miss`` otherwise)."""

    reward_miss: float = 0.0
    reward_collapse: float = 0.0


class ToppleSpotEnv(_DropScenes, ReleasePositionAnswers, PhysicsTaskEnv):
    """## Description
    TowerBuild's scene, the opposite goal: "Where should the red block be dropped so that the tower
    falls?" Only towers that some release position topples are kept (checked by simulation).

    ## Actions
    ``Discrete(n_offsets)``: positions "-4" ... "+4".

    ## Reward
    ``reward_success`` (1) when a tower block falls, ``reward_miss`` (0) otherwise,
    ``invalid_answer_reward`` (-1) for unparseable text. One step.

    ## Program
    ``choose(options=positions, do=drop(red, $option, above=top(tower)), goal=fell(tower))``.

    ## Version history
    - v0: first release.
    """

    task_name: ClassVar[str] = "ToppleSpot"
    config_class: ClassVar[type[TaskConfig]] = ToppleSpotConfig

    def question_program(self, values: dict[str, Any]) -> Program:
        red = coloured(PLACED_COLOUR)
        half = self.config.n_offsets // 2
        return {
            "head": "choose", "options": {"kind": "positions", "values": list(range(-half, half + 1))}, "do": _drop(OPTION),
            "goal": {"op": "fell", "of": tower(without=red)}, "horizon": self.config.sim_seconds,
        }

    def _propose(self) -> Scene:
        return propose_build_scene(self.task_name, self.np_random, self.config)

    def _topples(self, scene: Scene) -> bool:
        """Whether some release position topples the tower (nearest the top first: most do)."""
        top_x = find_object(scene, tower_ids(scene)[-1])["position"][0]
        return any(self.outcome(scene, int(a))[2]["reached"] for a in np.argsort(np.abs(self.offsets - top_x), kind="stable"))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        self._begin_episode(seed)
        for _ in range(1000):
            scene = self._standing_scene()
            if self._topples(scene):
                break
        else:
            raise RuntimeError("ToppleSpot: no tower that a drop topples in 1000 draws")
        self._scene, self._best = scene, None
        self._phrase(scene)
        self.world.load(scene)
        return self._observation(), {"scene": scene, "program": self._program}

    def best_action(self) -> int:
        """The toppling release position nearest the tower's top (simulating all)."""
        scene = self._require_reset()
        if self._best is None:
            top_x = find_object(scene, tower_ids(scene)[-1])["position"][0]
            toppling = [a for a in range(self.config.n_offsets) if self.outcome(scene, a)[2]["reached"]]
            self._best = int(min(toppling, key=lambda a: abs(self.offsets[a] - top_x)))
            self.world.load(scene)
        return self._best

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        scene = self._require_reset()
        index = self._action_index(action)
        self.frames = []
        parts = {"reward_success": 0.0, "reward_miss": 0.0, "reward_invalid": 0.0}
        if index is None:
            parts["reward_invalid"] = float(self.config.invalid_answer_reward)
            end, events = scene, {}
            self.world.load(scene)
        else:
            _, end, events = self.outcome(scene, index, early_stop=False, record=self.record_frames)
            parts["reward_success" if events["reached"] else "reward_miss"] = float(self.config.reward_success if events["reached"] else self.config.reward_miss)
        success = bool(events.get("reached", False))
        info = {"scene": end, "events": events, "program": self.program_copy(), "is_success": success, "invalid_answer": index is None, **parts}
        return self._observation(), float(sum(parts.values())), True, False, info


# -- pushes ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushQuestionConfig(YesNoConfig):
    """Options of PushZone and PushOff: Push's mat, block, zone and strengths (see ``PushConfig``).

    Attributes:
        start_shift: (min, max) distance (m) the block starts to the right of Push's start spot;
            (0, 0): on it, as in Push.
    """

    start_shift: tuple[float, float] = (0.0, 0.0)
    strengths: tuple[float, ...] = PushConfig.strengths
    zone_length: float = PushConfig.zone_length
    surfaces: tuple[str, ...] = PushConfig.surfaces
    sim_seconds: float = PushConfig.sim_seconds
    min_travel: float = PushConfig.min_travel
    block_colours: tuple[str, ...] = PushConfig.block_colours

    def validate(self) -> None:
        super().validate()
        PushConfig(strengths=self.strengths, zone_length=self.zone_length, surfaces=self.surfaces, sim_seconds=self.sim_seconds,
                   min_travel=self.min_travel, block_colours=self.block_colours)
        check_range("start_shift", self.start_shift, 0.0, 0.3)


@dataclass(frozen=True)
class PushOffConfig(PushQuestionConfig):
    """Options of PushOff (``PushQuestionConfig``); from v1 on the block's start varies, so that
    surface and strength alone do not decide whether it slides off."""

    start_shift: tuple[float, float] = (0.0, 0.24)


class _PushQuestion(YesNoTaskEnv):
    config_class: ClassVar[type[TaskConfig]] = PushQuestionConfig

    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(strengths=tuple(float(v) for v in self.config.strengths))

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        data, v = self.world.data, self.world.velocity_index("cube0")
        return lambda: bool(np.abs(data.qvel[v : v + 3]).max() < 1e-3)

    def _propose(self) -> Scene:
        """Push's look with everything uniform: surface, block colour, zone, the strength asked about."""
        cfg, rng = self.config, self.np_random
        surface, colour = str(rng.choice(cfg.surfaces)), str(rng.choice(cfg.block_colours))
        centre = float(rng.uniform(BLOCK_START_X + cfg.min_travel, MAT_LENGTH / 2 - cfg.zone_length / 2))
        ask = {"strength": int(rng.integers(1, len(cfg.strengths) + 1))}
        low, high = cfg.start_shift
        start = BLOCK_START_X + (float(rng.uniform(low, high)) if high > low else low)  # no draw without a range: v0's scenes stay as they were
        objects = push_objects(surface, colour, start) + [zone_object(cfg.zone_length, centre)]
        return new_scene(self.task_name, objects, {"surface": surface, "ask": ask})

    def _push_program(self, strength: int, ask: dict[str, Any]) -> Program:
        return {"head": "yes_no", "do": {"op": "push", "target": the("cube"), "strength": strength}, "ask": ask, "horizon": self.config.sim_seconds}


class PushZoneEnv(_PushQuestion):
    """## Description
    Push's scene; the question names a strength: "Will the block stop in the dark zone if pushed
    with strength <s>?" The zone is placed (by simulation) where some strength stops the block;
    the strength asked about is that one or another, and scenes are resampled until the simulated
    answer matches the one drawn 50/50.

    ## Program
    ``yes_no(do=push(block, <s>), ask=inside(block, fixture(zone)))``.

    ## Version history
    - v1: the answers are balanced within every stratum of the surface and the strength asked about
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "PushZone"
    balance_cues: ClassVar[tuple[str, ...]] = ("surface", "asked")

    def _sample_scene(self) -> Scene:
        cfg, rng = self.config, self.np_random
        probe_program = strength_choice_program(len(cfg.strengths), cfg.sim_seconds)
        def finals(probe: Scene) -> list[float]:
            return [r["events"]["final_x"] for r in execute(probe_program, probe, self.mujoco_backend(), self.execution_context())]

        scene, target = sample_push_scene(self.task_name, rng, cfg, finals)
        others = [s for s in range(len(cfg.strengths)) if s != target]
        strength = target if rng.random() < 0.5 else int(rng.choice(others))
        scene["meta"]["ask"] = {"strength": strength + 1}
        return scene


    def question_program(self, values: dict[str, Any]) -> Program:
        return self._push_program(values.get("strength", 4), {"op": "inside", "of": the("cube"), "region": fixture("zone")})


class PushOffEnv(_PushQuestion):
    """## Description
    Push's scene; the question names a strength: "If the block is pushed with strength <s>, will
    it slide off the mat?" Surface, strength, zone and (from v1 on) the block's start, up to 24 cm
    right of Push's start spot, are drawn uniformly; scenes are resampled until the simulated
    answer matches the one drawn 50/50.

    ## Program
    ``yes_no(do=push(block, <s>), ask=off(block, fixture(mat)))``.

    ## Version history
    - v1: the block starts anywhere in its first 24 cm of mat (``start_shift``; in v0 surface and
      strength decided the answer, a lookup table), and the answers are balanced within every
      stratum of the surface and the strength asked about (``balance_cues``, ``envs.cues``). The
      block's start then decides most answers (the distance to the edge given a balanced slide):
      it cannot be balanced too, since surface, strength and start together fix the answer.
    - v0: first release; answers balanced overall only (still registered: ``stratified=False``,
      ``start_shift=(0, 0)``).
    """

    task_name: ClassVar[str] = "PushOff"
    config_class: ClassVar[type[TaskConfig]] = PushOffConfig
    version_settings: ClassVar[dict[int, dict[str, Any]]] = {0: {"stratified": False, "start_shift": (0.0, 0.0)}, 1: {"stratified": True}}
    balance_cues: ClassVar[tuple[str, ...]] = ("surface", "asked")

    def _sample_scene(self) -> Scene:
        return self._propose()


    def question_program(self, values: dict[str, Any]) -> Program:
        return self._push_program(values.get("strength", 4), {"op": "off", "of": the("cube"), "surface": fixture("mat")})


# -- the basket --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasketMoveConfig(YesNoConfig):
    """Options of BasketMove: Catch's flights and basket (see ``CatchConfig``).

    Attributes:
        basket_spread: The basket starts within +-this (m) of the ball's landing point.
        sim_seconds: Simulated time after the move, long enough for every flight to land.
    """

    control_period: float = CatchConfig.control_period
    basket_step: float = CatchConfig.basket_step
    arena_half_width: float = CatchConfig.arena_half_width
    start_height: tuple[float, float] = CatchConfig.start_height
    launch_speed_x: tuple[float, float] = CatchConfig.launch_speed_x
    launch_speed_z: tuple[float, float] = CatchConfig.launch_speed_z
    drop_probability: float = CatchConfig.drop_probability
    reachability: float = CatchConfig.reachability
    min_start_offset: float = CatchConfig.min_start_offset
    ball_colours: tuple[str, ...] = CatchConfig.ball_colours
    basket_spread: float = 2 * BASKET_INNER_HALF_WIDTH
    sim_seconds: float = 1.5

    def validate(self) -> None:
        super().validate()
        check_float("basket_spread", self.basket_spread, 0.0, 0.3)
        check_float("sim_seconds", self.sim_seconds, 0.1, 60.0)
        CatchConfig(**{f: getattr(self, f) for f in ("control_period", "basket_step", "arena_half_width", "start_height", "launch_speed_x",
                                                     "launch_speed_z", "drop_probability", "reachability", "min_start_offset", "ball_colours")})


class BasketMoveEnv(YesNoTaskEnv):
    """## Description
    Catch's flight, the basket near the landing point; the question names one move: "If the basket
    moves <left/right> once, will the ball miss it?" The basket glides one step during the first
    control period and then stays; the rollout runs until the ball has landed.

    ## Program
    ``yes_no(do=move(fixture(basket), <direction>), ask=lands_outside(ball, basket), horizon=1.5)``.

    ## Version history
    - v1: the answers are balanced within every stratum of the ball's start and the direction asked about
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "BasketMove"
    balance_cues: ClassVar[tuple[str, ...]] = ("ball-start", "asked")
    config_class: ClassVar[type[TaskConfig]] = BasketMoveConfig

    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(basket_step=self.config.basket_step, arena_half_width=self.config.arena_half_width)

    def _place(self, landing_x: float, reach: float, sides: list[float]) -> float:
        half, spread = self.config.arena_half_width, self.config.basket_spread
        return float(np.clip(landing_x + self.np_random.uniform(-spread, spread), -half, half))

    def _sample_scene(self) -> Scene:
        scene, _ = sample_flight_scene(self.task_name, self.np_random, self.config, self._place)
        scene["meta"]["ask"] = {"direction": str(self.np_random.choice(("left", "right")))}
        return scene

    def _propose(self) -> Scene:
        return self._sample_scene()

    def simulate(self, start: Scene, seconds: float | None = None, record: bool = False, early_stop: bool = False) -> Scene:
        return simulate_with_glide(self, start, self.config.control_period, seconds, record, early_stop)

    def question_program(self, values: dict[str, Any]) -> Program:
        ball, basket = the("ball"), fixture("basket")
        do = {"op": "move", "target": basket, "direction": values.get("direction", "left")}
        return {"head": "yes_no", "do": do, "ask": {"op": "lands_outside", "of": ball, "region": basket}, "horizon": self.config.sim_seconds}
