"""physground's task suite: six MuJoCo tasks in one shared visual world, as gymnasium envs.

Importing this package chooses MuJoCo's GL backend (EGL, else OSMesa) before MuJoCo loads and
registers every version of every task as ``physground/<Name>-v<N>``::

    import gymnasium as gym
    from physground import envs  # noqa: F401  (registers the ids)
    env = gym.make("physground/TowerStability-v1", scene={"image_size": 224})

Versions: the yes/no tasks are at v1 (answers balanced within every stratum of their cues,
``envs.cues``); their v0 (balanced overall only) stays registered for comparison. The other tasks
are at v0. ``TASK_VERSION`` is the suite's version: a task at suite version N is its newest
version <= N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from physground.envs.gl import configure_gl_backend

configure_gl_backend()

import gymnasium as gym  # noqa: E402

from physground.envs.base import PhysicsTaskEnv, TaskConfig, YesNoTaskEnv  # noqa: E402
from physground.envs.block_removal import BlockRemovalConfig, BlockRemovalEnv  # noqa: E402
from physground.envs.catch import CatchConfig, CatchEnv  # noqa: E402
from physground.envs.composed import BasketMoveEnv, ColourRemovalEnv, DropOnTopEnv, PushOffEnv, PushZoneEnv, ToppleSpotEnv  # noqa: E402
from physground.envs.push import PushConfig, PushEnv  # noqa: E402
from physground.envs.roll_off import RollOffConfig, RollOffEnv  # noqa: E402
from physground.envs.scene import SceneConfig  # noqa: E402
from physground.envs.tower_build import TowerBuildConfig, TowerBuildEnv  # noqa: E402
from physground.envs.tower_stability import TowerStabilityConfig, TowerStabilityEnv  # noqa: E402

TASK_VERSION = 1
"""The suite's newest version (the default of runs and presets); runs recorded before versions
existed used 0."""


def check_task_version(version: object) -> None:
    """Refuse a suite version that is not an integer in [0, ``TASK_VERSION``].

    Raises:
        ValueError: Naming the value.
    """
    if not isinstance(version, int) or isinstance(version, bool) or not 0 <= version <= TASK_VERSION:
        raise ValueError(f"task version must be an integer in [0, {TASK_VERSION}], got {version!r}")


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: its class, episode limit and versions (``env_id`` is the newest's id)."""

    name: str
    env_class: type[PhysicsTaskEnv]
    max_episode_steps: int
    composed: bool = False
    """A composed task (``envs.composed``): primitives of the six recombined, in no preset's training set."""

    @property
    def versions(self) -> dict[int, dict[str, Any]]:
        """Each registered version and the config settings it stands for
        (``YesNoTaskEnv.version_settings``): the yes/no tasks' v0 balances answers overall only,
        v1 within the strata of the task's cues too; the other tasks have v0 only."""
        if issubclass(self.env_class, YesNoTaskEnv) and self.env_class.balance_cues:
            return {v: dict(settings) for v, settings in self.env_class.version_settings.items()}
        return {0: {}}

    def version_at(self, suite_version: int = TASK_VERSION) -> int:
        """This task's version in suite version ``suite_version`` (its newest version not above it).

        Raises:
            ValueError: ``suite_version`` below 0 or above ``TASK_VERSION``.
        """
        check_task_version(suite_version)
        return max(v for v in self.versions if v <= suite_version)

    def env_id_at(self, suite_version: int = TASK_VERSION) -> str:
        """The gymnasium id of this task in suite version ``suite_version``."""
        return f"physground/{self.name}-v{self.version_at(suite_version)}"

    def settings_at(self, suite_version: int = TASK_VERSION) -> dict[str, Any]:
        """The config settings of this task in suite version ``suite_version`` (for building the
        env class directly, without ``gym.make``)."""
        return dict(self.versions[self.version_at(suite_version)])

    @property
    def env_id(self) -> str:
        """The id of the newest version."""
        return self.env_id_at(TASK_VERSION)

    @property
    def is_yes_no(self) -> bool:
        """True for one-step yes/no questions."""
        return issubclass(self.env_class, YesNoTaskEnv)

    @property
    def is_one_step(self) -> bool:
        """True when the default configuration ends an episode after one answer."""
        return self.env_class.one_step


def _spec(env_class: type[PhysicsTaskEnv], max_episode_steps: int, composed: bool = False) -> TaskSpec:
    return TaskSpec(env_class.task_name, env_class, max_episode_steps, composed)


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec(TowerStabilityEnv, 1),
        _spec(TowerBuildEnv, 3),  # terminates itself after `attempts` (1 by default, 3 in the variant)
        _spec(BlockRemovalEnv, 1),
        _spec(RollOffEnv, 1),
        _spec(CatchEnv, 40),
        _spec(PushEnv, 1),
        _spec(ColourRemovalEnv, 1, composed=True),
        _spec(DropOnTopEnv, 1, composed=True),
        _spec(ToppleSpotEnv, 1, composed=True),
        _spec(PushZoneEnv, 1, composed=True),
        _spec(PushOffEnv, 1, composed=True),
        _spec(BasketMoveEnv, 1, composed=True),
    )
}
"""Every task by name: the six of the paper's family (stability first), then the composed ones."""
BASE_TASKS: tuple[str, ...] = tuple(name for name, spec in TASKS.items() if not spec.composed)
"""The six tasks ("all" in a preset)."""
COMPOSED_TASKS: tuple[str, ...] = tuple(name for name, spec in TASKS.items() if spec.composed)
"""The composed tasks ("composed" in a preset)."""

for _spec_entry in TASKS.values():
    for _version, _settings in _spec_entry.versions.items():
        if f"physground/{_spec_entry.name}-v{_version}" not in gym.registry:
            gym.register(
                id=f"physground/{_spec_entry.name}-v{_version}",
                entry_point=f"{_spec_entry.env_class.__module__}:{_spec_entry.env_class.__name__}",
                max_episode_steps=_spec_entry.max_episode_steps,
                kwargs=dict(_settings),
            )


def task_spec(name_or_id: str) -> TaskSpec:
    """Look a task up by name ("TowerStability") or the id of any of its versions
    ("physground/TowerStability-v0").

    Raises:
        ValueError: Unknown task, listing the valid names.
    """
    for spec in TASKS.values():
        if name_or_id == spec.name or name_or_id in (f"physground/{spec.name}-v{v}" for v in spec.versions):
            return spec
    raise ValueError(f"unknown task {name_or_id!r}; valid: {', '.join(TASKS)}")


__all__ = [
    "TASKS",
    "TASK_VERSION",
    "check_task_version",
    "BASE_TASKS",
    "COMPOSED_TASKS",
    "TaskSpec",
    "task_spec",
    "PhysicsTaskEnv",
    "YesNoTaskEnv",
    "TaskConfig",
    "SceneConfig",
    "TowerStabilityEnv",
    "TowerStabilityConfig",
    "TowerBuildEnv",
    "TowerBuildConfig",
    "BlockRemovalEnv",
    "BlockRemovalConfig",
    "RollOffEnv",
    "RollOffConfig",
    "CatchEnv",
    "CatchConfig",
    "PushEnv",
    "PushConfig",
]
