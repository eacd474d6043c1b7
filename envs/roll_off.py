"""RollOff: will the ball fall off the platform?"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from physground.envs.base import TaskConfig, YesNoConfig, YesNoTaskEnv, check_choices, check_float, check_range
from physground.envs.programs import Program, fixture, the
from physground.envs.scene import BALL_RADIUS, COLOURS, SURFACES, Scene, find_object, make_ball, make_object, new_scene, quat_from_axis_angle

PLATFORM_HEIGHT = 0.06
"""Height of the platform's top above the table (m)."""
PLATFORM_WIDTH = 0.12
RAMP_RUN = 0.14
"""Horizontal length of the ramp (m)."""
RAMP_THICKNESS = 0.012
RAMP_TOP_X = -0.30
"""x of the ramp's upper end (m); the platform starts at RAMP_TOP_X + RAMP_RUN."""


@dataclass(frozen=True)
class RollOffConfig(YesNoConfig):
    """Options of RollOff.

    Attributes:
        ramp_height: (min, max) height of the ramp's top above the platform (m).
        platform_length: (min, max) length of the platform (m).
        surfaces: Platform surfaces drawn from; their colour signals rolling resistance.
        sim_seconds: Simulated time in which leaving the platform counts.
        ball_colours: Palette colours of the ball.
    """

    ramp_height: tuple[float, float] = (0.02, 0.08)
    platform_length: tuple[float, float] = (0.12, 0.42)
    surfaces: tuple[str, ...] = tuple(SURFACES)
    sim_seconds: float = 4.0
    ball_colours: tuple[str, ...] = tuple(COLOURS)

    def validate(self) -> None:
        super().validate()
        check_range("ramp_height", self.ramp_height, 0.005, 0.12)
        check_range("platform_length", self.platform_length, 0.05, 0.5)
        check_choices("surfaces", self.surfaces, SURFACES)
        check_float("sim_seconds", self.sim_seconds, 0.05, 60.0)
        check_choices("ball_colours", self.ball_colours, COLOURS)


def platform_top(scene: Scene) -> float:
    """z of the platform's top surface (m)."""
    platform = find_object(scene, "platform")
    return platform["position"][2] + platform["size"][2] / 2


def platform_end(scene: Scene) -> float:
    """x of the platform's far end (m)."""
    platform = find_object(scene, "platform")
    return platform["position"][0] + platform["size"][0] / 2


class RollOffEnv(YesNoTaskEnv):
    """## Description
    A ball rests at the top of a ramp that leads down onto a raised platform. Ramp height (0.02-0.08
    m), platform length (0.12-0.42 m) and platform surface (ice, wood or carpet: the colour tells
    how strongly it slows a rolling ball) vary, all visible in one still image. The question:
    "Will the ball fall off the platform?" The answer comes from simulating the released ball for
    4 s: it fell off if its centre drops below the platform's top or passes its far end.

    ## Observation
    ``{"image": (H, W, 3) uint8, "prompt": str}``

    ## Actions
    ``Discrete(2)``: 0 = "yes", 1 = "no". ``step`` also takes free text.

    ## Reward
    ``reward_correct`` (1) / ``reward_wrong`` (0) / ``invalid_answer_reward`` (-1). One step.

    ## Ground truth
    ``info["scene"]`` (ball, ramp, ramp support and platform with sizes, poses, surface); at step
    ``info["events"]``: ``left_surface``, ``final_x`` (final ball x, m), ``travelled_on_surface``
    (m). Balanced 50/50 by resampling.

    ## Program
    ``yes_no(do=none, ask=off(unique(filter(objects, shape=ball)), fixture(platform)))``: the ball
    is released as it is; it left the platform if its centre ends below the platform's top or past
    its far end.

    ## Version history
    - v1: the answers are balanced within every stratum of the platform surface and the ball's start (the ramp height)
      (``balance_cues``, ``envs.cues``): no function of those cues predicts the answer.
    - v0: first release; answers balanced overall only (still registered, ``stratified=False``).
    """

    task_name: ClassVar[str] = "RollOff"
    balance_cues: ClassVar[tuple[str, ...]] = ("surface", "ball-start")
    config_class: ClassVar[type[TaskConfig]] = RollOffConfig
    sim_seconds_default: ClassVar[float] = 4.0

    def _sample_scene(self) -> Scene:
        cfg, rng = self.config, self.np_random
        height = float(rng.uniform(*cfg.ramp_height))
        length = float(rng.uniform(*cfg.platform_length))
        surface = str(rng.choice(cfg.surfaces))
        colour = str(rng.choice(cfg.ball_colours))
        return build_roll_off_scene(self.task_name, height, length, surface, colour)

    def question_program(self, values: dict[str, Any]) -> Program:
        ask = {"op": "off", "of": the("ball"), "surface": fixture("platform")}
        return {"head": "yes_no", "do": {"op": "none"}, "ask": ask, "horizon": self.config.sim_seconds}

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        top, end = platform_top(start), platform_end(start)
        join_x = end - start["meta"]["platform_length"]
        data = self.world.data
        (qx, _, qz), vx = self.world.position_index(["ball0"])[0], self.world.velocity_index("ball0")

        def settled() -> bool:
            x, z = data.qpos[qx], data.qpos[qz]
            if z < top or x > end + BALL_RADIUS:
                return True
            # At rest on the flat platform, a ball stays at rest: the outcome is decided.
            return bool(x > join_x and np.abs(data.qvel[vx : vx + 3]).max() < 1e-3)

        return settled

    def _propose(self) -> Scene:
        return self._sample_scene()


def build_roll_off_scene(task: str, ramp_height: float, platform_length: float, surface: str, ball_colour: str) -> Scene:
    """The RollOff layout: support, ramp (wood), platform (``surface``) and the ball at the top.

    Args:
        task: Task name recorded in the scene.
        ramp_height: Height of the ramp's top above the platform (m).
        platform_length: Platform length (m).
        surface: Platform surface (a key of ``SURFACES``).
        ball_colour: Palette colour of the ball.
    """
    join_x = RAMP_TOP_X + RAMP_RUN
    angle = math.atan2(ramp_height, RAMP_RUN)
    slope_len = math.hypot(RAMP_RUN, ramp_height)
    # The ramp's top face runs from (RAMP_TOP_X, H + h) down to (join_x, H); its box hangs below.
    normal = np.array([math.sin(angle), 0.0, math.cos(angle)])
    face_mid = np.array([(RAMP_TOP_X + join_x) / 2, 0.0, PLATFORM_HEIGHT + ramp_height / 2])
    ramp_centre = face_mid - normal * RAMP_THICKNESS / 2
    ramp_quat = quat_from_axis_angle((0.0, 1.0, 0.0), angle)
    # The support's top meets the ramp's underside at the support's far edge, never poking through.
    support_width = 0.03
    support_h = PLATFORM_HEIGHT + ramp_height - support_width * math.tan(angle) - RAMP_THICKNESS / math.cos(angle) - 0.001
    down_slope = np.array([math.cos(angle), 0.0, -math.sin(angle)])
    ball_pos = np.array([RAMP_TOP_X, 0.0, PLATFORM_HEIGHT + ramp_height]) + down_slope * 0.03 + normal * BALL_RADIUS
    objects = [
        make_object("ramp_support", "box", (support_width, PLATFORM_WIDTH, support_h), (RAMP_TOP_X + support_width / 2, 0.0, support_h / 2), material="wood", is_static=True),
        make_object("ramp", "box", (slope_len + 0.004, PLATFORM_WIDTH, RAMP_THICKNESS), ramp_centre, orientation=ramp_quat, material="wood", is_static=True),
        make_object(
            "platform", "box", (platform_length, PLATFORM_WIDTH, PLATFORM_HEIGHT), (join_x + platform_length / 2, 0.0, PLATFORM_HEIGHT / 2), material=surface, is_static=True
        ),
        make_ball("ball0", ball_colour, ball_pos),
    ]
    meta = {"ramp_height": ramp_height, "platform_length": platform_length, "surface": surface, "question": "ball_left_platform"}
    return new_scene(task, objects, meta)
