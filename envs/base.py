"""Shared machinery of the physground tasks: configs, the gymnasium plumbing, answer parsing.

Every task is a :class:`PhysicsTaskEnv`: a scene sampler, phrasing templates (``envs.phrasings``)
and a program of the query language (``envs.programs``). Its labels and rewards come from one
mechanism, the program executed with MuJoCo as the dynamics backend (``envs.executor``):

    scene --the program's intervention (option = action)--> start --MuJoCo--> end state
          --the program's predicates(start, end)--> events --> label / reward

``counterfactual`` and ``events`` are the executor's two halves applied with the task's own
program; they work on plain scene dicts, so a learned model's rollout can be scored exactly as
MuJoCo's is. Handing them to an agent gives it the task's semantics as explicit prior knowledge
(and results must disclose it).
"""

from __future__ import annotations

import re
import string
import zlib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from physground.envs.cues import cue_stratum
from physground.envs.executor import ExecutionContext, evaluate, intervene, option_values
from physground.envs.phrasings import PHRASINGS, SPLITS, Template
from physground.envs.programs import Program, negate, validate
from physground.envs.prompt_space import PromptSpace
from physground.envs.scene import TIMESTEP, Scene, SceneConfig, World, copy_tree
from physground.envs.state_codec import decode_value, encode_value

PROMPT_CHARACTERS = string.ascii_letters + string.digits + " .,;:!?'\"-+()=/%\n"
"""Characters a prompt may contain, in the fixed order of the prompt space's charset (see
``envs.prompt_space``: worker processes encode prompts as indices into it)."""
PROMPT_CHARSET = frozenset(PROMPT_CHARACTERS)
PROMPT_MAX_LENGTH = 400
FRAME_PERIOD = 0.05
"""Seconds of simulated time between recorded frames (20 frames/s GIFs)."""
STOP_CHECK_PERIOD = 0.1
"""Seconds of simulated time between checks whether a rollout's outcome is settled."""


# ----------------------------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------------------------


def check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an int in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")


def check_float(name: str, value: Any, low: float, high: float | None = None) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite number in [low, high]."""
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be a number in {bound}, got {value!r}")


def check_range(name: str, value: Any, low: float, high: float) -> None:
    """Raise ``ValueError`` unless ``value`` is a (min, max) pair within [low, high], min <= max."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a (min, max) pair, got {value!r}")
    check_float(f"{name}[0]", value[0], low, high)
    check_float(f"{name}[1]", value[1], low, high)
    if value[0] > value[1]:
        raise ValueError(f"{name} must have min <= max, got {value!r}")


def check_choices(name: str, values: Any, valid: Any) -> None:
    """Raise ``ValueError`` naming the first entry of ``values`` that is not in ``valid``."""
    if isinstance(values, str) or not isinstance(values, (tuple, list)) or not values:
        raise ValueError(f"{name} must be a non-empty list, got {values!r}")
    for v in values:
        if v not in valid:
            raise ValueError(f"{name} has unknown value {v!r}; valid: {', '.join(valid)}")


@dataclass(frozen=True)
class TaskConfig:
    """Fields every task shares.

    Attributes:
        scene: Look and rendering of the shared world (a ``SceneConfig`` or a dict of its fields).
        invalid_answer_reward: Reward for a free-text answer that ``parse_answer`` cannot read.
        phrasing: Which templates the prompts are drawn from (``envs.phrasings.SPLITS``):
            ``canonical`` (the task's one original wording), ``train``, ``heldout``,
            ``paraphrase`` or ``all``. The template is drawn from the episode's seed without
            touching the scene's random stream, so a seed gives the same scene on every split.
    """

    scene: SceneConfig = field(default_factory=SceneConfig)
    invalid_answer_reward: float = -1.0
    phrasing: str = "canonical"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scene", SceneConfig.from_value(self.scene))
        check_float("invalid_answer_reward", self.invalid_answer_reward, -100.0, 100.0)
        if self.phrasing not in SPLITS:
            raise ValueError(f"phrasing must be one of {', '.join(SPLITS)}, got {self.phrasing!r}")
        self.validate()

    def validate(self) -> None:
        """Task-specific checks; raise ``ValueError`` naming the bad field."""


def build_config(config_class: type[TaskConfig], config: TaskConfig | dict[str, Any] | None, overrides: dict[str, Any]) -> TaskConfig:
    """Merge a base config (instance, dict or None) with keyword overrides, validating both.

    Raises:
        ValueError: An unknown option (naming it and the valid ones) or a bad value.
    """
    valid = [f.name for f in fields(config_class)]
    base = {} if config is None else config if isinstance(config, dict) else None
    if base is None:
        if not isinstance(config, config_class):
            raise ValueError(f"config must be a {config_class.__name__} or a dict, got {type(config).__name__}")
        merged_from = config
    else:
        merged_from = None
    values = {**(base or {}), **overrides}
    unknown = [k for k in values if k not in valid]
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} for {config_class.__name__}; valid: {', '.join(valid)}")
    if merged_from is not None:
        return replace(merged_from, **values)
    return config_class(**values)


# ----------------------------------------------------------------------------------------------
# Answer parsing
# ----------------------------------------------------------------------------------------------


def parse_word_answer(text: Any, words: dict[str, int]) -> int | None:
    """Index of the first answer word found in free text, or None.

    Matching is case-insensitive on whole words; multi-word answers ("move left") may be keys.
    The earliest match in the text wins, so "No, it will not fall. Yes..." reads as "no".

    Args:
        text: What an agent answered.
        words: Accepted word (lower case) -> action index.
    """
    if not isinstance(text, str):
        return None
    lowered = text.lower()
    best: tuple[int, int] | None = None
    for word, index in words.items():
        match = re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", lowered)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), index)
    return None if best is None else best[1]


def parse_integer_answer(text: Any, values: list[int]) -> int | None:
    """Index into ``values`` of the first integer in ``text`` (signs allowed), or None.

    "+2", "2", "offset -3", "x = -1." parse; a number outside ``values`` or a decimal
    ("1.5") gives None rather than a guess.
    """
    if not isinstance(text, str):
        return None
    match = re.search(r"(?<![\w.])([+-]?\d+)(?!\w|\.\d)", text)
    if not match:
        return None
    number = int(match.group(1))
    return values.index(number) if number in values else None


# ----------------------------------------------------------------------------------------------
# The environment base class
# ----------------------------------------------------------------------------------------------


class PhysicsTaskEnv(gym.Env):
    """Base class of every physground task (see the module docstring for the label mechanism).

    Subclasses set ``task_name``, ``config_class`` and ``action_names`` and implement
    ``_sample_scene``, ``counterfactual``, ``events`` and the reset/step logic.

    Observation: ``{"image": uint8 (H, W, 3), "prompt": str}``. Action: ``Discrete(n)``; ``step``
    also accepts a free-text answer (``str``), parsed with ``parse_answer``; unparseable text
    earns ``config.invalid_answer_reward``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": round(1 / FRAME_PERIOD)}
    task_name: ClassVar[str] = ""
    config_class: ClassVar[type[TaskConfig]] = TaskConfig
    sim_seconds_default: ClassVar[float] = 3.0
    one_step: ClassVar[bool] = True
    """The default configuration ends an episode after one answer."""

    def __init__(self, config: TaskConfig | dict[str, Any] | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        self.config = build_config(self.config_class, config, overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.world = World(self.config.scene)
        self.action_names: tuple[str, ...] = self._make_action_names()
        size = self.config.scene.image_size
        self.action_space = spaces.Discrete(len(self.action_names))
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (size, size, 3), np.uint8),
                "prompt": PromptSpace(max_length=PROMPT_MAX_LENGTH, min_length=1, charset=PROMPT_CHARACTERS),
            }
        )
        self.record_frames = False
        self.frames: list[np.ndarray] = []
        self._scene: Scene | None = None
        self._prompt = ""
        self._program: Program | None = None
        self._programs: dict[str, Program] = {}
        self._phrasing_rng = np.random.default_rng(0)

    # -- to implement -----------------------------------------------------------------------

    def _make_action_names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def question_program(self, values: dict[str, Any]) -> Program:
        """The task's own question as a program, for the episode's slot values (``values``:
        ``scene["meta"]["ask"]``, e.g. the colour of the block to remove; empty for most tasks)."""
        raise NotImplementedError

    def execution_context(self) -> ExecutionContext:
        """The world's constants the program's units refer to (from the config)."""
        return ExecutionContext()

    # -- the program's semantics ----------------------------------------------------------------

    def task_program(self, scene: Scene | None = None) -> Program:
        """The task's own question for ``scene`` (its ``meta["ask"]`` slot values; the task's
        defaults for a scene without them, e.g. a grounded one), validated."""
        values = dict((scene or {}).get("meta", {}).get("ask") or {})
        key = repr(sorted(values.items()))
        if key not in self._programs:  # counterfactual and events ask for it on every rollout
            self._programs[key] = validate(self.question_program(values))
        return self._programs[key]

    def option(self, program: Program, action: int | None) -> Any:
        """The option value of action index ``action`` under ``program`` (None: no option)."""
        if action is None or program["head"] != "choose":
            return None
        return option_values(program)[action]

    def counterfactual(self, scene: Scene, action: int | None) -> Scene:
        """The rollout's start: the task program's intervention applied with ``action``'s option.

        Works on plain scene dicts (the ``info["scene"]`` format) and never touches the world.

        Raises:
            ProgramError: The program cannot be applied to the scene (e.g. a grounded scene
                without the block the question names).
        """
        program = self.task_program(scene)
        return intervene(program, scene, self.execution_context(), self.option(program, action))

    def events(self, before: Scene, after: Scene) -> dict[str, Any]:
        """The task program's events of a rollout from ``before`` (a counterfactual) to
        ``after`` (``envs.executor.evaluate``: the measured quantities and the roles ``asked`` /
        ``goal`` / ``failure`` / ``distance_to_goal``)."""
        return evaluate(self.task_program(before), before, after, self.execution_context())

    def _template(self) -> tuple[Template, dict[str, Any]]:
        """The episode's template (drawn with the phrasing generator) and the slot values that
        do not depend on the scene (option-set bounds)."""
        templates = PHRASINGS[self.task_name].split(self.config.phrasing)
        index = int(self._phrasing_rng.integers(len(templates))) if len(templates) > 1 else 0
        return templates[index], self._format_values()

    def _format_values(self) -> dict[str, Any]:
        return {}

    def _phrase(self, scene: Scene) -> None:
        """Choose the episode's wording and set the prompt and its program (``info["program"]``)."""
        template, values = self._template()
        values = {**values, **(scene["meta"].get("ask") or {})}
        program = self.task_program(scene)
        self._program = copy_tree(negate(program) if template.flipped else program)  # the cache's stays untouched
        self._set_prompt(template.render(values))

    @property
    def program(self) -> Program:
        """The program of the current prompt (its gold meaning; never an agent input)."""
        if self._program is None:
            raise RuntimeError("call reset() before reading the program")
        return self._program

    def program_copy(self) -> Program:
        """A fresh copy of the current prompt's program, for an info dict (gymnasium warns when
        two steps' infos share an object)."""
        return copy_tree(self.program)

    def _propose(self) -> Scene:
        raise NotImplementedError

    def propose_scene(self, seed: int | None = None) -> Scene:
        """A scene from this task's distribution *before* any outcome-based selection: drawn from
        ``self.np_random`` (reseeded when ``seed`` is given) without simulating anything. For
        static scene understanding (perception pre-training) that must never see an outcome."""
        if seed is not None or self._np_random is None:
            self._np_random, self._np_random_seed = gym.utils.seeding.np_random(seed)
        return self._propose()

    # -- public helpers ---------------------------------------------------------------------

    @property
    def prompt(self) -> str:
        """The current question."""
        return self._prompt

    def scene_graph(self) -> Scene:
        """The current ground-truth scene: the node data ``perception.SceneGraph.from_scene`` reads.

        (``envs`` imports nothing from ``perception``; relations are derived there.)
        """
        if self._scene is None:
            raise RuntimeError("call reset() before scene_graph()")
        return self._scene

    def parse_answer(self, text: str) -> int | None:
        """Action index of a free-text answer, or None when it names no action."""
        return parse_word_answer(text, {name.lower(): i for i, name in enumerate(self.action_names)})

    def render(self) -> np.ndarray | None:
        """The front camera's current view (``render_mode="rgb_array"``), shape (H, W, 3)."""
        if self.render_mode != "rgb_array":
            return None
        return self.world.render()

    def close(self) -> None:
        self.world.close()

    # -- state as plain data (exact resume without pickling) ---------------------------------------

    _STATE_EXCLUDE = frozenset({"_programs", "config", "world", "action_space", "observation_space", "frames", "render_mode", "spec", "metadata", "action_names"})

    def get_state(self) -> dict[str, Any]:
        """The episode's state as JSON-able data: generator, scene, episode variables, world."""
        attrs = {}
        for name, value in vars(self).items():
            if name in self._STATE_EXCLUDE:
                continue
            try:
                attrs[name] = encode_value(value)
            except TypeError:
                continue
        return {"task": self.task_name, "attrs": attrs, "world": self.world.get_state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s data (same task and config)."""
        if state.get("task") != self.task_name:
            raise ValueError(f"env state is for task {state.get('task')!r}, not {self.task_name!r}")
        for name, value in state["attrs"].items():
            setattr(self, name, decode_value(value))
        self.world.set_state(state["world"])

    # -- machinery for subclasses -------------------------------------------------------------

    def _observation(self) -> dict[str, Any]:
        return {"image": self.world.render(), "prompt": self._prompt}

    def _set_prompt(self, prompt: str) -> None:
        bad = sorted(set(prompt) - PROMPT_CHARSET)
        if bad or not 0 < len(prompt) <= PROMPT_MAX_LENGTH:
            raise ValueError(f"prompt {prompt!r} has characters outside the charset or a bad length: {bad}")
        self._prompt = prompt

    def _begin_episode(self, seed: int | None) -> None:
        super().reset(seed=seed)
        # Always drawn, so a seed gives the same scene with domain randomisation on or off.
        appearance_seed = int(self.np_random.integers(2**63))
        # The template is drawn from a stream of its own (the scene's draws are those of v0), one
        # per task, so that one seed does not flip every task's question alike.
        self._phrasing_rng = np.random.default_rng([appearance_seed, 1, zlib.crc32(self.task_name.encode())])
        if self.config.scene.domain_randomization:
            self.world.randomize_appearance(np.random.default_rng(appearance_seed))
        else:
            self.world.reset_appearance()
        self.frames = []

    def _stop_condition(self, start: Scene) -> Callable[[], bool] | None:
        """A cheap check, called every ``STOP_CHECK_PERIOD`` of simulated time, that ends a rollout early
        once its outcome is settled (a block has fallen, the ball is off the platform ...)."""
        return None

    def _sim_seconds(self) -> float:
        return float(getattr(self.config, "sim_seconds", self.sim_seconds_default))

    def simulate(self, start: Scene, seconds: float | None = None, record: bool = False, early_stop: bool = False) -> Scene:
        """Load ``start`` into MuJoCo, simulate, and return the end scene.

        Args:
            start: Scene at the start of the rollout.
            seconds: Simulated duration (defaults to the task's ``sim_seconds``).
            record: Append a frame every ``FRAME_PERIOD`` to ``self.frames``.
            early_stop: End as soon as ``_stop_condition`` says the outcome is settled (outcomes
                are "within ``seconds``", so this gives the same events, sooner).
        """
        seconds = self._sim_seconds() if seconds is None else seconds
        stop = self._stop_condition(start) if early_stop else None
        self.world.load(start)
        if record:
            self.frames.append(self.world.render())
        total = int(round(seconds / TIMESTEP))
        chunk = int(round((FRAME_PERIOD if record else STOP_CHECK_PERIOD) / TIMESTEP))
        done = 0
        while done < total:
            n = min(chunk, total - done)
            self.world.step(n)
            done += n
            if record:
                self.frames.append(self.world.render())
            if stop is not None and stop():
                break
        return self.world.read(start)

    def outcome(self, scene: Scene, action: int | None, early_stop: bool = True, record: bool = False) -> tuple[Scene, Scene, dict[str, Any]]:
        """Execute the task's program with MuJoCo for ``action``: (start, end scene, events)."""
        start = self.counterfactual(scene, action)
        end = self.simulate(start, seconds=float(self.task_program(scene)["horizon"]), record=record, early_stop=early_stop)
        return start, end, self.events(start, end)

    def mujoco_backend(self, early_stop: bool = True) -> Callable[[Scene, float], Scene]:
        """This env's MuJoCo as a dynamics backend for ``envs.executor.execute``."""
        return lambda start, seconds: self.simulate(start, seconds=seconds, early_stop=early_stop)

    def _action_index(self, action: Any) -> int | None:
        """Action index from an int-like or free-text action; None for unparseable text."""
        if isinstance(action, str):
            return self.parse_answer(action)
        if isinstance(action, np.ndarray) and action.shape == ():
            action = action.item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            raise ValueError(f"action must be an integer in [0, {self.action_space.n - 1}] or an answer string, got {action!r}")
        if not 0 <= int(action) < self.action_space.n:
            raise ValueError(f"action {int(action)} is out of range [0, {self.action_space.n - 1}] ({', '.join(self.action_names)})")
        return int(action)

    def _require_reset(self) -> Scene:
        if self._scene is None:
            raise RuntimeError("call reset() before step()")
        return self._scene


@dataclass(frozen=True)
class YesNoConfig(TaskConfig):
    """Fields shared by yes/no questions.

    Attributes:
        balanced: Draw the answer first (50/50 from the env's RNG) and resample scenes until the
            simulated outcome matches it, so both answers are equally frequent.
        stratified: With ``balanced``, balance the answers within every stratum of the task's
            ``balance_cues`` too (``envs.cues``; v1 of the yes/no tasks), so that no function of
            those cues predicts the answer. Off: balanced overall only (v0).
        max_tries: Scenes simulated at most per reset when ``balanced``.
        reward_correct: Reward for the right answer.
        reward_wrong: Reward for the wrong answer.
    """

    balanced: bool = True
    stratified: bool = True
    max_tries: int = 500
    reward_correct: float = 1.0
    reward_wrong: float = 0.0

    def validate(self) -> None:
        check_int("max_tries", self.max_tries, 1)
        check_float("reward_correct", self.reward_correct, -100.0, 100.0)
        check_float("reward_wrong", self.reward_wrong, -100.0, 100.0)


class YesNoTaskEnv(PhysicsTaskEnv):
    """A one-step yes/no question about a simulated outcome.

    Reset draws a scene and executes the task's program on it; with ``balanced`` the answer to the
    task's own question is drawn 50/50 first, and with ``stratified`` it is balanced within every
    stratum of the task's ``balance_cues`` as well (``_stratified_draw``). The prompt is one of the phrasing split's templates;
    a flipped one asks the opposite, and the label is the answer of the prompt's program. Step
    scores the answer and shows the outcome.

    Info at reset: ``scene``, ``label`` (index of the right answer to the prompt), ``answer`` (its
    word), ``program`` (the prompt's gold program), ``task_label`` (the answer to the task's own,
    unflipped question).
    Info at step: ``scene`` (end state), ``events``, ``label``, ``correct``, ``is_success`` and the
    reward components ``reward_answer`` / ``reward_invalid`` (they sum to the reward).
    """

    config_class: ClassVar[type[TaskConfig]] = YesNoConfig
    YES: ClassVar[int] = 0
    NO: ClassVar[int] = 1
    balance_cues: ClassVar[tuple[str, ...]] = ()
    """Cues (``envs.cues``) within whose strata the answers are balanced (``stratified``)."""
    version_settings: ClassVar[dict[int, dict[str, Any]]] = {0: {"stratified": False}, 1: {"stratified": True}}
    """The config settings each registered version stands for (a task with ``balance_cues``)."""

    def _make_action_names(self) -> tuple[str, ...]:
        return ("yes", "no")

    def parse_answer(self, text: str) -> int | None:
        """"yes"/"no" (whole words, any case, first one wins); anything else is None."""
        return parse_word_answer(text, {"yes": self.YES, "no": self.NO})

    def _sample_scene(self) -> Scene:
        raise NotImplementedError

    def _accept(self, scene: Scene, happens: bool) -> bool:
        """Further conditions on a drawn scene (e.g. the tower stands before the question)."""
        return True

    def _stratified_draw(self, want: bool) -> tuple[Scene, Scene, Scene, bool]:
        """A scene with answer ``want`` from a stratum of ``balance_cues`` in which both answers occurred.

        Scenes are drawn and simulated, and kept by (stratum, answer), until some stratum holds
        both answers; its first scene answering ``want`` is returned. Which stratum completes
        first does not depend on ``want``, so within every stratum both answers are equally
        likely. Strata where one answer is rare rarely complete: their scenes, the giveaways of
        a cue, are thinned. (Proposing within one stratum until it completes simulates more: a
        stratum with a rare answer costs many simulations before it is given up.)

        Returns:
            (scene, rollout start, rollout end, answer).
        """
        seen: dict[tuple[int, ...], dict[bool, tuple[Scene, Scene, Scene]]] = {}
        for _ in range(self.config.max_tries):
            scene = self._sample_scene()
            start, end, events = self.outcome(scene, None)
            happens = bool(events["answer"])
            found = seen.setdefault(cue_stratum(scene, self.balance_cues), {})
            if happens in found or not self._accept(scene, happens):
                continue
            found[happens] = (scene, start, end)
            if len(found) == 2:
                return (*found[want], want)
        raise RuntimeError(f"{self.task_name}: no stratum of {', '.join(self.balance_cues)} with both answers in {self.config.max_tries} simulated scenes")

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        self._begin_episode(seed)
        cfg = self.config
        want = bool(self.np_random.random() < 0.5) if cfg.balanced else None
        if want is not None and cfg.stratified and self.balance_cues:
            scene, start, end, happens = self._stratified_draw(want)
        else:
            for _ in range(cfg.max_tries):
                scene = self._sample_scene()
                start, end, events = self.outcome(scene, None)
                happens = bool(events["answer"])
                if (want is None or happens == want) and self._accept(scene, happens):
                    break
            else:
                raise RuntimeError(f"{self.task_name}: no scene with answer {'yes' if want else 'no'} in {cfg.max_tries} draws")
        self._scene = scene
        self._phrase(scene)
        self._task_label = self.YES if happens else self.NO
        # The prompt's program differs from the task's at most in its predicate: same rollout.
        self._label = self.YES if evaluate(self._program, start, end, self.execution_context())["answer"] else self.NO
        self.world.load(scene)
        info = {"scene": scene, "label": self._label, "answer": self.action_names[self._label], "program": self._program, "task_label": self._task_label}
        return self._observation(), info

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        scene = self._require_reset()
        index = self._action_index(action)
        # The full-length rollout, for the outcome image and the end scene (reset stopped early).
        self.frames = []
        _, end, events = self.outcome(scene, None, early_stop=False, record=self.record_frames)
        info: dict[str, Any] = {"scene": end, "events": events, "program": self.program_copy(), "label": self._label, "task_label": self._task_label}
        if index is None:
            reward = float(self.config.invalid_answer_reward)
            info.update(correct=False, is_success=False, invalid_answer=True, reward_answer=0.0, reward_invalid=reward)
        else:
            correct = index == self._label
            reward = float(self.config.reward_correct if correct else self.config.reward_wrong)
            info.update(correct=correct, is_success=correct, invalid_answer=False, reward_answer=reward, reward_invalid=0.0)
        return self._observation(), reward, True, False, info
