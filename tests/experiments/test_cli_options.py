"""Command-line options for every field of a config dataclass."""

from __future__ import annotations

import argparse

import pytest

from physground.experiments.cli_options import add_arguments, given_fields
from tests.envs.test_typed_config import Example


def test_command_line_options_for_every_field_collect_only_what_was_given():
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, Example, "ex", skip=("name",))
    args = parser.parse_args(["--ex.rate", "0.25", "--ex.flag", "true", "--ex.path", "none", "--ex.seeds", "3, 4"])
    assert given_fields(args, "ex") == {"rate": 0.25, "flag": True, "seeds": (3, 4)}
    with pytest.raises(argparse.ArgumentError, match="--ex.rate must be a number, got 'x'"):
        parser.parse_args(["--ex.rate", "x"])
    assert "--ex.name" not in parser.format_help()
