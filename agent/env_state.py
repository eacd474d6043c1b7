"""Environment state as plain data, so runs resume exactly without pickling anything.

A checkpoint must never execute code when it is read, so envs are not pickled. Instead
:class:`StateCapture` wraps every env of a vector env and answers ``get_state()`` /
``set_state(state)`` with JSON-serialisable data (numbers, lists, the NumPy generator's state):

- physground envs provide their own ``get_state``/``set_state`` (scene, episode variables and the
  MuJoCo integration state, warm start included);
- any other gymnasium env (CartPole ...) is captured attribute by attribute on every wrapper layer:
  plain numbers, strings, NumPy arrays and generators; objects such as spaces are left alone.

Works for sync and async vector envs alike (``vector_env.call("get_state")``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from physground.envs.state_codec import decode_value, encode_value


def _layers(env: gym.Env) -> list[Any]:
    layers = []
    while True:
        layers.append(env)
        if not isinstance(env, gym.Wrapper):
            return layers
        env = env.env


def _attributes(obj: Any) -> dict[str, Any]:
    out = {}
    for name, value in vars(obj).items():
        if name in ("env", "_env", "spec", "metadata", "render_mode", "unwrapped") or name.endswith("_space"):
            continue
        try:
            out[name] = encode_value(value)
        except TypeError:
            continue
    return out


class StateCapture(gym.Wrapper):
    """Adds ``get_state``/``set_state`` (plain data) to any env; see the module docstring."""

    def get_state(self) -> dict[str, Any]:
        inner = self.env.unwrapped
        if hasattr(inner, "get_state"):
            wrappers = [_attributes(layer) for layer in _layers(self.env)[:-1]]
            return {"kind": "physground", "env": inner.get_state(), "wrappers": wrappers}
        return {"kind": "attributes", "layers": [_attributes(layer) for layer in _layers(self.env)]}

    def set_state(self, state: dict[str, Any]) -> None:
        layers = _layers(self.env)
        if state.get("kind") == "physground":
            self.env.unwrapped.set_state(state["env"])
            saved = state["wrappers"]
        elif state.get("kind") == "attributes":
            saved = state["layers"]
        else:
            raise ValueError(f"unknown env state kind {state.get('kind')!r}")
        if len(saved) > len(layers):
            raise ValueError(f"env state has {len(saved)} layers but the env has {len(layers)}: a different wrapper stack")
        for layer, attrs in zip(layers, saved):
            for name, value in attrs.items():
                setattr(layer, name, decode_value(value))
