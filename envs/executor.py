"""Executing programs of the query language (``envs.programs``) on scenes.

One executor for every task: selectors pick objects of a scene dict, the intervention builds the
rollout's start, a **dynamics backend** (any callable ``(start scene, seconds) -> end scene``:
MuJoCo for labels, a learned model for imagination) simulates it, and the predicates read the
outcome from start and end. Scenes may be the simulator's or a grounder's (the selectors read the
objects only, never a task's bookkeeping).

``evaluate`` returns an *events* dict: what the predicates measured (keys below), the answer, and
the roles every task names, so that an agent reads any task's outcome through one vocabulary:
``asked`` (a yes/no program: the key of its answer), ``goal`` / ``failure`` (a choose program: the
keys of the goal and failure predicates' results) and ``distance_to_goal`` (m).

Measured keys: ``fell`` -> ``any_fell``, ``fallen``, ``max_displacement`` (block sizes);
``on_top`` -> ``placed_on_top``, ``landed_on_table``, ``height_before``, ``height_after`` (m);
``off`` -> ``left_surface``, ``final_x``, ``travelled_on_surface`` (m); ``inside`` a zone ->
``in_zone``, ``distance_to_target``, ``final_x``; ``inside`` a basket -> ``caught``, ``offset``,
``ball_x``, ``basket_x``; ``lands_outside`` -> ``missed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from physground.envs.programs import OPTION, Program, ProgramError, validate
from physground.envs.scene import BASKET_INNER_HALF_WIDTH, BASKET_RIM_HEIGHT, BLOCK_SIZE, Scene, copy_scene, find_object, tilt_angle

Backend = Callable[[Scene, float], Scene]
"""A dynamics backend: (start scene, simulated seconds) -> end scene."""
ARENA_MARGIN = 0.15
"""A ball farther than this beyond the arena's half width (m) has left the arena."""


@dataclass(frozen=True)
class ExecutionContext:
    """The world's constants that give a question's units their metres and speeds.

    Attributes:
        fall_threshold: A block has fallen when it ends more than this many block sizes from
            where it should rest.
        grid: x (m) of the release positions, from the most negative index to the most positive
            (position ``k`` is ``grid[k + len(grid) // 2]``).
        strengths: Initial speeds (m/s) of push strengths 1, 2, ...
        drop_gap: Gap (block sizes) between the top of ``above`` and a dropped block's bottom.
        basket_step: How far one basket move goes (m).
        arena_half_width: The basket stays within +-this (m); a ball ``ARENA_MARGIN`` beyond it
            has left the arena.
    """

    fall_threshold: float = 0.5
    grid: tuple[float, ...] = tuple(float(x) for x in np.linspace(-2.0, 2.0, 9) * BLOCK_SIZE)
    strengths: tuple[float, ...] = (0.45, 0.59, 0.79, 1.04, 1.37, 1.82, 2.40)
    drop_gap: float = 0.25
    basket_step: float = 0.025
    arena_half_width: float = 0.28


# -- selectors ----------------------------------------------------------------------------------


def select(node: dict[str, Any], scene: Scene, path: str = "selector") -> list[dict[str, Any]]:
    """The objects of ``scene`` that the selector ``node`` picks (in scene order, towers bottom
    to top).

    Raises:
        ProgramError: A selector that cannot be applied (``unique`` of none or several, a missing
            fixture), naming its path.
    """
    op = node["op"]
    if op == "objects":
        return list(scene["objects"])
    if op == "filter":
        found = select(node["of"], scene, f"{path}.of")
        for key, attr in (("colour", "colour"), ("shape", "shape"), ("material", "material")):
            if key in node:
                found = [o for o in found if o.get(attr) == node[key]]
        return found
    if op == "fixture":
        found = [o for o in scene["objects"] if o["id"] == node["name"]]
        if not found:
            raise ProgramError(f"{path}: the scene has no fixture {node['name']!r}")
        return found
    if op == "except":
        minus = {o["id"] for o in select(node["minus"], scene, f"{path}.minus")}
        return [o for o in select(node["of"], scene, f"{path}.of") if o["id"] not in minus]
    if op == "tower":
        cubes = [o for o in select(node["of"], scene, f"{path}.of") if o["shape"] == "cube"]
        if not cubes:
            raise ProgramError(f"{path}: the tower selects nothing (no cubes)")
        return sorted(cubes, key=lambda o: o["position"][2])
    if op == "top":
        found = select(node["of"], scene, f"{path}.of")
        if not found:
            raise ProgramError(f"{path}: 'top' of a selection that selects nothing")
        return [max(found, key=lambda o: o["position"][2])]
    if op == "unique":
        found = select(node["of"], scene, f"{path}.of")
        if len(found) != 1:
            what = "nothing" if not found else f"{len(found)} objects ({', '.join(o['id'] for o in found)})"
            raise ProgramError(f"{path}: 'unique' selects {what}, not exactly one")
        return found
    raise ProgramError(f"{path}: {op!r} is not a selector")


def _one(node: dict[str, Any], scene: Scene, path: str) -> dict[str, Any]:
    found = select(node, scene, path)
    if len(found) != 1:
        raise ProgramError(f"{path}: needs exactly one object, the selection holds {len(found)}")
    return found[0]


def _by_id(scene: Scene, object_id: str) -> dict[str, Any]:
    for o in scene["objects"]:
        if o["id"] == object_id:
            return o
    raise ProgramError(f"the rollout lost object {object_id!r}")


# -- options and interventions ------------------------------------------------------------------


def option_values(program: Program) -> list[Any]:
    """The option set of a ``choose`` program (positions, strengths or moves), in action order."""
    if program["head"] != "choose":
        return ["yes", "no"]
    return list(program["options"]["values"])


def _resolve(value: Any, option: Any, path: str) -> Any:
    if value == OPTION:
        if option is None:
            raise ProgramError(f"{path}: the program needs an option to consider, none was given")
        return option
    return value


def intervene(program: Program, scene: Scene, context: ExecutionContext, option: Any = None) -> Scene:
    """The rollout's start: ``scene`` with the program's intervention applied (a copy).

    Args:
        program: A valid program.
        scene: Scene dict (simulator's or grounded).
        context: The world's constants.
        option: The option value put in for ``"$option"`` (a ``choose`` program); None otherwise.

    Raises:
        ProgramError: The intervention cannot be applied to this scene.
    """
    do = program["do"]
    out = copy_scene(scene)
    op, path = do["op"], "program.do"
    if op == "none":
        return out
    if op == "remove":
        gone = select(do["target"], out, f"{path}.target")
        if not gone:
            raise ProgramError(f"{path}.target: selects nothing to remove")
        ids = {o["id"] for o in gone}
        lowest = min(gone, key=lambda o: o["position"][2])
        out["objects"] = [o for o in out["objects"] if o["id"] not in ids]
        out["meta"]["removed"] = {"id": lowest["id"], "position": list(lowest["position"])}
        if "tower" in out["meta"]:
            out["meta"]["tower"] = [i for i in out["meta"]["tower"] if i not in ids]
        return out
    if op == "drop":
        block = _one(do["target"], out, f"{path}.target")
        position = _resolve(do["position"], option, f"{path}.position")
        half = len(context.grid) // 2
        if not -half <= position <= half:
            raise ProgramError(f"{path}.position: {position} is outside the release grid -{half}..+{half}")
        above = select(do["above"], out, f"{path}.above")
        if not above:
            raise ProgramError(f"{path}.above: selects nothing to drop onto")
        top_z = max(o["position"][2] for o in above)
        block["position"] = [float(context.grid[position + half]), 0.0, top_z + BLOCK_SIZE + context.drop_gap * BLOCK_SIZE]
        block["orientation"] = [1.0, 0.0, 0.0, 0.0]
        block["linear_velocity"] = [0.0, 0.0, 0.0]
        block["angular_velocity"] = [0.0, 0.0, 0.0]
        out["meta"]["released_at"] = position
        return out
    if op == "push":
        block = _one(do["target"], out, f"{path}.target")
        strength = _resolve(do["strength"], option, f"{path}.strength")
        if not 1 <= strength <= len(context.strengths):
            raise ProgramError(f"{path}.strength: {strength} is outside the strengths 1..{len(context.strengths)}")
        block["linear_velocity"] = [float(context.strengths[strength - 1]), 0.0, 0.0]
        return out
    if op == "move":
        actor = _one(do["target"], out, f"{path}.target")
        direction = _resolve(do["direction"], option, f"{path}.direction")
        x = actor["position"][0]
        half = context.arena_half_width
        step = {"left": -1, "stay": 0, "right": 1}[direction] * context.basket_step
        actor["position"][0] = float(np.clip(x + step, -half, half))
        out["meta"]["moved_from"] = {"id": actor["id"], "x": float(x)}
        return out
    raise ProgramError(f"{path}: {op!r} is not an intervention")


# -- towers ---------------------------------------------------------------------------------------


def expected_rest_positions(start: Scene, ids: list[str]) -> np.ndarray:
    """Where the blocks ``ids`` should be if the tower stands, shape (len(ids), 3).

    A block stays where it is, except that blocks above a removed one (``meta["removed"]``)
    settle one block size lower.
    """
    expected = np.array([find_object(start, i)["position"] for i in ids], dtype=float)
    removed = start.get("meta", {}).get("removed")
    if removed is not None:
        above = expected[:, 2] > removed["position"][2] + 1e-6
        expected[above, 2] -= BLOCK_SIZE
    return expected


def tower_displacements(start: Scene, end: Scene, ids: list[str]) -> np.ndarray:
    """Distance (m) of each block ``ids`` in ``end`` from its expected rest position, shape (n,)."""
    expected = expected_rest_positions(start, ids)
    final = np.array([find_object(end, i)["position"] for i in ids], dtype=float)
    return np.linalg.norm(final - expected, axis=1)


def tower_fall_events(start: Scene, end: Scene, ids: list[str], threshold: float) -> dict[str, Any]:
    """``any_fell`` (a block moved more than ``threshold`` block sizes) and per-block details."""
    disp = tower_displacements(start, end, ids) / BLOCK_SIZE
    fallen = [i for i, d in zip(ids, disp) if d > threshold]
    return {"any_fell": bool(fallen), "fallen": fallen, "max_displacement": float(disp.max()) if len(disp) else 0.0}


# -- predicates and measures --------------------------------------------------------------------


def _half_extent_x(obj: dict[str, Any]) -> float:
    return float(obj["size"][0]) / 2


def _zone_distance(x: float, zone: dict[str, Any]) -> float:
    start, end = zone["position"][0] - zone["size"][0] / 2, zone["position"][0] + zone["size"][0] / 2
    return float(max(0.0, start - x, x - end))


def _inside(of: dict[str, Any], region: dict[str, Any], path: str) -> tuple[bool, dict[str, Any]]:
    pos = of["position"]
    if region["shape"] == "zone":
        distance = _zone_distance(pos[0], region)
        return distance == 0.0, {"in_zone": distance == 0.0, "distance_to_target": distance, "final_x": float(pos[0])}
    if region["shape"] == "basket":
        basket = region["position"]
        inside = bool(
            abs(pos[0] - basket[0]) < BASKET_INNER_HALF_WIDTH and abs(pos[1] - basket[1]) < BASKET_INNER_HALF_WIDTH and pos[2] < basket[2] + BASKET_RIM_HEIGHT
        )
        return inside, {"caught": inside, "offset": float(pos[0] - basket[0]), "ball_x": float(pos[0]), "basket_x": float(basket[0])}
    raise ProgramError(f"{path}: a region must be a zone or a basket, got a {region['shape']} ({region['id']!r})")


def predicate(node: dict[str, Any], start: Scene, end: Scene, context: ExecutionContext, path: str) -> tuple[bool, dict[str, Any]]:
    """Evaluate a predicate on a rollout: (truth, measured details).

    Selections are made on ``start`` (the scene after the intervention); positions are read
    from ``end``.
    """
    op = node["op"]
    if op == "not":
        value, details = predicate(node["arg"], start, end, context, f"{path}.arg")
        return not value, details
    if op == "fell":
        ids = [o["id"] for o in select(node["of"], start, f"{path}.of")]
        events = tower_fall_events(start, end, ids, context.fall_threshold)
        return events["any_fell"], events
    if op == "on_top":
        block = _one(node["of"], start, f"{path}.of")
        base = [o["id"] for o in select(node["on"], start, f"{path}.on")]
        fall = tower_fall_events(start, end, base, context.fall_threshold)
        top_before = max(_by_id(start, i)["position"][2] for i in base)
        placed = _by_id(end, block["id"])
        z = placed["position"][2]
        upright = tilt_angle(placed["orientation"]) < np.radians(20.0)
        on_top = bool(not fall["any_fell"] and z > top_before + 0.75 * BLOCK_SIZE and upright)
        heights = [_by_id(end, i)["position"][2] for i in base] + [z]
        return on_top, {
            **fall, "placed_on_top": on_top, "landed_on_table": bool(z < 0.75 * BLOCK_SIZE),
            "height_before": top_before + BLOCK_SIZE / 2, "height_after": max(heights) + BLOCK_SIZE / 2,
        }
    if op == "off":
        obj = _one(node["of"], start, f"{path}.of")
        surface = _one(node["surface"], start, f"{path}.surface")
        top = surface["position"][2] + surface["size"][2] / 2
        near, far = surface["position"][0] - surface["size"][0] / 2, surface["position"][0] + surface["size"][0] / 2
        x, z = _by_id(end, obj["id"])["position"][0], _by_id(end, obj["id"])["position"][2]
        left = bool(z < top or x > far + _half_extent_x(obj))
        return left, {"left_surface": left, "final_x": float(x), "travelled_on_surface": float(max(0.0, min(x, far) - near))}
    if op == "inside":
        obj = _one(node["of"], start, f"{path}.of")
        region = _one(node["region"], end, f"{path}.region")
        return _inside(_by_id(end, obj["id"]), region, f"{path}.region")
    if op == "lands_outside":
        obj = _one(node["of"], start, f"{path}.of")
        region = _one(node["region"], end, f"{path}.region")
        final = _by_id(end, obj["id"])
        inside, _ = _inside(final, region, f"{path}.region")
        on_table = bool(final["position"][2] < float(final["size"][2]) / 2 * 1.2 and not inside)
        out_of_arena = bool(abs(final["position"][0]) > context.arena_half_width + ARENA_MARGIN)
        missed = on_table or out_of_arena
        return missed, {"missed": missed}
    raise ProgramError(f"{path}: {op!r} is not a predicate")


def measure(node: dict[str, Any], start: Scene, end: Scene, path: str) -> float:
    """Evaluate a measure (m) on a rollout."""
    if node["op"] != "distance":
        raise ProgramError(f"{path}: {node['op']!r} is not a measure")
    obj = _by_id(end, _one(node["of"], start, f"{path}.of")["id"])
    region = _one(node["region"], end, f"{path}.region")
    if region["shape"] == "zone":
        return _zone_distance(obj["position"][0], region)
    return float(abs(obj["position"][0] - region["position"][0]))


def evaluate(program: Program, start: Scene, end: Scene, context: ExecutionContext) -> dict[str, Any]:
    """The events of a rollout from ``start`` to ``end`` under ``program`` (module docstring).

    Returns:
        For ``yes_no``: the predicates' details, ``answer`` (bool) and ``asked = "answer"``.
        For ``choose``: the details, ``reached`` / ``failed`` (bools), ``goal = "reached"``,
        ``failure = "failed"`` (with a failure predicate) and ``distance_to_goal`` (m, with a
        distance measure).
    """
    if program["head"] == "yes_no":
        answer, details = predicate(program["ask"], start, end, context, "program.ask")
        return {**details, "answer": bool(answer), "asked": "answer"}
    events: dict[str, Any] = {}
    if "failure" in program:
        failed, details = predicate(program["failure"], start, end, context, "program.failure")
        events.update(details, failed=bool(failed), failure="failed")
    reached, details = predicate(program["goal"], start, end, context, "program.goal")
    events.update(details, reached=bool(reached), goal="reached")
    if "distance" in program:
        events["distance_to_goal"] = measure(program["distance"], start, end, "program.distance")
    return events


def execute(program: Program, scene: Scene, backend: Backend, context: ExecutionContext) -> list[dict[str, Any]]:
    """Run ``program`` on ``scene`` with ``backend``: the events of each option (one entry for a
    ``yes_no`` program), each with its rollout's ``start`` and ``end`` scenes.

    Raises:
        ProgramError: An invalid program, or one that cannot be applied to the scene.
    """
    validate(program)
    options = option_values(program) if program["head"] == "choose" else [None]
    out = []
    for option in options:
        start = intervene(program, scene, context, option)
        end = backend(start, float(program["horizon"]))
        out.append({"option": option, "start": start, "end": end, "events": evaluate(program, start, end, context)})
    return out
