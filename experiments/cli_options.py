"""Command-line options for every field of a config dataclass (``--ppo.gamma 0.97``), for the CLI only.

The library below the CLI never sees ``argparse``: the CLI collects the given options into plain
dicts, which ``envs.typed_config.from_mapping`` / ``replace_fields`` check and apply.
"""

from __future__ import annotations

import argparse
import typing
from typing import Any

from physground.envs.typed_config import describe_type, field_types


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str, skip: tuple[str, ...] = ()) -> None:
    """``--{prefix}.{field}`` options for every field of config dataclass ``cls`` (but ``skip``).

    Each option defaults to None (not given); :func:`given_fields` collects the given ones, to be
    applied with :func:`replace_fields` on top of whatever defaults the wiring chooses.
    """
    group = parser.add_argument_group(f"{prefix} settings ({cls.__name__})")
    for name, tp in field_types(cls).items():
        if name in skip:
            continue
        group.add_argument(f"--{prefix}.{name}", dest=f"{prefix}.{name}", metavar=_metavar(tp), type=_parser_for(tp, f"--{prefix}.{name}"),
                           default=None, help=f"{describe_type(tp)} (default: see {cls.__name__})")


def given_fields(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    """The ``--{prefix}.*`` options given on the command line, by field name."""
    return {k.split(".", 1)[1]: v for k, v in vars(args).items() if k.startswith(f"{prefix}.") and v is not None}


def _metavar(tp: Any) -> str:
    if typing.get_origin(tp) is tuple:
        return _metavar(typing.get_args(tp)[0]) + ",..."
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    base = args[0] if args else tp
    return {int: "INT", float: "FLOAT", bool: "BOOL", str: "TEXT"}.get(base, "VALUE")


def _parser_for(tp: Any, option: str) -> Any:
    """A function parsing one command-line word into type ``tp`` (``none`` stands for None)."""
    if typing.get_origin(tp) is tuple:  # comma-separated items
        item = _parser_for(typing.get_args(tp)[0], option)

        def parse_items(text: str) -> tuple[Any, ...]:
            return tuple(item(part.strip()) for part in text.split(",") if part.strip())

        parse_items.__name__ = "list"
        return parse_items
    args = typing.get_args(tp)
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), tp)

    def parse(text: str) -> Any:
        if optional and text.lower() in ("none", "null"):
            return None
        try:
            if base is bool:
                if text.lower() in ("true", "1", "yes"):
                    return True
                if text.lower() in ("false", "0", "no"):
                    return False
                raise ValueError
            return base(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be {describe_type(tp)}, got {text!r}") from None

    parse.__name__ = _metavar(tp).lower()
    return parse
