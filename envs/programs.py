"""physground's physics query language: a question as a program, plain JSON, checked against a grammar.

A program says what to select in a scene, what to change, how long to simulate, and what to ask
of the outcome. It is data: it is parsed and validated here, executed by ``envs.executor`` with a
pluggable dynamics backend (MuJoCo for labels, a learned model for imagination), and never
evaluated as code. Every task is one program (``envs.phrasings`` holds its wordings)::

    {"head": "yes_no", "horizon": 3.0,
     "do": {"op": "remove", "target": {"op": "unique", "of": {"op": "filter", "colour": "red", "of": {"op": "objects"}}}},
     "ask": {"op": "fell", "of": {"op": "tower", "of": {"op": "objects"}}}}

Grammar (``OPS`` is its single source of truth; ``docs/envs.md`` explains each primitive):

- *head* (the program): ``yes_no(do, ask, horizon)``: is the predicate ``ask`` true after ``do``
  and ``horizon`` simulated seconds; ``choose(options, do, goal, failure?, distance?, horizon)``:
  which option of the question's option set, put into ``do`` as ``"$option"``, reaches ``goal``
  (and avoids ``failure``; ``distance`` measures how far from the goal a miss is).
- *selectors* (object sets): ``objects``, ``filter(of, colour?, shape?, material?)``,
  ``fixture(name)``, ``except(of, minus)``, ``tower(of)``, ``top(of)``, ``unique(of)``.
- *interventions*: ``none``, ``remove(target)``, ``drop(target, position, above)``,
  ``push(target, strength)``, ``move(target, direction)``.
- *predicates* (read from a rollout's start and end): ``fell(of)``, ``on_top(of, on)``,
  ``off(of, surface)``, ``inside(of, region)``, ``lands_outside(of, region)``, ``not(arg)``.
- *measures*: ``distance(of, region)``.

Errors are one line naming the node's path (``program.do.target.of``) and the bad value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from physground.envs.scene import COLOURS, SURFACES

Program = dict[str, Any]
"""A program: the JSON object described in the module docstring."""
OPTION = "$option"
"""Placeholder for the option under consideration, allowed in a ``choose`` head's ``do``."""

SHAPES = ("cube", "ball", "box", "zone", "basket")
FIXTURES = ("platform", "ramp", "mat", "zone", "basket")
"""Named fixtures of the shared world (their object ids)."""
MATERIALS = tuple(SURFACES) + ("painted", "paint", "rubber")
DIRECTIONS = ("left", "stay", "right")
OPTION_SETS: dict[str, tuple[Any, ...]] = {
    "positions": tuple(range(-20, 21)),
    "strengths": tuple(range(1, 21)),
    "moves": DIRECTIONS,
}
"""The option sets a question can define, and the values each may list (positions: signed
indices of the release grid; strengths: push strengths from 1 = softest; moves: basket moves)."""


def position_word(k: int) -> str:
    """A release position as questions and answers write it: "+2", "0", "-1"."""
    return f"{k:+d}" if k else "0"


class ProgramError(ValueError):
    """A program that breaks the grammar, or one that cannot be applied to a scene."""


@dataclass(frozen=True)
class Field:
    """One argument of a primitive: its name, what it holds, and whether it may be left out."""

    name: str
    kind: str
    optional: bool = False


@dataclass(frozen=True)
class Op:
    """A primitive of the language: its category and arguments."""

    category: str
    fields: tuple[Field, ...]
    doc: str


def _f(name: str, kind: str, optional: bool = False) -> Field:
    return Field(name, kind, optional)


OPS: dict[str, Op] = {
    # selectors
    "objects": Op("selector", (), "every object of the scene"),
    "filter": Op("selector", (_f("of", "selector"), _f("colour", "colour", True), _f("shape", "shape", True), _f("material", "material", True)),
                 "the objects of `of` with the given colour / shape / material (surface)"),
    "fixture": Op("selector", (_f("name", "fixture"),), "the named fixture: platform, ramp, mat, zone or basket"),
    "except": Op("selector", (_f("of", "selector"), _f("minus", "selector")), "the objects of `of` that are not in `minus`"),
    "tower": Op("selector", (_f("of", "selector"),), "the cubes of `of` as a tower, bottom to top"),
    "top": Op("selector", (_f("of", "selector"),), "the highest object of `of`"),
    "unique": Op("selector", (_f("of", "selector"),), "`of`, which must hold exactly one object"),
    # interventions
    "none": Op("intervention", (), "nothing changes: the scene is released as it is"),
    "remove": Op("intervention", (_f("target", "selector"),), "take the target objects out (blocks above settle into the gap)"),
    "drop": Op("intervention", (_f("target", "selector"), _f("position", "position"), _f("above", "selector")),
               "release the target at rest at grid position `position`, a drop gap above the top of `above`"),
    "push": Op("intervention", (_f("target", "selector"), _f("strength", "strength")), "give the target push strength `strength` along +x"),
    "move": Op("intervention", (_f("target", "selector"), _f("direction", "direction")), "move the target (the basket) one step left, not at all, or right"),
    # predicates
    "fell": Op("predicate", (_f("of", "selector"),), "a block of `of` ends more than the fall threshold from where it should rest"),
    "on_top": Op("predicate", (_f("of", "selector"), _f("on", "selector")), "`of` ends upright on top of `on`, and `on` stands"),
    "off": Op("predicate", (_f("of", "selector"), _f("surface", "selector")), "`of` leaves the surface: below its top or past its far end"),
    "inside": Op("predicate", (_f("of", "selector"), _f("region", "selector")), "`of` ends inside the region (a zone: within its extent; a basket: in it, below the rim)"),
    "lands_outside": Op("predicate", (_f("of", "selector"), _f("region", "selector")), "`of` reaches the table outside the region, or leaves the arena"),
    "not": Op("predicate", (_f("arg", "predicate"),), "negation"),
    # measures
    "distance": Op("measure", (_f("of", "selector"), _f("region", "selector")), "how far (m) `of` ends from the region"),
}
"""Every primitive of the language by name."""

HEADS: dict[str, tuple[Field, ...]] = {
    "yes_no": (_f("do", "intervention"), _f("ask", "predicate"), _f("horizon", "seconds")),
    "choose": (_f("options", "options"), _f("do", "intervention"), _f("goal", "predicate"), _f("failure", "predicate", True),
               _f("distance", "measure", True), _f("horizon", "seconds")),
}
"""Query heads: what a program returns (a yes/no answer, or the option to choose)."""

_ENUMS = {"colour": tuple(COLOURS), "shape": SHAPES, "material": MATERIALS, "fixture": FIXTURES}


def _fail(path: str, message: str) -> None:
    raise ProgramError(f"{path}: {message}")


def _check_node(node: Any, category: str, path: str, option_allowed: bool) -> None:
    if not isinstance(node, dict):
        _fail(path, f"must be a {category} object with an 'op', got {json.dumps(node)[:60]}")
    name = node.get("op")
    valid = [n for n, o in OPS.items() if o.category == category]
    if name not in OPS or OPS[name].category != category:
        article = "an" if category[0] in "aeiou" else "a"
        what = "unknown primitive" if name not in OPS else f"a {OPS[name].category} where {article} {category} belongs:"
        _fail(path, f"{what} {name!r}; valid {category}s: {', '.join(valid)}")
    _check_fields(node, OPS[name].fields, path, option_allowed, extra={"op"})


def _check_fields(node: dict[str, Any], spec: tuple[Field, ...], path: str, option_allowed: bool, extra: set[str]) -> None:
    names = {f.name for f in spec}
    unknown = sorted(set(node) - names - extra)
    if unknown:
        label = node.get("op", node.get("head"))
        _fail(path, f"{label!r} takes no argument {unknown[0]!r} (it takes: {', '.join(f.name for f in spec) or 'nothing'})")
    for f in spec:
        if f.name not in node:
            if not f.optional:
                _fail(path, f"{node.get('op', node.get('head'))!r} needs the argument {f.name!r}")
            continue
        _check_value(node[f.name], f.kind, f"{path}.{f.name}", option_allowed)


def _check_value(value: Any, kind: str, path: str, option_allowed: bool) -> None:
    if kind in ("selector", "intervention", "predicate", "measure"):
        _check_node(value, kind, path, option_allowed)
    elif kind in _ENUMS:
        if value not in _ENUMS[kind]:
            _fail(path, f"unknown {kind} {value!r}; valid: {', '.join(_ENUMS[kind])}")
    elif kind in ("position", "strength", "direction"):
        if value == OPTION:
            if not option_allowed:
                _fail(path, f"{OPTION!r} is only allowed in the 'do' of a 'choose' head")
            return
        if kind == "direction":
            if value not in DIRECTIONS:
                _fail(path, f"unknown direction {value!r}; valid: {', '.join(DIRECTIONS)} or {OPTION!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value not in OPTION_SETS[kind + "s"]:
            _fail(path, f"{kind} must be an integer in [{OPTION_SETS[kind + 's'][0]}, {OPTION_SETS[kind + 's'][-1]}] or {OPTION!r}, got {value!r}")
    elif kind == "seconds":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.005 <= value <= 60.0:
            _fail(path, f"horizon must be a number of seconds in [0.005, 60], got {value!r}")
    elif kind == "options":
        _check_options(value, path)
    else:  # pragma: no cover - the grammar tables name only the kinds above
        raise AssertionError(kind)


def _check_options(value: Any, path: str) -> None:
    if not isinstance(value, dict) or set(value) != {"kind", "values"}:
        _fail(path, f"must be {{'kind': ..., 'values': [...]}}, got {json.dumps(value)[:60]}")
    kind, values = value["kind"], value["values"]
    if kind not in OPTION_SETS:
        _fail(f"{path}.kind", f"unknown option set {kind!r}; valid: {', '.join(OPTION_SETS)}")
    if not isinstance(values, list) or not values:
        _fail(f"{path}.values", f"the option set is empty or not a list: {json.dumps(values)[:60]}")
    for i, v in enumerate(values):
        if isinstance(v, bool) or v not in OPTION_SETS[kind]:
            _fail(f"{path}.values[{i}]", f"{v!r} is not a value of the option set {kind!r}")
    if len(set(values)) != len(values):
        _fail(f"{path}.values", f"the option set lists a value twice: {values}")


def validate(program: Any) -> Program:
    """Check ``program`` against the grammar and return it.

    Raises:
        ProgramError: One line naming the bad node (``program.ask.of``) and value.
    """
    if not isinstance(program, dict):
        _fail("program", f"must be a JSON object, got {type(program).__name__}")
    head = program.get("head")
    if head not in HEADS:
        _fail("program.head", f"unknown query head {head!r}; valid: {', '.join(HEADS)}")
    spec = HEADS[head]
    names = {f.name for f in spec}
    unknown = sorted(set(program) - names - {"head"})
    if unknown:
        _fail("program", f"head {head!r} takes no field {unknown[0]!r} (it takes: {', '.join(f.name for f in spec)})")
    for f in spec:
        if f.name not in program:
            if not f.optional:
                _fail("program", f"head {head!r} needs the field {f.name!r}")
            continue
        _check_value(program[f.name], f.kind, f"program.{f.name}", option_allowed=head == "choose" and f.name == "do")
    if head == "choose" and OPTION not in json.dumps(program["do"]):
        _fail("program.do", f"a 'choose' head's intervention must use {OPTION!r}: otherwise every option does the same")
    return program


def loads(text: str) -> Program:
    """Parse and validate a program from JSON text.

    Raises:
        ProgramError: Not JSON (with the position), or not a valid program.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProgramError(f"program: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    return validate(data)


def dumps(program: Program) -> str:
    """A program as canonical JSON text (sorted keys, one line): equal programs, equal text."""
    return json.dumps(validate(program), sort_keys=True, separators=(",", ":"))


def primitives_of(program: Program) -> set[str]:
    """The primitives (ops and the head) a program uses."""
    found = {f"head:{program['head']}"}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if "op" in value:
                found.add(value["op"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk({k: v for k, v in program.items() if k != "head"})
    return found


def negate(program: Program) -> Program:
    """The yes/no program with the opposite answer (``not`` added, or a double negation removed)."""
    if program.get("head") != "yes_no":
        raise ProgramError(f"program.head: only a 'yes_no' program can be negated, got {program.get('head')!r}")
    ask = program["ask"]
    flipped = ask["arg"] if ask.get("op") == "not" else {"op": "not", "arg": ask}
    return {**program, "ask": flipped}


# -- constructors: programs are data, these only spell them shortly ---------------------------


def objects() -> dict[str, Any]:
    """Every object."""
    return {"op": "objects"}


def coloured(colour: str, shape: str = "cube") -> dict[str, Any]:
    """The unique ``shape`` of ``colour``."""
    return {"op": "unique", "of": {"op": "filter", "of": objects(), "colour": colour, "shape": shape}}


def the(shape: str) -> dict[str, Any]:
    """The unique object of ``shape``."""
    return {"op": "unique", "of": {"op": "filter", "of": objects(), "shape": shape}}


def fixture(name: str) -> dict[str, Any]:
    """A named fixture."""
    return {"op": "fixture", "name": name}


def tower(without: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tower of the scene's cubes (without ``without``)."""
    cubes = {"op": "filter", "of": objects(), "shape": "cube"}
    return {"op": "tower", "of": cubes if without is None else {"op": "except", "of": cubes, "minus": without}}
