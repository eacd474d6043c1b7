"""Push: how hard to push a block so it stops in the target zone?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from physground.envs.base import PhysicsTaskEnv, TaskConfig, check_choices, check_float, parse_integer_answer
from physground.envs.executor import ExecutionContext
from physground.envs.programs import OPTION, Program, fixture, the
from physground.envs.scene import BLOCK_SIZE, COLOURS, SURFACES, Scene, find_object, make_cube, make_object, new_scene

MAT_LENGTH = 0.66
MAT_WIDTH = 0.16
MAT_THICKNESS = 0.01
BLOCK_START_X = -0.27
ZONE_COLOUR = "black"


@dataclass(frozen=True)
class PushConfig(TaskConfig):
    """Options of Push.

    Attributes:
        strengths: Initial speeds (m/s) of the push strengths 1, 2, ... (at least 5, increasing).
        zone_length: Length of the target zone along the push (m).
        surfaces: Mat surfaces drawn from; the colour signals sliding friction.
        sim_seconds: Simulated time after the push.
        min_travel: The zone's centre is at least this far from the block's start (m).
        reward_in_zone: Reward when the block's centre stops inside the zone.
        distance_scale: Outside the zone the reward is -min(1, distance / distance_scale), with
            the distance from the block's centre to the zone in m.
        block_colours: Palette colours of the block.
    """

    strengths: tuple[float, ...] = (0.45, 0.59, 0.79, 1.04, 1.37, 1.82, 2.40)
    zone_length: float = 0.08
    surfaces: tuple[str, ...] = tuple(SURFACES)
    sim_seconds: float = 3.0
    min_travel: float = 0.08
    reward_in_zone: float = 1.0
    distance_scale: float = 2 * BLOCK_SIZE
    block_colours: tuple[str, ...] = tuple(COLOURS)

    def validate(self) -> None:
        if not isinstance(self.strengths, (tuple, list)) or len(self.strengths) < 5:
            raise ValueError(f"strengths must list at least 5 speeds, got {self.strengths!r}")
        for i, v in enumerate(self.strengths):
            check_float(f"strengths[{i}]", v, 0.01, 10.0)
        if any(b <= a for a, b in zip(self.strengths, self.strengths[1:])):
            raise ValueError(f"strengths must increase, got {self.strengths!r}")
        check_float("zone_length", self.zone_length, 0.01, 0.3)
        check_choices("surfaces", self.surfaces, SURFACES)
        check_float("sim_seconds", self.sim_seconds, 0.05, 60.0)
        check_float("min_travel", self.min_travel, 0.0, 0.5)
        check_float("reward_in_zone", self.reward_in_zone, -100.0, 100.0)
        check_float("distance_scale", self.distance_scale, 1e-3, 10.0)
        check_choices("block_colours", self.block_colours, COLOURS)


def zone_bounds(scene: Scene) -> tuple[float, float]:
    """(start, end) x of the target zone (m)."""
    zone = find_object(scene, "zone")
    return zone["position"][0] - zone["size"][0] / 2, zone["position"][0] + zone["size"][0] / 2


class PushEnv(PhysicsTaskEnv):
    """## Description
    A block rests at the left end of a mat; a dark target zone is marked further along it. The
    agent chooses how hard to push the block to the right: one of 7 strengths (initial speeds
    0.45-2.4 m/s). The mat's surface (ice, wood or carpet; the colour signals sliding friction
    0.08 / 0.3 / 0.6) decides how far the block slides. The zone is placed, by simulation, where
    one of the strengths stops the block, so every episode has a right answer.

    ## Observation
    ``{"image": (H, W, 3) uint8, "prompt": str}``

    ## Actions
    ``Discrete(len(strengths))``; ``action_names`` "1" (softest) ... "7" (hardest).

    ## Reward
    ``reward_in_zone`` (+1) when the block's centre stops inside the zone; otherwise
    ``-min(1, distance / distance_scale)`` with the distance to the zone (m). Components
    ``reward_in_zone``, ``reward_distance``, ``reward_invalid`` sum to the reward. One step.

    ## Ground truth
    ``info["scene"]`` (block, mat with surface, zone); at step ``info["events"]``:
    ``distance_to_target`` (m), ``in_zone``, ``final_x``, ``reached``, ``distance_to_goal``.
    ``env.unwrapped.best_action()``.

    ## Program
    ``choose(options=strengths 1..7, do=push(block, $option), goal=inside(block, fixture(zone)),
    distance=distance(block, fixture(zone)))``: a strength is the block's initial speed along +x.

    ## Version history
    - v0: first release.
    """

    task_name: ClassVar[str] = "Push"
    config_class: ClassVar[type[TaskConfig]] = PushConfig

    def _make_action_names(self) -> tuple[str, ...]:
        return tuple(str(k + 1) for k in range(len(self.config.strengths)))

    def parse_answer(self, text: str) -> int | None:
        return parse_integer_answer(text, list(range(1, len(self.config.strengths) + 1)))

    # -- the program ------------------------------------------------------------------------------

    def question_program(self, values: dict[str, Any]) -> Program:
        return strength_choice_program(len(self.config.strengths), self.config.sim_seconds)

    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(strengths=tuple(float(v) for v in self.config.strengths))

    def _format_values(self) -> dict[str, Any]:
        return {"max": len(self.config.strengths)}

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        data, v = self.world.data, self.world.velocity_index("cube0")
        # A block at rest on a flat mat stays at rest: the outcome is decided.
        return lambda: bool(np.abs(data.qvel[v : v + 3]).max() < 1e-3)

    def _reward_parts(self, events: dict[str, Any]) -> dict[str, float]:
        cfg = self.config
        if events["reached"]:
            return {"reward_in_zone": cfg.reward_in_zone, "reward_distance": 0.0}
        return {"reward_in_zone": 0.0, "reward_distance": -min(1.0, events["distance_to_goal"] / cfg.distance_scale)}

    # -- episode ------------------------------------------------------------------------------

    def _sample_scene(self) -> Scene:
        finals = lambda probe: [self.outcome(probe, a)[2]["final_x"] for a in range(len(self.config.strengths))]  # noqa: E731
        return sample_push_scene(self.task_name, self.np_random, self.config, finals)[0]

    def _propose(self) -> Scene:
        cfg, rng = self.config, self.np_random
        surface, colour = str(rng.choice(cfg.surfaces)), str(rng.choice(cfg.block_colours))
        centre = float(rng.uniform(BLOCK_START_X + cfg.min_travel, MAT_LENGTH / 2 - cfg.zone_length / 2))
        return new_scene(self.task_name, push_objects(surface, colour) + [zone_object(cfg.zone_length, centre)], {"surface": surface})

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        self._begin_episode(seed)
        self._scene = self._sample_scene()
        self._best: int | None = None
        self._phrase(self._scene)
        self.world.load(self._scene)
        return self._observation(), {"scene": self._scene, "program": self._program}

    def best_action(self) -> int:
        """The strength with the highest reward (simulating all); the softest on ties."""
        scene = self._require_reset()
        if self._best is None:
            rewards = [sum(self._reward_parts(self.outcome(scene, a)[2]).values()) for a in range(len(self.config.strengths))]
            self._best = int(np.argmax(rewards))
            self.world.load(scene)
        return self._best

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        scene = self._require_reset()
        index = self._action_index(action)
        self.frames = []
        if index is None:
            parts = {"reward_in_zone": 0.0, "reward_distance": 0.0, "reward_invalid": float(self.config.invalid_answer_reward)}
            end, events = scene, {}
            self.world.load(scene)
        else:
            _, end, events = self.outcome(scene, index, early_stop=False, record=self.record_frames)
            parts = {**self._reward_parts(events), "reward_invalid": 0.0}
        info = {"scene": end, "events": events, "program": self.program_copy(), "is_success": bool(events.get("reached", False)), "invalid_answer": index is None, **parts}
        return self._observation(), float(sum(parts.values())), True, False, info


def push_objects(surface: str, colour: str, start_x: float = BLOCK_START_X) -> list[dict[str, Any]]:
    """The mat (``surface``) and the block (``colour``) at its start (default: the mat's left end)."""
    return [
        make_object("mat", "box", (MAT_LENGTH, MAT_WIDTH, MAT_THICKNESS), (0.0, 0.0, MAT_THICKNESS / 2), material=surface, is_static=True),
        make_cube("cube0", colour, (start_x, 0.0, MAT_THICKNESS + BLOCK_SIZE / 2)),
    ]


def zone_object(length: float, centre_x: float) -> dict[str, Any]:
    """The dark target zone, ``length`` long, centred at ``centre_x``."""
    size = (length, MAT_WIDTH - 0.02, 0.0016)
    return make_object("zone", "zone", size, (centre_x, 0.0, MAT_THICKNESS + 0.0008), colour=ZONE_COLOUR, material="paint", is_static=True)


def sample_push_scene(task: str, rng: np.random.Generator, cfg: PushConfig, finals_of: Callable[[Scene], list[float]]) -> tuple[Scene, int]:
    """A Push scene whose zone is placed, by simulation, where one strength stops the block.

    Args:
        task: Task name recorded in the scene.
        rng: The env's generator.
        cfg: Push's options (strengths, surfaces, zone length, ...).
        finals_of: Simulates every strength from a probe scene: the block's final x each.

    Returns:
        (scene, the strength index whose stop the zone is centred on).
    """
    mat_end = MAT_LENGTH / 2
    while True:
        surface = str(rng.choice(cfg.surfaces))
        colour = str(rng.choice(cfg.block_colours))
        objects = push_objects(surface, colour)
        probe = new_scene(task, objects + [zone_object(cfg.zone_length, 0.0)], {"surface": surface})
        finals = finals_of(probe)
        feasible = [a for a, x in enumerate(finals) if BLOCK_START_X + cfg.min_travel <= x <= mat_end - cfg.zone_length / 2]
        if feasible:
            break
    target = int(rng.choice(feasible))
    centre = finals[target] + float(rng.uniform(-0.3, 0.3)) * cfg.zone_length
    return new_scene(task, objects + [zone_object(cfg.zone_length, centre)], {"surface": surface}), target


def strength_choice_program(n_strengths: int, horizon: float) -> Program:
    """Push's question: which of the strengths 1..n stops the block in the zone (and how far off)."""
    block, zone = the("cube"), fixture("zone")
    return {
        "head": "choose", "options": {"kind": "strengths", "values": list(range(1, n_strengths + 1))},
        "do": {"op": "push", "target": block, "strength": OPTION}, "goal": {"op": "inside", "of": block, "region": zone},
        "distance": {"op": "distance", "of": block, "region": zone}, "horizon": horizon,
    }
