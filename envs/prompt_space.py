"""The prompt's observation space: gymnasium's ``Text``, made to survive shared-memory vector envs.

``AsyncVectorEnv`` with shared memory (its default) reads each observation through a view made once
at construction: for ``Box`` spaces a numpy view that the workers' writes update, for ``Text`` a
tuple of strings decoded once, so every later prompt read back is the initial padding (gymnasium
1.4). ``PromptSpace`` registers a reader that decodes the shared characters whenever they are read,
and a charset in a fixed order (a set's order would differ between worker processes, whose string
hashing is seeded apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import read_from_shared_memory


class PromptSpace(spaces.Text):
    """A ``Text`` space of prompts (same contract as ``gymnasium.spaces.Text``)."""


class SharedPrompts(Sequence):
    """The prompts of ``n`` envs, decoded from the shared buffer on every read; ``deepcopy``
    (what ``AsyncVectorEnv(copy=True)`` returns) gives a plain tuple."""

    def __init__(self, space: PromptSpace, shared_memory: Any, n: int) -> None:
        self._space = space
        self._codes = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape(n, space.max_length)

    def __len__(self) -> int:
        return len(self._codes)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        chars, end = self._space.character_list, len(self._space.character_list)
        return "".join(chars[c] for c in self._codes[index] if c < end)

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return repr(tuple(self))


@read_from_shared_memory.register(PromptSpace)
def _read_prompts(space: PromptSpace, shared_memory: Any, n: int = 1) -> SharedPrompts:
    return SharedPrompts(space, shared_memory, n)
