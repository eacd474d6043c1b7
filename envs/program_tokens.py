"""Programs as symbol sequences, and the grammar as a state machine for constrained decoding.

A parser (``perception.parser``) writes a program one symbol at a time. ``linearise`` spells a
program in prefix order over a vocabulary derived from the grammar tables of ``envs.programs``
(``OPS``, ``HEADS``, the enums, the option sets); ``delinearise`` reads it back. ``GrammarState``
says after every prefix which symbols may come next, so a decoder that only picks allowed symbols
always ends in a program that ``programs.validate`` accepts::

    head:yes_no  op:none  op:fell op:tower op:filter op:objects <absent> shape:cube <absent>  horizon:3

Conventions (what makes the sequence unambiguous and every finished sequence valid):

- a node is its ``op:`` symbol followed by its fields in the grammar's order; a left-out optional
  field is ``<absent>``;
- an option set is ``optset:<kind>`` then its lowest and highest value (only contiguous runs of the
  kind's values are spelled: every task's option set is one);
- in a ``choose`` head the intervention must be one whose option field fits the option set's kind
  (``drop`` for positions, ``push`` for strengths, ``move`` for moves) and that field is
  ``$option``, which is exactly the grammar's rule that the ``do`` of a ``choose`` uses the option;
- horizons come from ``HORIZONS`` (the world's simulated durations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from physground.envs.programs import _ENUMS, DIRECTIONS, HEADS, OPS, OPTION, OPTION_SETS, Program, ProgramError, position_word, validate

ABSENT, END = "<absent>", "<end>"
HORIZONS = (0.04, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 10.0)
"""Horizons (s) a linearised program may have."""
INTEGERS = tuple(range(-20, 21))
_OPTION_FIELD = {"positions": "position", "strengths": "strength", "moves": "direction"}
"""The intervention field an option set's values go into."""


def _number(x: float) -> str:
    return f"{x:g}"


def _build_vocabulary() -> tuple[str, ...]:
    symbols = [END, ABSENT, OPTION]
    symbols += [f"head:{h}" for h in HEADS]
    symbols += [f"op:{name}" for name in OPS]
    for kind, values in _ENUMS.items():
        symbols += [f"{kind}:{v}" for v in values]
    symbols += [f"direction:{d}" for d in DIRECTIONS]
    symbols += [f"int:{k}" for k in INTEGERS]
    symbols += [f"optset:{k}" for k in OPTION_SETS]
    symbols += [f"horizon:{_number(h)}" for h in HORIZONS]
    return tuple(symbols)


VOCABULARY: tuple[str, ...] = _build_vocabulary()
"""Every symbol a linearised program may contain (index = symbol id)."""
SYMBOL_ID: dict[str, int] = {s: i for i, s in enumerate(VOCABULARY)}


def symbol_words(symbol: str) -> tuple[str, ...]:
    """The words of a prompt that name ``symbol`` (what a pointer may copy): a colour, shape,
    material, fixture or direction its own name; an integer "3", "+3", "-3"; others none."""
    kind, _, value = symbol.partition(":")
    if kind in ("colour", "shape", "material", "fixture", "direction"):
        return (value,)
    if kind == "int":
        k = int(value)
        return tuple(dict.fromkeys((str(k), position_word(k))))
    return ()


# -- programs <-> symbols -----------------------------------------------------------------------


def linearise(program: Program) -> list[str]:
    """The symbols of a valid program, prefix order, ending with ``<end>``.

    Raises:
        ProgramError: The program is invalid, or uses what the sequence form cannot spell (a
            horizon outside ``HORIZONS``, an option set that is not a contiguous run).
    """
    validate(program)
    head = program["head"]
    out = [f"head:{head}"]
    for f in HEADS[head]:
        if f.name not in program:
            out.append(ABSENT)
        else:
            _spell(program[f.name], f.kind, out)
    out.append(END)
    return out


def _spell(value: Any, kind: str, out: list[str]) -> None:
    if kind in ("selector", "intervention", "predicate", "measure"):
        out.append(f"op:{value['op']}")
        for f in OPS[value["op"]].fields:
            if f.name not in value:
                out.append(ABSENT)
            else:
                _spell(value[f.name], f.kind, out)
    elif kind in _ENUMS:
        out.append(f"{kind}:{value}")
    elif kind in ("position", "strength", "direction"):
        out.append(OPTION if value == OPTION else f"direction:{value}" if kind == "direction" else f"int:{value}")
    elif kind == "seconds":
        match = [h for h in HORIZONS if abs(h - float(value)) < 1e-9]
        if not match:
            raise ProgramError(f"program.horizon: {value!r} s has no symbol; spellable horizons: {', '.join(map(_number, HORIZONS))}")
        out.append(f"horizon:{_number(match[0])}")
    elif kind == "options":
        values, allowed = list(value["values"]), list(OPTION_SETS[value["kind"]])
        start = allowed.index(values[0])
        if values != allowed[start : start + len(values)]:
            raise ProgramError(f"program.options.values: only contiguous runs of {value['kind']} are spelled, got {values}")
        out.append(f"optset:{value['kind']}")
        out += [_option_symbol(value["kind"], values[0]), _option_symbol(value["kind"], values[-1])]
    else:  # pragma: no cover - the grammar tables name only the kinds above
        raise AssertionError(kind)


def _option_symbol(kind: str, v: Any) -> str:
    return f"direction:{v}" if kind == "moves" else f"int:{v}"


def delinearise(symbols: list[str]) -> Program:
    """The program a symbol sequence spells (inverse of ``linearise``), validated.

    Raises:
        ProgramError: The sequence breaks the grammar (naming the position and symbol).
    """
    state = GrammarState()
    for i, s in enumerate(symbols):
        if s not in state.allowed():
            raise ProgramError(f"symbol {i} {s!r} is not allowed there; allowed: {', '.join(sorted(state.allowed())[:8])}")
        state.advance(s)
        if state.done:
            break
    if not state.done:
        raise ProgramError(f"the symbol sequence ends before the program does ({len(symbols)} symbols)")
    return state.program()


# -- the grammar as a state machine ----------------------------------------------------------------


@dataclass
class _Slot:
    """Something still to be written: a value of ``kind`` that goes into ``parent[key]``."""

    kind: str
    parent: dict[str, Any]
    key: str
    optional: bool = False
    option_kind: str | None = None  # inside a choose's do: the option set's kind


def _category_ops(category: str) -> list[str]:
    return [name for name, op in OPS.items() if op.category == category]


@dataclass
class GrammarState:
    """The prefix of a program being written; ``allowed()`` are the symbols that may come next.

    Every sequence of allowed symbols ends (``done``) in a valid program (``program()``).
    """

    root: dict[str, Any] = field(default_factory=dict)
    stack: list[_Slot] = field(default_factory=list)
    started: bool = False
    done: bool = False

    def allowed(self) -> set[str]:
        """The symbols that may come next (``{"<end>"}`` once the program is complete)."""
        if not self.started:
            return {f"head:{h}" for h in HEADS}
        if not self.stack:
            return {END}
        slot = self.stack[-1]
        out = {ABSENT} if slot.optional else set()
        kind = slot.kind
        if kind == "intervention" and slot.option_kind is not None:
            wanted = _OPTION_FIELD[slot.option_kind]
            out |= {f"op:{n}" for n in _category_ops(kind) if any(f.kind == wanted for f in OPS[n].fields)}
        elif kind in ("selector", "intervention", "predicate", "measure"):
            out |= {f"op:{n}" for n in _category_ops(kind)}
        elif kind in _ENUMS:
            out |= {f"{kind}:{v}" for v in _ENUMS[kind]}
        elif kind in ("position", "strength", "direction"):
            if slot.option_kind is not None and _OPTION_FIELD[slot.option_kind] == kind:
                out.add(OPTION)
            elif kind == "direction":
                out |= {f"direction:{d}" for d in DIRECTIONS}
            else:
                out |= {f"int:{v}" for v in OPTION_SETS[kind + "s"]}
        elif kind == "seconds":
            out |= {f"horizon:{_number(h)}" for h in HORIZONS}
        elif kind == "options":
            out |= {f"optset:{k}" for k in OPTION_SETS}
        elif kind.startswith("option_low:"):
            set_kind = kind.split(":", 1)[1]
            out |= {_option_symbol(set_kind, v) for v in OPTION_SETS[set_kind]}
        elif kind.startswith("option_high:"):
            set_kind = kind.split(":", 1)[1]
            values = list(OPTION_SETS[set_kind])
            low = slot.parent[slot.key]["values"][0]
            out |= {_option_symbol(set_kind, v) for v in values[values.index(low) :]}
        return out

    def advance(self, symbol: str) -> None:
        """Write ``symbol`` (one of ``allowed()``).

        Raises:
            ProgramError: ``symbol`` is not allowed here.
        """
        if symbol not in self.allowed():
            raise ProgramError(f"symbol {symbol!r} is not allowed here")
        if not self.started:
            self.started = True
            head = symbol.split(":", 1)[1]
            self.root["head"] = head
            self._push_fields(self.root, HEADS[head], None)
            return
        if not self.stack:
            self.done = True
            return
        slot = self.stack.pop()
        if symbol == ABSENT:
            return
        kind, _, value = symbol.partition(":")
        if slot.kind in ("selector", "intervention", "predicate", "measure"):
            node = {"op": value}
            slot.parent[slot.key] = node
            self._push_fields(node, OPS[value].fields, slot.option_kind if slot.kind == "intervention" else None)
        elif slot.kind == "options":
            slot.parent[slot.key] = {"kind": value, "values": []}
            self.stack.append(_Slot(f"option_high:{value}", slot.parent, slot.key))
            self.stack.append(_Slot(f"option_low:{value}", slot.parent, slot.key))
            for s in self.stack[:-2]:  # the do of this choose: its option field follows the set
                if s.key == "do" and s.parent is self.root:
                    s.option_kind = value
        elif slot.kind.startswith("option_"):
            set_kind = slot.kind.split(":", 1)[1]
            v = value if set_kind == "moves" else int(value)
            options = slot.parent[slot.key]
            if slot.kind.startswith("option_low"):
                options["values"] = [v]
            else:
                values = list(OPTION_SETS[set_kind])
                options["values"] = values[values.index(options["values"][0]) : values.index(v) + 1]
        elif symbol == OPTION:
            slot.parent[slot.key] = OPTION
        elif kind == "int":
            slot.parent[slot.key] = int(value)
        elif kind == "horizon":
            slot.parent[slot.key] = float(value)
        else:
            slot.parent[slot.key] = value

    def _push_fields(self, node: dict[str, Any], fields: tuple[Any, ...], option_kind: str | None) -> None:
        for f in reversed(fields):  # the first field on top
            self.stack.append(_Slot(f.kind, node, f.name, f.optional, option_kind))

    def program(self) -> Program:
        """The finished program, validated.

        Raises:
            ProgramError: Not finished yet.
        """
        if not (self.started and not self.stack):
            raise ProgramError("the program is not complete yet")
        return validate(self.root)
