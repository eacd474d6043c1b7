"""Plain-data (JSON-able) encoding of NumPy arrays, generators, tuples and dicts: how env state
is written into checkpoints without pickling (reading a checkpoint must never run code)."""

from __future__ import annotations

from typing import Any

import numpy as np

_PLAIN = (bool, int, float, str, type(None), np.integer, np.floating, np.bool_)


def encode_value(value: Any) -> Any:
    """A JSON-able encoding of plain data; raises TypeError for anything else."""
    if isinstance(value, _PLAIN):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.random.Generator):
        return {"__generator__": _plain(value.bit_generator.state)}
    if isinstance(value, (list, tuple)):
        encoded = [encode_value(v) for v in value]
        return encoded if isinstance(value, list) else {"__tuple__": encoded}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: encode_value(v) for k, v in value.items()}}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def decode_value(value: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"]).reshape(value["shape"])
        if "__generator__" in value:
            state = value["__generator__"]
            generator = np.random.Generator(getattr(np.random, state["bit_generator"])())
            generator.bit_generator.state = state
            return generator
        if "__tuple__" in value:
            return tuple(decode_value(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: decode_value(v) for k, v in value["__dict__"].items()}
    return value
