"""physground's task suite: six MuJoCo tasks in one shared visual world, as gymnasium envs.

Importing this package chooses MuJoCo's GL backend (EGL, else OSMesa) before MuJoCo loads and
registers every task as ``physground/<Name>-v0``::

    import gymnasium as gym
    from physground import envs  # noqa: F401  (registers the ids)
    env = gym.make("physground/TowerStability-v0", scene={"image_size": 224})
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: its gymnasium id, class and episode limit."""

    name: str
    env_id: str
    env_class: type[PhysicsTaskEnv]
    max_episode_steps: int
    composed: bool = False
    """A composed task (``envs.composed``): primitives of the six recombined, in no preset's training set."""

    @property
    def is_yes_no(self) -> bool:
        """True for one-step yes/no questions."""
        return issubclass(self.env_class, YesNoTaskEnv)

    @property
    def is_one_step(self) -> bool:
        """True when the default configuration ends an episode after one answer."""
        return self.env_class.one_step


def _spec(env_class: type[PhysicsTaskEnv], max_episode_steps: int, composed: bool = False) -> TaskSpec:
    return TaskSpec(env_class.task_name, f"physground/{env_class.task_name}-v0", env_class, max_episode_steps, composed)


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
    if _spec_entry.env_id not in gym.registry:
        gym.register(
            id=_spec_entry.env_id,
            entry_point=f"{_spec_entry.env_class.__module__}:{_spec_entry.env_class.__name__}",
            max_episode_steps=_spec_entry.max_episode_steps,
        )


def task_spec(name_or_id: str) -> TaskSpec:
    """Look a task up by name ("TowerStability") or id ("physground/TowerStability-v0").

    Raises:
        ValueError: Unknown task, listing the valid names.
    """
    for spec in TASKS.values():
        if name_or_id in (spec.name, spec.env_id):
            return spec
    raise ValueError(f"unknown task {name_or_id!r}; valid: {', '.join(TASKS)}")


__all__ = [
    "TASKS",
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
