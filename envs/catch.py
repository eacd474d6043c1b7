"""Catch: move a basket left, right or not at all to catch a falling ball."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from physground.envs.base import FRAME_PERIOD, PhysicsTaskEnv, TaskConfig, check_choices, check_float, check_range, parse_word_answer
from physground.envs.executor import ExecutionContext
from physground.envs.programs import DIRECTIONS, OPTION, Program, fixture, the
from physground.envs.scene import (
    BALL_RADIUS,
    BASKET_INNER_HALF_WIDTH,
    BASKET_RIM_HEIGHT,
    BASKET_SIZE,
    COLOURS,
    TIMESTEP,
    Scene,
    copy_scene,
    find_object,
    make_ball,
    make_object,
    new_scene,
)

GRAVITY = 9.81
LEFT, STAY, RIGHT = 0, 1, 2


@dataclass(frozen=True)
class CatchConfig(TaskConfig):
    """Options of Catch.

    Attributes:
        control_period: Simulated seconds per step (a multiple of the physics step).
        basket_step: How far one "left"/"right" moves the basket (m).
        arena_half_width: The basket stays within [-arena_half_width, +arena_half_width] (m).
        start_height: (min, max) height of the ball's centre at the start (m).
        launch_speed_x: (min, max) |horizontal| launch speed (m/s); the sign is drawn.
        launch_speed_z: (min, max) upward launch speed (m/s).
        drop_probability: Chance the ball is simply dropped from rest.
        reachability: The basket starts at most this fraction of the distance it can travel
            before the ball lands away from the landing point (so every episode is solvable).
        min_start_offset: ... and at least this far (m), so staying put does not catch it.
        reward_catch: Reward when the ball comes to rest in the basket.
        reward_miss: Reward when it lands anywhere else.
        invalid_answer_reward: Penalty for unparseable text (the basket then stays).
        ball_colours: Palette colours of the ball.
    """

    control_period: float = 0.04
    basket_step: float = 0.025
    arena_half_width: float = 0.28
    start_height: tuple[float, float] = (0.22, 0.42)
    launch_speed_x: tuple[float, float] = (0.0, 0.45)
    launch_speed_z: tuple[float, float] = (0.0, 1.4)
    drop_probability: float = 0.25
    reachability: float = 0.8
    min_start_offset: float = 0.07
    reward_catch: float = 1.0
    reward_miss: float = -1.0
    invalid_answer_reward: float = -0.1
    ball_colours: tuple[str, ...] = tuple(COLOURS)

    def validate(self) -> None:
        check_float("control_period", self.control_period, TIMESTEP, 1.0)
        if abs(self.control_period / TIMESTEP - round(self.control_period / TIMESTEP)) > 1e-6:
            raise ValueError(f"control_period must be a multiple of {TIMESTEP} s, got {self.control_period!r}")
        check_float("basket_step", self.basket_step, 0.001, 0.2)
        check_float("arena_half_width", self.arena_half_width, 0.1, 0.34)
        check_range("start_height", self.start_height, 0.12, 0.5)
        check_range("launch_speed_x", self.launch_speed_x, 0.0, 2.0)
        check_range("launch_speed_z", self.launch_speed_z, 0.0, 3.0)
        check_float("drop_probability", self.drop_probability, 0.0, 1.0)
        check_float("reachability", self.reachability, 0.0, 1.0)
        check_float("min_start_offset", self.min_start_offset, 0.0, 0.3)
        check_float("reward_catch", self.reward_catch, -100.0, 100.0)
        check_float("reward_miss", self.reward_miss, -100.0, 100.0)
        check_choices("ball_colours", self.ball_colours, COLOURS)


def ballistic_position(position: np.ndarray, velocity: np.ndarray, t: float) -> np.ndarray:
    """Centre of a ball in free flight ``t`` seconds later (negative: earlier), shape (3,)."""
    return position + velocity * t + np.array([0.0, 0.0, -0.5 * GRAVITY * t * t])


class CatchEnv(PhysicsTaskEnv):
    """## Description
    A ball is dropped, or launched up and sideways, above the table; a basket sits on the table.
    Each step (0.04 s of simulated time) the agent moves the basket left, right, or keeps it still.
    Two translucent "ghost" balls show where the ball was one and two steps ago, so its motion is
    visible in a single still image. The basket starts within reach of the landing point.

    ## Observation
    ``{"image": (H, W, 3) uint8, "prompt": "Move the basket to catch the ball: left, stay or right?"}``

    ## Actions
    ``Discrete(3)``: 0 = "left", 1 = "stay", 2 = "right" (``basket_step`` m per step).

    ## Reward
    ``reward_catch`` (+1) when the ball is inside the basket below its rim, ``reward_miss`` (-1)
    when it touches the table elsewhere or leaves the arena, 0 otherwise;
    ``invalid_answer_reward`` (-0.1) for unparseable text (the basket stays). Components
    ``reward_catch``, ``reward_miss``, ``reward_invalid`` sum to the reward.

    ## Termination
    On a catch or a miss; ``max_episode_steps`` (40) truncates.

    ## Ground truth
    ``info["scene"]`` (ball and basket), ``info["events"]``; ``info["landing_x"]`` at reset: where
    the ball first reaches table height in free flight (m).

    ## Program
    ``choose(options=moves left/stay/right, do=move(fixture(basket), $option), goal=inside(ball,
    basket), failure=lands_outside(ball, basket), distance=distance(ball, basket), horizon=0.04)``:
    one control period; the basket glides to its new place during it.

    ## Version history
    - v0: first release.
    """

    task_name: ClassVar[str] = "Catch"
    one_step: ClassVar[bool] = False
    config_class: ClassVar[type[TaskConfig]] = CatchConfig

    def _make_action_names(self) -> tuple[str, ...]:
        return ("left", "stay", "right")

    def parse_answer(self, text: str) -> int | None:
        """"left"/"stay"/"right" (also "move left", "go right", "stop", "still", "none")."""
        words = {"left": LEFT, "right": RIGHT, "stay": STAY, "stop": STAY, "still": STAY, "none": STAY}
        return parse_word_answer(text, words)

    # -- the program ------------------------------------------------------------------------------

    def question_program(self, values: dict[str, Any]) -> Program:
        return move_program(self.config.control_period, OPTION)

    def execution_context(self) -> ExecutionContext:
        return ExecutionContext(basket_step=self.config.basket_step, arena_half_width=self.config.arena_half_width)

    def simulate(self, start: Scene, seconds: float | None = None, record: bool = False, early_stop: bool = False) -> Scene:
        """As ``PhysicsTaskEnv.simulate`` (one control period by default); a basket the program
        moved (``meta["moved_from"]``) glides there during the first control period, as in
        ``step``, instead of jumping."""
        return simulate_with_glide(self, start, self.config.control_period, seconds, record, early_stop)

    # -- episode ------------------------------------------------------------------------------

    def _sample_scene(self) -> tuple[Scene, float]:
        return sample_flight_scene(self.task_name, self.np_random, self.config, self._place_basket)

    def _place_basket(self, landing_x: float, reach: float, sides: list[float]) -> float:
        """Where the basket starts: within reach of the landing point, on one of ``sides``, at
        least ``min_start_offset`` away (so staying put does not catch the ball)."""
        cfg, rng = self.config, self.np_random
        side = float(rng.choice(sides))
        far = min(reach, cfg.arena_half_width - side * landing_x)
        return float(landing_x + side * rng.uniform(cfg.min_start_offset, max(far, cfg.min_start_offset)))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        self._begin_episode(seed)
        scene, landing_x = self._sample_scene()
        self._phrase(scene)
        self.world.load(scene)
        self._scene = scene
        self._history = [scene["meta"]["trail"][1], scene["meta"]["trail"][0]]
        if self.record_frames:
            self.frames.append(self.world.render())
        return self._observation(), {"scene": scene, "landing_x": landing_x, "program": self._program}

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        scene = self._require_reset()
        cfg = self.config
        index = self._action_index(action)
        parts = dict.fromkeys(("reward_catch", "reward_miss", "reward_invalid"), 0.0)
        invalid = index is None
        if invalid:
            parts["reward_invalid"] = cfg.invalid_answer_reward
            index = STAY
        world = self.world
        start_x = find_object(scene, "basket")["position"][0]
        target_x = find_object(self.counterfactual(scene, index), "basket")["position"][0]
        ball_before = world.positions(["ball0"])[0].tolist()
        glide_basket(world, start_x, target_x, int(round(cfg.control_period / TIMESTEP)))
        self._history = [self._history[-1], ball_before]
        end = world.read(scene)
        end["meta"]["trail"] = [self._history[-1], self._history[-2]]
        world.set_trail(end["meta"]["trail"])
        events = self.events(scene, end)
        if events["reached"]:
            parts["reward_catch"] = cfg.reward_catch
        elif events["failed"]:
            parts["reward_miss"] = cfg.reward_miss
        self._scene = end
        if self.record_frames:
            self.frames.append(world.render())
        info = {"scene": end, "events": events, "program": self.program_copy(), "is_success": events["reached"], "invalid_answer": invalid, **parts}
        terminated = events["reached"] or events["failed"]
        return self._observation(), float(sum(parts.values())), terminated, False, info

    def _propose(self) -> Scene:
        return self._sample_scene()[0]


def glide_basket(world: Any, start_x: float, target_x: float, substeps: int) -> None:
    """Move the basket from ``start_x`` to ``target_x`` over ``substeps`` physics steps, so that it
    pushes the ball physically rather than jumping through it."""
    for k in range(1, substeps + 1):
        world.set_basket((start_x + (target_x - start_x) * k / substeps, 0.0, 0.0))
        world.step(1)


def move_program(horizon: float, direction: str) -> Program:
    """Move the basket (``direction``: left, stay, right or ``"$option"``); does the ball land in it?"""
    ball, basket = the("ball"), fixture("basket")
    program: Program = {
        "head": "choose", "options": {"kind": "moves", "values": list(DIRECTIONS)}, "do": {"op": "move", "target": basket, "direction": direction},
        "goal": {"op": "inside", "of": ball, "region": basket}, "failure": {"op": "lands_outside", "of": ball, "region": basket},
        "distance": {"op": "distance", "of": ball, "region": basket}, "horizon": horizon,
    }
    return program


def sample_flight_scene(task: str, rng: np.random.Generator, cfg: CatchConfig, place_basket: Callable[[float, float, list[float]], float]) -> tuple[Scene, float]:
    """A ball dropped or launched above the table, and the basket where ``place_basket(landing_x,
    reach, sides)`` puts it: (scene, landing x of the ball at rim height in free flight)."""
    half = cfg.arena_half_width
    while True:
        pos = np.array([rng.uniform(-half + 0.03, half - 0.03), 0.0, rng.uniform(*cfg.start_height)])
        if rng.random() < cfg.drop_probability:
            vel = np.zeros(3)
        else:
            vel = np.array([rng.choice((-1.0, 1.0)) * rng.uniform(*cfg.launch_speed_x), 0.0, rng.uniform(*cfg.launch_speed_z)])
        # Free flight until the ball's bottom reaches the basket rim: z(t) = BALL_RADIUS + rim.
        drop = pos[2] - (BALL_RADIUS + BASKET_RIM_HEIGHT)
        t_land = (vel[2] + np.sqrt(vel[2] ** 2 + 2 * GRAVITY * drop)) / GRAVITY
        landing_x = float(pos[0] + vel[0] * t_land)
        steps_available = max(0, int(t_land / cfg.control_period) - 1)
        reach = cfg.reachability * steps_available * cfg.basket_step
        # Start positions within reach, at least min_start_offset away, inside the arena.
        sides = [s for s in (-1.0, 1.0) if abs(landing_x + s * cfg.min_start_offset) <= half]
        if abs(landing_x) <= half - BASKET_INNER_HALF_WIDTH / 2 and reach > cfg.min_start_offset + 0.005 and sides:
            break
    basket_x = place_basket(landing_x, reach, sides)
    colour = str(rng.choice(cfg.ball_colours))
    objects = [
        make_ball("ball0", colour, pos, linear_velocity=vel),
        make_object("basket", "basket", BASKET_SIZE, (basket_x, 0.0, 0.0), colour=None, material="wood", is_static=True),
    ]
    trail = [ballistic_position(pos, vel, -k * cfg.control_period).tolist() for k in (1, 2)]
    return new_scene(task, objects, {"trail": trail, "landing_x": landing_x}), landing_x


def simulate_with_glide(env: PhysicsTaskEnv, start: Scene, control_period: float, seconds: float | None, record: bool, early_stop: bool) -> Scene:
    """``env.simulate`` for scenes with a moved basket: it starts where it was
    (``meta["moved_from"]``) and glides to its place during the first control period, then the
    rollout goes on for the rest of ``seconds`` (default: one control period)."""
    moved = start.get("meta", {}).get("moved_from")
    seconds = control_period if seconds is None else seconds
    if moved is None:
        return PhysicsTaskEnv.simulate(env, start, seconds, record, early_stop)
    origin = copy_scene(start)
    find_object(origin, "basket")["position"][0] = moved["x"]
    env.world.load(origin)
    if record:
        env.frames.append(env.world.render())
    glide_basket(env.world, moved["x"], find_object(start, "basket")["position"][0], int(round(min(seconds, control_period) / TIMESTEP)))
    remaining = int(round(max(0.0, seconds - control_period) / TIMESTEP))
    chunk = int(round(FRAME_PERIOD / TIMESTEP))
    while remaining > 0:
        n = min(chunk, remaining) if record else remaining
        env.world.step(n)
        remaining -= n
        if record:
            env.frames.append(env.world.render())
    return env.world.read(start)
