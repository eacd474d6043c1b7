"""Typed configs from plain data and the command line: every bad value is one line naming it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from physground.envs.typed_config import from_mapping, replace_fields


@dataclass(frozen=True)
class Inner:
    size: int = 2


@dataclass(frozen=True)
class Example:
    name: str
    seeds: tuple[int, ...] = (0,)
    steps: dict[str, int] = field(default_factory=dict)
    rate: float = 0.5
    flag: bool = False
    path: str | None = None
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError(f"rate must be >= 0, got {self.rate}")


def test_values_are_converted_to_the_field_types():
    config = from_mapping(Example, {"name": "a", "seeds": [1, 2], "steps": {"x": 3}, "rate": 1, "inner": {"size": 5}}, "cfg")
    assert config == Example(name="a", seeds=(1, 2), steps={"x": 3}, rate=1.0, inner=Inner(5))
    assert isinstance(config.rate, float) and isinstance(config.seeds, tuple)
    assert replace_fields(config, {"path": "p", "flag": True}, "cfg") == Example(name="a", seeds=(1, 2), steps={"x": 3}, rate=1.0, flag=True, path="p",
                                                                                  inner=Inner(5))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "a", "seeds": "0"}, "cfg: seeds must be a list of an integer, got '0'"),
        ({"name": "a", "seeds": [0, "1"]}, r"cfg: seeds\[1\] must be an integer, got '1'"),
        ({"name": "a", "steps": {"x": "many"}}, "cfg: steps.x must be an integer, got 'many'"),
        ({"name": "a", "rate": "fast"}, "cfg: rate must be a number, got 'fast'"),
        ({"name": "a", "flag": 1}, "cfg: flag must be true or false, got 1"),
        ({"name": "a", "seeds": [True]}, r"cfg: seeds\[0\] must be an integer, got True"),
        ({"name": "a", "inner": {"size": 1.5}}, "cfg: inner: size must be an integer, got 1.5"),
        ({"name": "a", "speed": 3}, "cfg: unknown field 'speed'; valid: name, seeds"),
        ({"seeds": [0]}, "cfg: missing field 'name'"),
        ({"name": "a", "rate": -1}, "cfg: rate must be >= 0, got -1"),
        (["name"], "cfg must be a mapping of settings, got list"),
    ],
)
def test_bad_values_are_one_line_naming_where_the_field_and_the_value(data, message):
    with pytest.raises(ValueError, match=message) as info:
        from_mapping(Example, data, "cfg")
    assert "\n" not in str(info.value)
