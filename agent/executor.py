"""Running programs on grounded scenes, batched: the hybrid agent's executor.

``ProgramExecutor.run(programs, scenes)`` applies each program's intervention for every option
to its scene (``envs.executor.intervene``), simulates every *distinct* start once with a batch
dynamics backend (one call per horizon; a yes/no program's one start, a choose program's start per
option), and reads the program's predicates from each imagined end (``envs.executor.evaluate``).
A program that cannot be applied to its scene (a grounder missed an object it selects) gives no
outcome for its options (None), never an exception: the agent then decides without imagination.

Backends: ``gnn_backend`` (the learned dynamics model, ``dynamics.rollout.imagine``) and
``mujoco_backend`` (an env's simulator, one start at a time); with MuJoCo the executor reproduces
the env's own labels, which is how it is tested.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

from physground.envs.executor import ExecutionContext, evaluate, intervene, option_values
from physground.envs.programs import Program
from physground.envs.scene import Scene

BatchBackend = Callable[[list[Scene], float], list[Scene]]
"""A dynamics backend over a batch: (start scenes, simulated seconds) -> end scenes."""
APPLY_ERRORS = (KeyError, ValueError, IndexError)
"""What applying a program to an imperfectly grounded scene may raise (``ProgramError`` is a
``ValueError``)."""


def gnn_backend(dynamics: Any) -> BatchBackend:
    """A ``DynamicsModel`` as a batch backend (all starts in one batched rollout)."""
    from physground.dynamics.rollout import imagine

    device = next(dynamics.parameters()).device

    def backend(starts: list[Scene], seconds: float) -> list[Scene]:
        return [frames[-1] for frames in imagine(dynamics.step, starts, seconds, dynamics.config.dt, device)]

    return backend


def mujoco_backend(env: Any) -> BatchBackend:
    """An env's MuJoCo as a batch backend (``PhysicsTaskEnv.mujoco_backend``, one start at a time)."""
    single = env.mujoco_backend()
    return lambda starts, seconds: [single(s, seconds) for s in starts]


class ProgramExecutor:
    """See the module docstring.

    Args:
        backend: The batch dynamics backend.
        context: The world's constants (default: the shared world's).
        min_seconds: Simulate at least this long whatever the program's horizon (a learned model
            imagining a one-control-step program, as Catch's 0.04 s, must look further ahead to
            see where the ball lands).
    """

    def __init__(self, backend: BatchBackend, context: ExecutionContext | None = None, min_seconds: float = 0.0) -> None:
        self.backend = backend
        self.context = context or ExecutionContext()
        self.min_seconds = float(min_seconds)

    def run(self, programs: list[Program | None], scenes: list[Scene]) -> list[list[dict[str, Any] | None]]:
        """The events of every option of every (program, scene) pair.

        Args:
            programs: One valid program per scene (None: nothing to execute, no options).
            scenes: The scenes, grounded or true.

        Returns:
            Per pair, one entry per option (one for a yes/no program): the events dict of
            ``envs.executor.evaluate`` with ``"option"`` added, or None where the program could
            not be applied to the scene.
        """
        if len(programs) != len(scenes):
            raise ValueError(f"{len(programs)} programs for {len(scenes)} scenes")
        out: list[list[dict[str, Any] | None]] = []
        starts: dict[float, list[Scene]] = defaultdict(list)
        keys: dict[tuple[float, str], int] = {}
        owners: list[tuple[int, int, float, int, Any]] = []
        for b, (program, scene) in enumerate(zip(programs, scenes)):
            if program is None:
                out.append([])
                continue
            options = option_values(program) if program["head"] == "choose" else [None]
            out.append([None] * len(options))
            seconds = max(float(program["horizon"]), self.min_seconds)
            for k, option in enumerate(options):
                try:
                    start = intervene(program, scene, self.context, option)
                except APPLY_ERRORS:
                    continue
                key = (seconds, repr(start["objects"]))
                if key not in keys:  # options that leave the scene alike are simulated once
                    keys[key] = len(starts[seconds])
                    starts[seconds].append(start)
                owners.append((b, k, seconds, keys[key], option))
        ends = {seconds: self.backend(batch, seconds) for seconds, batch in starts.items()}
        for b, k, seconds, i, option in owners:
            try:
                events = evaluate(programs[b], starts[seconds][i], ends[seconds][i], self.context)
            except APPLY_ERRORS:
                continue
            out[b][k] = {**events, "option": option}
        return out
