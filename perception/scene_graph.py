"""Scene graphs: objects as nodes, symbolic relations as edges.

A :class:`SceneGraph` is built from the ``info["scene"]`` format of any task (or from a
grounder's output) and converts to networkx, to PyTorch Geometric and to/from JSON. Relations are
computed from geometry, never learned:

- ``on_top_of`` (a -> b): a's bottom face rests on b's top face (within 15 % of a block size)
  and their footprints overlap; ``supports`` is its reverse;
- ``touching``: the surfaces are within 5 mm (exact sphere/oriented-box distance; boxes by their
  world-axis bounding boxes);
- ``left_of`` / ``right_of``: centres more than half a block size apart along x (image left/right).

PyG feature layout (``to_pyg``; ``NODE_FEATURES`` / ``EDGE_FEATURES`` name every column):

- ``x`` (N, 18 + |SHAPES| + |COLOURS| + |MATERIALS|): position (3, m), orientation quaternion
  [w, x, y, z] (4), linear velocity (3, m/s), angular velocity (3, rad/s), size (3, full extents,
  m), mass (1, kg), is_static (1), velocity_known (1), then one-hots of shape, colour, material.
- ``edge_index`` (2, E): source, target node indices.
- ``edge_attr`` (E, |RELATIONS| + 3): one-hot relation, then target minus source position (m).

The symbolic stability check (:func:`symbolic_stability`) is a transparent baseline: every block
must have the centre of mass of everything it carries over its support region.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from physground.envs.scene import BLOCK_SIZE, COLOURS, MARK_COLOURS, SURFACES

SHAPES = ("cube", "ball", "box", "basket", "zone")
COLOUR_NAMES = tuple(COLOURS) + tuple(MARK_COLOURS) + ("none",)
MATERIALS = ("painted", "rubber", "paint") + tuple(SURFACES) + ("none",)
RELATIONS = ("on_top_of", "supports", "touching", "left_of", "right_of")
NODE_FEATURES = (
    ["pos_x", "pos_y", "pos_z", "quat_w", "quat_x", "quat_y", "quat_z", "vel_x", "vel_y", "vel_z", "angvel_x", "angvel_y", "angvel_z"]
    + ["size_x", "size_y", "size_z", "mass", "is_static", "velocity_known"]
    + [f"shape={s}" for s in SHAPES]
    + [f"colour={c}" for c in COLOUR_NAMES]
    + [f"material={m}" for m in MATERIALS]
)
EDGE_FEATURES = [f"relation={r}" for r in RELATIONS] + ["delta_x", "delta_y", "delta_z"]
SCHEMA = "physground.scene_graph/1"

ON_TOP_TOLERANCE = 0.15 * BLOCK_SIZE
TOUCH_TOLERANCE = 0.005
LEFT_RIGHT_MARGIN = 0.5 * BLOCK_SIZE


@dataclass
class Node:
    """One object. Sizes are full extents (m), the orientation a unit quaternion [w, x, y, z];
    velocities are None when unknown (e.g. grounded from one image)."""

    id: str
    shape: str
    colour: str | None
    size: list[float]
    position: list[float]
    orientation: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
    linear_velocity: list[float] | None = None
    angular_velocity: list[float] | None = None
    is_static: bool = False
    material: str | None = None
    mass: float = 0.0


@dataclass(frozen=True)
class Edge:
    """A directed relation ``source --relation--> target``."""

    source: str
    target: str
    relation: str


class SceneGraphError(ValueError):
    """A malformed scene graph; the message names the offending field."""


def _rotation(quat: list[float]) -> np.ndarray:
    w, x, y, z = np.asarray(quat, float) / np.linalg.norm(quat)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def world_aabb(node: Node) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) corners of the node's world-axis bounding box (m)."""
    centre = np.asarray(node.position, float)
    if node.shape == "ball":
        half = np.full(3, node.size[0] / 2)
    else:
        half = np.abs(_rotation(node.orientation)) @ (np.asarray(node.size, float) / 2)
    return centre - half, centre + half


def surface_distance(a: Node, b: Node) -> float:
    """Gap between two objects' surfaces (m; negative when overlapping). Exact for a ball against
    a ball or an oriented box; boxes against boxes use their world-axis bounding boxes."""
    if a.shape == "ball" and b.shape == "ball":
        return float(np.linalg.norm(np.subtract(a.position, b.position)) - (a.size[0] + b.size[0]) / 2)
    if b.shape == "ball":
        a, b = b, a
    if a.shape == "ball":
        rot = _rotation(b.orientation)
        local = rot.T @ (np.asarray(a.position, float) - np.asarray(b.position, float))
        half = np.asarray(b.size, float) / 2
        outside = np.maximum(np.abs(local) - half, 0.0)
        inside = min(0.0, float(np.max(np.abs(local) - half)))
        return float(np.linalg.norm(outside) + inside - a.size[0] / 2)
    lo_a, hi_a = world_aabb(a)
    lo_b, hi_b = world_aabb(b)
    gaps = np.maximum(lo_b - hi_a, lo_a - hi_b)
    return float(np.linalg.norm(np.maximum(gaps, 0.0)) if (gaps > 0).any() else gaps.max())


def _overlap(lo1: float, hi1: float, lo2: float, hi2: float) -> float:
    return min(hi1, hi2) - max(lo1, lo2)


def rests_on(a: Node, b: Node) -> bool:
    """True when ``a`` sits on top of ``b``: a's bottom at b's top, footprints overlapping."""
    if a is b or a.is_static or b.shape in ("zone",):
        return False
    lo_a, hi_a = world_aabb(a)
    lo_b, hi_b = world_aabb(b)
    if abs(lo_a[2] - hi_b[2]) > ON_TOP_TOLERANCE:
        return False
    return _overlap(lo_a[0], hi_a[0], lo_b[0], hi_b[0]) > 1e-4 and _overlap(lo_a[1], hi_a[1], lo_b[1], hi_b[1]) > 1e-4


def compute_relations(nodes: list[Node]) -> list[Edge]:
    """Every symbolic relation between the nodes (see the module docstring)."""
    edges = []
    for a in nodes:
        for b in nodes:
            if a is b:
                continue
            if rests_on(a, b):
                edges.append(Edge(a.id, b.id, "on_top_of"))
                edges.append(Edge(b.id, a.id, "supports"))
            if a.id < b.id and a.shape != "zone" and b.shape != "zone" and surface_distance(a, b) < TOUCH_TOLERANCE:
                edges.append(Edge(a.id, b.id, "touching"))
                edges.append(Edge(b.id, a.id, "touching"))
            if a.position[0] < b.position[0] - LEFT_RIGHT_MARGIN:
                edges.append(Edge(a.id, b.id, "left_of"))
                edges.append(Edge(b.id, a.id, "right_of"))
    return edges


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise SceneGraphError(message)


def _numbers(value: Any, n: int, where: str, optional: bool = False) -> list[float] | None:
    if value is None and optional:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == n
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    _require(ok, f"{where} must be a list of {n} finite numbers, got {value!r}")
    return [float(v) for v in value]


def node_from_dict(data: Any, where: str) -> Node:
    """Validate one node (a scene object or a JSON node) and build it.

    Raises:
        SceneGraphError: The first bad field, named (e.g. ``nodes[2].position``).
    """
    _require(isinstance(data, dict), f"{where} must be an object, got {type(data).__name__}")
    for key in ("id", "shape", "size", "position"):
        _require(key in data, f"{where}.{key} is missing")
    _require(isinstance(data["id"], str) and data["id"], f"{where}.id must be a non-empty string, got {data['id']!r}")
    _require(data["shape"] in SHAPES, f"{where}.shape must be one of {', '.join(SHAPES)}, got {data['shape']!r}")
    colour = data.get("colour")
    _require(colour is None or colour in COLOUR_NAMES, f"{where}.colour must be one of {', '.join(COLOUR_NAMES)} or null, got {colour!r}")
    material = data.get("material")
    _require(material is None or material in MATERIALS, f"{where}.material must be one of {', '.join(MATERIALS)} or null, got {material!r}")
    size = _numbers(data["size"], 3, f"{where}.size")
    _require(all(s > 0 for s in size), f"{where}.size must be positive, got {size}")
    orientation = _numbers(data.get("orientation", [1.0, 0.0, 0.0, 0.0]), 4, f"{where}.orientation")
    _require(abs(np.linalg.norm(orientation) - 1.0) < 1e-3, f"{where}.orientation must be a unit quaternion, got {orientation}")
    is_static = data.get("is_static", False)
    _require(isinstance(is_static, bool), f"{where}.is_static must be true or false, got {is_static!r}")
    mass = data.get("mass", 0.0)
    _require(isinstance(mass, (int, float)) and not isinstance(mass, bool) and mass >= 0, f"{where}.mass must be a number >= 0, got {mass!r}")
    return Node(
        id=data["id"],
        shape=data["shape"],
        colour=colour,
        size=size,
        position=_numbers(data["position"], 3, f"{where}.position"),
        orientation=orientation,
        linear_velocity=_numbers(data.get("linear_velocity"), 3, f"{where}.linear_velocity", optional=True),
        angular_velocity=_numbers(data.get("angular_velocity"), 3, f"{where}.angular_velocity", optional=True),
        is_static=is_static,
        material=material,
        mass=float(mass),
    )


class SceneGraph:
    """Objects and their symbolic relations.

    Args:
        nodes: The objects (ids unique).
        meta: Task facts carried along (the scene's ``meta``: tower ids, removed block ...).
        task: The task the scene belongs to.
        edges: Relations; computed from the nodes when None.
    """

    def __init__(self, nodes: list[Node], meta: dict[str, Any] | None = None, task: str | None = None, edges: list[Edge] | None = None) -> None:
        ids = [n.id for n in nodes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        _require(not duplicates, f"nodes: id {duplicates[0]!r} appears more than once" if duplicates else "")
        self.nodes = list(nodes)
        self.meta = dict(meta or {})
        self.task = task
        self.edges = compute_relations(self.nodes) if edges is None else list(edges)

    def __repr__(self) -> str:
        return f"SceneGraph({len(self.nodes)} nodes, {len(self.edges)} edges, task={self.task!r})"

    def node(self, node_id: str) -> Node:
        """The node called ``node_id``."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"scene graph has no node {node_id!r}")

    def related(self, relation: str) -> set[tuple[str, str]]:
        """(source, target) pairs linked by ``relation``."""
        return {(e.source, e.target) for e in self.edges if e.relation == relation}

    # -- conversions ----------------------------------------------------------------------------

    @classmethod
    def from_scene(cls, scene: dict[str, Any]) -> SceneGraph:
        """From the ``info["scene"]`` format of any task (validated)."""
        _require(isinstance(scene, dict) and isinstance(scene.get("objects"), list), "scene.objects must be a list of objects")
        nodes = [node_from_dict(o, f"objects[{i}]") for i, o in enumerate(scene["objects"])]
        return cls(nodes, meta=scene.get("meta", {}), task=scene.get("task"))

    def to_scene(self, time: float = 0.0) -> dict[str, Any]:
        """Back to the scene format, so the tasks' ``counterfactual``/``events`` can score it
        (unknown velocities become zero)."""
        objects = []
        for n in self.nodes:
            obj = asdict(n)
            obj["linear_velocity"] = list(n.linear_velocity or [0.0, 0.0, 0.0])
            obj["angular_velocity"] = list(n.angular_velocity or [0.0, 0.0, 0.0])
            obj["material"] = n.material or "none"
            objects.append(obj)
        return {"task": self.task, "time": time, "block_size": BLOCK_SIZE, "objects": objects, "meta": json.loads(json.dumps(self.meta))}

    def to_networkx(self) -> Any:
        """A ``networkx.MultiDiGraph``: node attributes are the node fields, edges carry
        ``relation``."""
        import networkx as nx

        graph = nx.MultiDiGraph(task=self.task, **{"meta": self.meta})
        for n in self.nodes:
            graph.add_node(n.id, **asdict(n))
        for e in self.edges:
            graph.add_edge(e.source, e.target, relation=e.relation)
        return graph

    def to_pyg(self) -> Any:
        """A ``torch_geometric.data.Data`` with the layout in the module docstring."""
        import torch
        from torch_geometric.data import Data

        index = {n.id: i for i, n in enumerate(self.nodes)}
        rows = []
        for n in self.nodes:
            known = n.linear_velocity is not None
            row = list(n.position) + list(n.orientation) + list(n.linear_velocity or [0.0] * 3) + list(n.angular_velocity or [0.0] * 3)
            row += list(n.size) + [n.mass, float(n.is_static), float(known)]
            row += _one_hot(n.shape, SHAPES) + _one_hot(n.colour or "none", COLOUR_NAMES) + _one_hot(n.material or "none", MATERIALS)
            rows.append(row)
        x = torch.tensor(rows, dtype=torch.float32).reshape(len(self.nodes), len(NODE_FEATURES))
        edge_index = torch.tensor([[index[e.source] for e in self.edges], [index[e.target] for e in self.edges]], dtype=torch.long).reshape(2, -1)
        attrs = [
            _one_hot(e.relation, RELATIONS) + list(np.subtract(self.node(e.target).position, self.node(e.source).position)) for e in self.edges
        ]
        edge_attr = torch.tensor(attrs, dtype=torch.float32).reshape(len(self.edges), len(EDGE_FEATURES))
        return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, node_ids=[n.id for n in self.nodes])

    def to_json(self) -> str:
        """JSON text (schema ``physground.scene_graph/1``)."""
        payload = {
            "schema": SCHEMA,
            "task": self.task,
            "nodes": [asdict(n) for n in self.nodes],
            "edges": [asdict(e) for e in self.edges],
            "meta": self.meta,
        }
        return json.dumps(payload, indent=1)

    @classmethod
    def from_json(cls, text: str) -> SceneGraph:
        """Parse and validate JSON from :meth:`to_json`.

        Raises:
            SceneGraphError: Malformed JSON or a bad field, named.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SceneGraphError(f"scene graph is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
        _require(isinstance(data, dict), "scene graph JSON must be an object")
        _require(data.get("schema") == SCHEMA, f"schema must be {SCHEMA!r}, got {data.get('schema')!r}")
        _require(isinstance(data.get("nodes"), list), "nodes must be a list")
        nodes = [node_from_dict(n, f"nodes[{i}]") for i, n in enumerate(data["nodes"])]
        ids = {n.id for n in nodes}
        _require(len(ids) == len(nodes), "nodes: an id appears more than once")
        _require(isinstance(data.get("edges", []), list), "edges must be a list")
        edges = []
        for i, e in enumerate(data.get("edges", [])):
            _require(isinstance(e, dict), f"edges[{i}] must be an object")
            _require(e.get("relation") in RELATIONS, f"edges[{i}].relation must be one of {', '.join(RELATIONS)}, got {e.get('relation')!r}")
            for end in ("source", "target"):
                _require(e.get(end) in ids, f"edges[{i}].{end} must name a node, got {e.get(end)!r}")
            edges.append(Edge(e["source"], e["target"], e["relation"]))
        meta = data.get("meta", {})
        _require(isinstance(meta, dict), "meta must be an object")
        return cls(nodes, meta=meta, task=data.get("task"), edges=edges)


def _one_hot(value: str, vocabulary: tuple[str, ...]) -> list[float]:
    return [1.0 if value == v else 0.0 for v in vocabulary]


# ----------------------------------------------------------------------------------------------
# Symbolic physics: settling and stability
# ----------------------------------------------------------------------------------------------


def settle(graph: SceneGraph) -> SceneGraph:
    """Drop every unsupported movable block straight down until it rests on something (or the
    table), lowest first: the symbolic picture of a counterfactual such as a removed block."""
    nodes = [Node(**asdict(n)) for n in graph.nodes]
    movable = sorted((n for n in nodes if not n.is_static and n.shape == "cube"), key=lambda n: n.position[2])
    for n in movable:
        lo, hi = world_aabb(n)
        floor = 0.0
        for other in nodes:
            if other is n or other.shape == "zone":
                continue
            olo, ohi = world_aabb(other)
            if ohi[2] <= lo[2] + ON_TOP_TOLERANCE and _overlap(lo[0], hi[0], olo[0], ohi[0]) > 1e-4 and _overlap(lo[1], hi[1], olo[1], ohi[1]) > 1e-4:
                floor = max(floor, float(ohi[2]))
        n.position[2] -= lo[2] - floor
    return SceneGraph(nodes, meta=graph.meta, task=graph.task)


def symbolic_stability(graph: SceneGraph) -> dict[str, Any]:
    """Does every block carry its load over its support? (centre-of-mass rule)

    For each movable block, the centre of mass of the block and everything resting on it
    (transitively) must lie within its support region: the hull of its contact rectangles with
    what it rests on (or its own footprint on the table). Rectangles are combined by their x and y
    extents, which is exact for the single columns of physground's towers. Equal masses are assumed
    where masses are unknown (0).

    Returns:
        ``stable`` (bool), ``margins`` (id -> signed distance of that centre of mass inside its
        support region, block sizes; negative = outside) and ``unstable`` (ids with negative margin).
    """
    on_top = graph.related("on_top_of")
    above: dict[str, set[str]] = {n.id: set() for n in graph.nodes}
    for a, b in on_top:
        above[b].add(a)

    def load(node_id: str, seen: set[str]) -> set[str]:
        result = {node_id}
        for upper in above[node_id] - seen:
            result |= load(upper, seen | {node_id})
        return result

    margins: dict[str, float] = {}
    for n in graph.nodes:
        if n.is_static or n.shape != "cube":
            continue
        carried = [graph.node(i) for i in load(n.id, set())]
        weights = np.array([c.mass if c.mass > 0 else 1.0 for c in carried])
        com = (np.array([c.position for c in carried]) * weights[:, None]).sum(0) / weights.sum()
        lo, hi = world_aabb(n)
        supports = [graph.node(b) for a, b in on_top if a == n.id]
        if supports:
            rects = []
            for s in supports:
                slo, shi = world_aabb(s)
                rects.append((max(lo[0], slo[0]), min(hi[0], shi[0]), max(lo[1], slo[1]), min(hi[1], shi[1])))
            x0, x1 = min(r[0] for r in rects), max(r[1] for r in rects)
            y0, y1 = min(r[2] for r in rects), max(r[3] for r in rects)
        elif lo[2] < ON_TOP_TOLERANCE:  # on the table
            x0, x1, y0, y1 = lo[0], hi[0], lo[1], hi[1]
        else:
            margins[n.id] = -math.inf  # floating: nothing holds it up
            continue
        margins[n.id] = float(min(com[0] - x0, x1 - com[0], com[1] - y0, y1 - com[1]) / BLOCK_SIZE)
    unstable = sorted(i for i, m in margins.items() if m < 0)
    return {"stable": not unstable, "margins": margins, "unstable": unstable}
