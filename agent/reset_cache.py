"""Resets replayed from disk: training and evaluation episodes drawn once, shared by every cell of an ablation.

Every cell of an ablation evaluates on the same episodes (seeds from ``EVAL_SEED``), and a reset
of a task-suite-v1 yes/no task simulates a dozen scenes to balance its answer within the strata of
its cues (``YesNoTaskEnv._stratified_draw``): in the full grid most of a cell's evaluation time
went into drawing scenes that every other cell drew too. :class:`CachedResets` stores the env's
state right after ``reset(seed=s)`` (:class:`~physground.agent.env_state.StateCapture`: plain data,
JSON; the generator, scene, episode variables and MuJoCo's state) and the reset's info, and on a
later ``reset(seed=s)`` — in this process or another — restores them and renders the observation
instead of drawing again. What follows (steps, rewards, outcomes) is the env's own: it continues
from the restored state, its random generator included, exactly as after a fresh reset
(``tests/agent/test_reset_cache.py`` checks images, prompts, infos and steps on every task).

An entry is keyed by the env's id, its whole config (scene settings and phrasing split included)
and a digest of the source of ``physground.envs``: changing how a task draws its scenes starts a
new cache instead of replaying stale episodes. Entries are written atomically, so a reader never sees half of one; a
process that draws a seed holds ``<seed>.lock`` (``envs.files.exclusive_lock``), and others that
need the seed meanwhile wait for its entry instead of drawing it too (the cells of one seed train on
the same episodes, ``agent.episode_seeds``, and run side by side); an entry that does not parse is
drawn again and rewritten. Nothing read from the cache is executed
(JSON, decoded by ``envs.state_codec``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym

from physground.agent.env_state import StateCapture
from physground.envs.files import atomic_write_text, exclusive_lock
from physground.envs.state_codec import decode_value, encode_value


@lru_cache(maxsize=1)
def envs_source_digest() -> str:
    """sha256 over the source files of ``physground.envs`` (names and contents, sorted)."""
    import physground.envs as package

    digest = hashlib.sha256()
    for path in sorted(Path(package.__file__).parent.rglob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def cache_key(env: gym.Env) -> str:
    """The folder name of ``env``'s entries: its id and a digest of its config and of the envs source."""
    inner = env.unwrapped
    config = dataclasses.asdict(inner.config) if dataclasses.is_dataclass(inner.config) else repr(inner.config)
    env_id = env.spec.id if env.spec is not None else type(inner).__name__
    blob = json.dumps({"id": env_id, "config": config, "source": envs_source_digest()}, sort_keys=True, default=repr)
    return f"{env_id.replace('/', '-')}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


LOCK_WAIT = 120.0
"""Seconds a reset waits for another process drawing the same seed (it holds ``<seed>.lock``)."""


class CachedResets(gym.Wrapper):
    """Replays ``reset(seed=s)`` from ``folder`` (see the module docstring); a reset without a seed
    or with options is passed through uncached.

    Args:
        env: A physground env (it needs ``get_state`` / ``set_state`` and ``_observation``).
        folder: The cache's root; entries go to ``folder / cache_key(env) / f"{seed}.json"``.

    Raises:
        ValueError: ``env`` is not a physground env.
    """

    def __init__(self, env: gym.Env, folder: str | Path) -> None:
        if not hasattr(env.unwrapped, "get_state") or not hasattr(env.unwrapped, "_observation"):
            raise ValueError(f"reset cache: {type(env.unwrapped).__name__} is not a physground env (no get_state)")
        super().__init__(env)
        self._capture = StateCapture(env)
        self.folder = Path(folder) / cache_key(env)
        self.hits = 0
        self.misses = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        if seed is None or options:
            return self.env.reset(seed=seed, options=options)
        path = self.folder / f"{int(seed)}.json"
        entry = self._read(path)
        if entry is None:
            # one process draws a seed, others that need it meanwhile wait for its entry (the OS frees the lock of a killed holder)
            with exclusive_lock(path.with_suffix(".lock"), f"reset cache entry {str(path)!r}", wait_seconds=LOCK_WAIT):
                entry = self._read(path)
                if entry is None:
                    obs, info = self.env.reset(seed=seed)
                    state = self._capture.get_state()
                    for layer in state.get("wrappers", []):  # gymnasium's checker keeps the last observation (an image) for a warning
                        layer.pop("_previous_data", None)
                    atomic_write_text(path, json.dumps({"state": state, "info": encode_value(info)}))
                    self.misses += 1
                    return obs, info
        self._capture.set_state(entry["state"])
        self.hits += 1
        obs, info = self.env.unwrapped._observation(), entry["info"]
        self._remember_in_checker(obs, info)
        return obs, info

    def _remember_in_checker(self, obs: Any, info: dict[str, Any]) -> None:
        """Give gymnasium's passive checker the reset's data, as its own reset would have (its
        first step compares against it); the entry does not store it (an image per entry)."""
        layer: Any = self.env
        while isinstance(layer, gym.Wrapper):
            if hasattr(layer, "_previous_data"):
                layer._previous_data = (obs, info)
            layer = layer.env

    @staticmethod
    def _read(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text())
            return {"state": data["state"], "info": decode_value(data["info"])}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):  # unreadable: drawn again and rewritten
            return None
