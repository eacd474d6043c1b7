"""Typed configuration dataclasses read from YAML, JSON and the command line, checked field by field.

One mechanism for every config of physground (presets, trainer hyper-parameters, perception and
dynamics settings): a frozen dataclass whose type hints say what each field holds. The functions
here build or update such a dataclass from plain data and turn every bad value into one
``ValueError`` line naming where it came from, the field and the value; the dataclass's own
``__post_init__`` then checks ranges.

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``X | None``, ``tuple[X, ...]``,
``dict[str, X]`` and nested config dataclasses. The command line's side (``--prefix.field``
options) is ``experiments.cli_options``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field of dataclass ``cls`` (annotations may be strings)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def describe_type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args)
    if origin is tuple:
        return f"a list of {describe_type(args[0])}"
    if origin in (dict, Mapping):
        return f"a mapping of {describe_type(args[1])}"
    if dataclasses.is_dataclass(tp):
        return "a mapping of settings"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}.get(tp, str(tp))


def convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` checked against type ``tp`` (lists become tuples, integers may stand for floats).

    Raises:
        ValueError: ``value`` does not fit, naming ``where`` and the value.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return convert(value, option, where)
            except ValueError:
                continue
    elif origin is tuple:
        if isinstance(value, (list, tuple)):
            return tuple(convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    elif origin in (dict, Mapping):
        if isinstance(value, Mapping):
            return {convert(k, args[0], f"{where} key"): convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return from_mapping(tp, value, where)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Any:
        return value
    raise ValueError(f"{where} must be {describe_type(tp)}, got {value!r}")


def from_mapping(cls: type[T], data: Any, where: str) -> T:
    """An instance of config dataclass ``cls`` from a mapping (YAML / JSON), every field checked.

    Args:
        cls: A dataclass with type hints.
        data: The mapping; fields it leaves out keep their defaults.
        where: How errors name the source, e.g. ``"preset 'quick.yaml'"`` or ``"--ppo"``.

    Raises:
        ValueError: ``data`` is not a mapping, has an unknown key, lacks a required field or holds a
            value of the wrong type; or ``cls`` itself rejects a value (its message, after ``where``).
    """
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a mapping of settings, got {type(data).__name__} {_short(data)}")
    types_ = field_types(cls)
    unknown = sorted(str(k) for k in data if k not in types_)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}; valid: {', '.join(types_)}")
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ValueError(f"{where}: missing field {missing[0]!r}")
    values = {k: convert(v, types_[k], f"{where}: {k}") for k, v in data.items()}
    try:
        return cls(**values)
    except ValueError as exc:
        if str(exc).startswith(f"{where}."):  # the dataclass named the field as ``where.field`` itself
            raise
        raise ValueError(f"{where}: {exc}") from exc


def replace_fields(config: T, overrides: Mapping[str, Any], where: str) -> T:
    """``config`` with ``overrides`` applied, every field checked as in :func:`from_mapping`."""
    if not overrides:
        return config
    return from_mapping(type(config), {**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, **overrides}, where)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
