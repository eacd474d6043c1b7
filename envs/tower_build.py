"""TowerBuild: where should the red block be dropped to make the tower taller?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from physground.envs.base import PhysicsTaskEnv, TaskConfig, check_choices, check_float, check_int, parse_integer_answer
from physground.envs.executor import ExecutionContext
from physground.envs.programs import OPTION, Program, coloured, position_word, tower
from physground.envs.scene import BLOCK_SIZE, COLOURS, Scene, find_object, make_cube, new_scene
from physground.envs.towers import distinct_colours, fall_stop_condition, sample_tower, static_margin, tower_fall_events, tower_ids

PLACED_COLOUR = "red"
OUTCOMES = ("success", "miss", "collapse")


@dataclass(frozen=True)
class TowerBuildConfig(TaskConfig):
    """Options of TowerBuild.

    Attributes:
        min_blocks: Fewest blocks in the standing tower.
        max_blocks: Most blocks in the standing tower.
        max_offset: Largest x offset between neighbouring tower blocks, in block sizes.
        lean_probability: Chance that the tower leans one way (all offsets of one sign), putting
            its top up to about a block from its base.
        n_offsets: Number of release positions (odd, >= 9): a grid fixed on the table.
        offset_range: The grid spans [-offset_range, +offset_range] block sizes around the table's
            centre line (x = 0).
        base_range: The bottom block's centre x is drawn from [-base_range, +base_range] block
            sizes, so where to release depends on where the tower stands.
        drop_gap: Gap between the tower top and the released block's bottom, in block sizes.
        fall_threshold: A tower block has fallen when it moved more than this many block sizes.
        sim_seconds: Simulated time after the release.
        attempts: Tries per episode; after a failed try the observation shows its result and the
            tower is rebuilt as it was for the next try.
        ensure_solvable: Only keep towers for which some release position succeeds (checked by
            simulation, nearest-to-the-top positions first).
        reward_success: Tower taller and standing.
        reward_miss: Block lands elsewhere and the tower stands (paid when the episode ends on it).
        reward_collapse: A tower block fell.
        colours: Palette colours of the tower blocks (never red).
    """

    min_blocks: int = 1
    max_blocks: int = 4
    max_offset: float = 0.45
    lean_probability: float = 0.5
    n_offsets: int = 9
    offset_range: float = 2.0
    base_range: float = 1.2
    drop_gap: float = 0.25
    fall_threshold: float = 0.5
    sim_seconds: float = 3.0
    attempts: int = 1
    ensure_solvable: bool = True
    reward_success: float = 1.0
    reward_miss: float = 0.1
    reward_collapse: float = -0.5
    invalid_answer_reward: float = -1.0
    colours: tuple[str, ...] = tuple(c for c in COLOURS if c != PLACED_COLOUR)

    def validate(self) -> None:
        check_drop_scene_fields(self)
        check_int("attempts", self.attempts, 1, 10)
        for name in ("reward_success", "reward_miss", "reward_collapse"):
            check_float(name, getattr(self, name), -100.0, 100.0)
        if not self.invalid_answer_reward < min(self.reward_collapse, self.reward_miss) <= self.reward_success:
            raise ValueError("rewards must order invalid_answer_reward < collapse/miss <= success")


def check_drop_scene_fields(cfg: Any) -> None:
    """Check the tower, release-grid and timing fields that TowerBuild shares with the composed
    drop tasks; raise ``ValueError`` naming the bad field."""
    check_int("min_blocks", cfg.min_blocks, 1, cfg.scene.max_blocks - 1)
    check_int("max_blocks", cfg.max_blocks, cfg.min_blocks, cfg.scene.max_blocks - 1)
    check_float("max_offset", cfg.max_offset, 0.0, 1.0)
    check_float("lean_probability", cfg.lean_probability, 0.0, 1.0)
    check_int("n_offsets", cfg.n_offsets, 9, 41)
    if cfg.n_offsets % 2 == 0:
        raise ValueError(f"n_offsets must be odd (a grid centred on the tower), got {cfg.n_offsets}")
    check_float("offset_range", cfg.offset_range, 0.1, 4.0)
    check_float("base_range", cfg.base_range, 0.0, 3.0)
    check_float("drop_gap", cfg.drop_gap, 0.0, 3.0)
    check_float("fall_threshold", cfg.fall_threshold, 0.01, 10.0)
    check_float("sim_seconds", cfg.sim_seconds, 0.05, 60.0)
    check_choices("colours", cfg.colours, COLOURS)
    if PLACED_COLOUR in cfg.colours:
        raise ValueError(f"colours must not contain {PLACED_COLOUR!r}: it marks the block to place")
    if len(set(cfg.colours)) < cfg.max_blocks:
        raise ValueError(f"colours must offer at least max_blocks={cfg.max_blocks} distinct colours")


class ReleaseGrid:
    """The release grid of the drop tasks (TowerBuild and the composed ones): positions fixed on
    the table, their x, and the constants that give a program's positions their metres. Mixed into
    a ``PhysicsTaskEnv`` whose config has TowerBuildConfig's grid fields."""

    config: Any

    @property
    def offsets(self) -> np.ndarray:
        """Release positions' x on the table (m), shape (n_offsets,)."""
        return np.linspace(-self.config.offset_range, self.config.offset_range, self.config.n_offsets) * BLOCK_SIZE

    def execution_context(self) -> ExecutionContext:
        cfg = self.config
        return ExecutionContext(fall_threshold=cfg.fall_threshold, grid=tuple(float(x) for x in self.offsets), drop_gap=cfg.drop_gap)

    def _format_values(self) -> dict[str, Any]:
        half = self.config.n_offsets // 2
        return {"low": -half, "high": half}


class ReleasePositionAnswers(ReleaseGrid):
    """Answers that are release positions: the action names "-4" ... "+4" and reading them."""

    def _make_action_names(self) -> tuple[str, ...]:
        half = self.config.n_offsets // 2
        return tuple(position_word(k) for k in range(-half, half + 1))

    def parse_answer(self, text: str) -> int | None:
        half = self.config.n_offsets // 2
        return parse_integer_answer(text, list(range(-half, half + 1)))


class TowerBuildEnv(ReleasePositionAnswers, PhysicsTaskEnv):
    """## Description
    The interactive task of arXiv 2602.06033. A standing tower of 1-4 blocks and a red block lying
    beside it. The agent chooses where to release the red block: one of ``n_offsets`` (9)
    horizontal positions on a grid fixed on the table, from 2 block sizes left to 2 block sizes
    right of its centre line (the tower stands anywhere within 1.2 block sizes of it), at a fixed height above the tower top. The release is simulated in MuJoCo.

    ## Observation
    ``{"image": (H, W, 3) uint8, "prompt": str}``. With ``attempts > 1``, after a failed try the
    image shows how it ended and the prompt says what happened.

    ## Actions
    ``Discrete(n_offsets)``; ``action_names`` are the signed grid indices "-4" ... "+4" (half a
    block size apart with the defaults). ``parse_answer`` reads the first integer in free text.

    ## Reward
    ``reward_success`` (+1) when the red block rests on top and the tower stands (taller);
    ``reward_miss`` (+0.1) when it lands elsewhere and the tower stands (paid only when the episode
    ends on it, so missing on purpose never pays in the multi-try variant); ``reward_collapse``
    (-0.5) when a tower block falls; ``invalid_answer_reward`` (-1) for unparseable text.
    Components ``reward_success``, ``reward_miss``, ``reward_collapse``, ``reward_invalid`` in
    ``info`` sum to the reward.

    ## Termination
    On success, or when all ``attempts`` are used.

    ## Ground truth
    ``info["scene"]``; at step ``info["events"]`` (``outcome``, ``reached``, ``failed``, ``any_fell``, ``placed_on_top``,
    ``landed_on_table``, ``height_before``/``height_after`` in m). ``env.unwrapped.best_action()``
    simulates every position and returns the best (the SFT target).

    ## Program
    ``choose(options=positions -4..+4, do=drop(red, $option, above=top(tower)), goal=on_top(red,
    tower), failure=fell(tower))`` where ``red = unique(filter(objects, colour=red))`` and
    ``tower = tower(except(cubes, red))``: the red block is released at rest at the grid
    position, ``drop_gap`` above the tower top.

    ## Version history
    - v0: first release.
    """

    task_name: ClassVar[str] = "TowerBuild"
    config_class: ClassVar[type[TaskConfig]] = TowerBuildConfig

    # -- scenes -------------------------------------------------------------------------------

    def _propose_scene(self) -> Scene:
        return propose_build_scene(self.task_name, self.np_random, self.config)

    def _sample_scene(self) -> Scene:
        for _ in range(1000):
            scene = self._propose_scene()
            end = self.simulate(scene, early_stop=True)
            if tower_fall_events(scene, end, tower_ids(scene), self.config.fall_threshold)["any_fell"]:
                continue  # the tower must stand before anything is dropped on it
            if not self.config.ensure_solvable or self._first_success(scene) is not None:
                return scene
        raise RuntimeError("TowerBuild: no standing, solvable tower in 1000 draws")

    def _first_success(self, scene: Scene) -> int | None:
        top_x = find_object(scene, tower_ids(scene)[-1])["position"][0]
        for action in np.argsort(np.abs(self.offsets - top_x), kind="stable"):
            if self.outcome_name(self.outcome(scene, int(action))[2]) == "success":
                return int(action)
        return None

    # -- the program ------------------------------------------------------------------------------

    def question_program(self, values: dict[str, Any]) -> Program:
        red = coloured(PLACED_COLOUR)
        rest = tower(without=red)
        half = self.config.n_offsets // 2
        return {
            "head": "choose", "options": {"kind": "positions", "values": list(range(-half, half + 1))},
            "do": {"op": "drop", "target": red, "position": OPTION, "above": {"op": "top", "of": rest}},
            "goal": {"op": "on_top", "of": red, "on": rest}, "failure": {"op": "fell", "of": rest}, "horizon": self.config.sim_seconds,
        }

    @staticmethod
    def outcome_name(events: dict[str, Any]) -> str:
        """"success" (on top, the tower stands), "collapse" (a tower block fell) or "miss"."""
        return "collapse" if events["failed"] else "success" if events["reached"] else "miss"

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        return fall_stop_condition(self.world, start, tower_ids(start), self.config.fall_threshold)

    # -- episode ------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        self._begin_episode(seed)
        self._scene = self._sample_scene()
        self._attempt = 0
        self._best: int | None = None
        self._phrase(self._scene)
        self._question = self.prompt
        self.world.load(self._scene)
        return self._observation(), {"scene": self._scene, "program": self._program}

    def best_action(self) -> int:
        """The release position with the highest reward (simulating all), nearest the top on ties."""
        scene = self._require_reset()
        if self._best is None:
            rank = {"success": 2, "miss": 1, "collapse": 0}
            top_x = find_object(scene, tower_ids(scene)[-1])["position"][0]
            scores = [(rank[self.outcome_name(self.outcome(scene, a)[2])], -abs(self.offsets[a] - top_x)) for a in range(len(self.offsets))]
            self._best = int(max(range(len(scores)), key=lambda a: scores[a]))
            self.world.load(scene)
        return self._best

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        scene = self._require_reset()
        cfg = self.config
        index = self._action_index(action)
        self._attempt += 1
        last_try = self._attempt >= cfg.attempts
        parts = dict.fromkeys(("reward_success", "reward_miss", "reward_collapse", "reward_invalid"), 0.0)
        self.frames = []
        if index is None:
            parts["reward_invalid"] = cfg.invalid_answer_reward
            events: dict[str, Any] = {"outcome": "invalid"}
            end = scene
            self.world.load(scene)
        else:
            _, end, events = self.outcome(scene, index, early_stop=False, record=self.record_frames)
            outcome = events["outcome"] = self.outcome_name(events)
            if outcome == "success":
                parts["reward_success"] = cfg.reward_success
            elif outcome == "collapse":
                parts["reward_collapse"] = cfg.reward_collapse
            elif last_try:
                parts["reward_miss"] = cfg.reward_miss
        success = events["outcome"] == "success"
        terminated = success or last_try
        if not terminated:
            what = {"collapse": "the tower fell", "miss": "the block missed the tower", "invalid": "the answer was not a position"}
            tried = "" if index is None else f" at {self.action_names[index]}"
            self._set_prompt(f"Attempt {self._attempt}{tried} failed: {what[events['outcome']]}. {self._question}")
        info = {"scene": end, "events": events, "program": self.program_copy(), "is_success": success, "attempt": self._attempt, "invalid_answer": index is None, **parts}
        return self._observation(), float(sum(parts.values())), terminated, False, info

    def _propose(self) -> Scene:
        return self._propose_scene()


def propose_build_scene(task: str, rng: np.random.Generator, cfg: Any) -> Scene:
    """A tower of ``min_blocks``-``max_blocks`` blocks (statically standing) and the red block
    lying 2.6-3.4 block sizes to its left or right (``cfg`` has TowerBuildConfig's tower fields)."""
    n = int(rng.integers(cfg.min_blocks, cfg.max_blocks + 1))
    while True:
        base_x = float(rng.uniform(-cfg.base_range, cfg.base_range)) * BLOCK_SIZE
        colours = distinct_colours(rng, n, palette=cfg.colours)
        cubes = sample_tower(rng, n, colours, cfg.max_offset, base_x=base_x, lean_probability=cfg.lean_probability)
        if n == 1 or static_margin(cubes) > 0.05:
            break
    base_x = cubes[0]["position"][0]
    side = float(rng.choice((-1.0, 1.0)))
    red_x = base_x + side * float(rng.uniform(2.6, 3.4)) * BLOCK_SIZE
    red = make_cube(f"cube{n}", PLACED_COLOUR, (red_x, 0.0, BLOCK_SIZE / 2))
    meta = {"tower": [c["id"] for c in cubes], "placed": red["id"], "base_x": base_x}
    return new_scene(task, cubes + [red], meta)
