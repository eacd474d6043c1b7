"""Scene graphs: relations on hand-built scenes, conversions, validation, symbolic stability."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from physground.envs import TASKS, SceneConfig
from physground.envs.scene import BLOCK_SIZE, make_ball, make_cube, make_object, new_scene, quat_from_axis_angle
from physground.perception.scene_graph import EDGE_FEATURES, NODE_FEATURES, RELATIONS, SceneGraph, SceneGraphError, settle, symbolic_stability
from tests.conftest import composed_slow

H = BLOCK_SIZE / 2


def tower(offsets: list[float], colours=("red", "green", "blue", "yellow", "orange", "purple")) -> SceneGraph:
    x, cubes = 0.0, []
    for i, off in enumerate(offsets):
        x += off * BLOCK_SIZE
        cubes.append(make_cube(f"cube{i}", colours[i], (x, 0.0, H + i * BLOCK_SIZE)))
    return SceneGraph.from_scene(new_scene("TowerStability", cubes, {"tower": [c["id"] for c in cubes]}))


def test_relations_of_a_small_tower_and_a_block_beside_it():
    scene = new_scene("t", [make_cube("cube0", "red", (0, 0, H)), make_cube("cube1", "blue", (0.2 * BLOCK_SIZE, 0, 3 * H)), make_cube("cube2", "green", (0.1, 0, H))])
    g = SceneGraph.from_scene(scene)
    assert g.related("on_top_of") == {("cube1", "cube0")}
    assert g.related("supports") == {("cube0", "cube1")}
    assert ("cube0", "cube1") in g.related("touching") and ("cube1", "cube0") in g.related("touching")
    assert ("cube0", "cube2") not in g.related("touching")
    assert {("cube0", "cube2"), ("cube1", "cube2")} <= g.related("left_of")
    assert ("cube2", "cube0") in g.related("right_of")
    assert ("cube0", "cube1") not in g.related("left_of"), "0.2 block apart is neither left nor right"


def test_a_ball_resting_on_a_tilted_ramp_touches_it_but_is_not_on_top_of_a_box_below():
    angle = 0.3
    normal = np.array([np.sin(angle), 0, np.cos(angle)])
    ramp = make_object("ramp", "box", (0.2, 0.1, 0.01), (0, 0, 0.1), orientation=quat_from_axis_angle((0, 1, 0), angle), material="wood", is_static=True)
    ball = make_ball("ball0", "red", np.array([0, 0, 0.1]) + normal * (0.005 + 0.025))
    g = SceneGraph.from_scene(new_scene("t", [ramp, ball]))
    assert ("ball0", "ramp") in g.related("touching")
    lifted = make_ball("ball0", "red", np.array([0, 0, 0.1]) + normal * 0.05)
    assert not SceneGraph.from_scene(new_scene("t", [ramp, lifted])).related("touching")


@pytest.mark.parametrize("task", composed_slow(list(TASKS)))
def test_every_task_scene_converts_round_trips_and_scores(task):
    env = TASKS[task].env_class(scene=SceneConfig(render_images=False))
    _, info = env.reset(seed=3)
    g = SceneGraph.from_scene(info["scene"])
    assert len(g.nodes) == len(info["scene"]["objects"])
    again = SceneGraph.from_json(g.to_json())
    assert again.to_json() == g.to_json()
    back = g.to_scene()
    assert [o["position"] for o in back["objects"]] == [o["position"] for o in info["scene"]["objects"]]
    # The tasks' symbolic semantics run on a scene rebuilt from the graph.
    start = env.counterfactual(back, 0)
    assert isinstance(env.events(start, start), dict)


def test_networkx_and_pyg_conversions_follow_the_documented_layout():
    g = tower([0, 0.3, -0.2])
    nxg = g.to_networkx()
    assert isinstance(nxg, nx.MultiDiGraph) and nxg.number_of_nodes() == 3
    assert {d["relation"] for _, _, d in nxg.edges(data=True)} <= set(RELATIONS)
    assert nxg.nodes["cube1"]["colour"] == "green"
    data = g.to_pyg()
    assert data.x.shape == (3, len(NODE_FEATURES)) and data.edge_attr.shape == (len(g.edges), len(EDGE_FEATURES))
    np.testing.assert_allclose(data.x[:, :3].numpy(), [n.position for n in g.nodes], atol=1e-6)
    assert data.x[0, NODE_FEATURES.index("shape=cube")] == 1 and data.x[0, NODE_FEATURES.index("colour=red")] == 1
    assert data.x[:, NODE_FEATURES.index("velocity_known")].tolist() == [1.0, 1.0, 1.0]
    k = [(e.source, e.target, e.relation) for e in g.edges].index(("cube1", "cube0", "on_top_of"))
    assert data.edge_attr[k, EDGE_FEATURES.index("relation=on_top_of")] == 1
    np.testing.assert_allclose(data.edge_attr[k, -3:].numpy(), np.subtract(g.node("cube0").position, g.node("cube1").position), atol=1e-6)
    assert data.edge_index.shape == (2, len(g.edges))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["nodes"][1].update(position=[0, 0]), r"nodes\[1\]\.position must be a list of 3"),
        (lambda d: d["nodes"][0].pop("shape"), r"nodes\[0\]\.shape is missing"),
        (lambda d: d["nodes"][2].update(colour="mauve"), r"nodes\[2\]\.colour must be one of"),
        (lambda d: d["nodes"][0].update(orientation=[2, 0, 0, 0]), r"nodes\[0\]\.orientation must be a unit quaternion"),
        (lambda d: d["nodes"][0].update(size=[0.06, -1, 0.06]), r"nodes\[0\]\.size must be positive"),
        (lambda d: d["nodes"][1].update(id="cube0"), "appears more than once"),
        (lambda d: d["edges"][0].update(target="ghost"), r"edges\[0\]\.target must name a node"),
        (lambda d: d["edges"][0].update(relation="near"), r"edges\[0\]\.relation must be one of"),
        (lambda d: d.update(schema="v0"), "schema must be"),
    ],
)
def test_malformed_json_names_the_field(mutate, message):
    data = json.loads(tower([0, 0.1, 0.1]).to_json())
    mutate(data)
    with pytest.raises(SceneGraphError, match=message):
        SceneGraph.from_json(json.dumps(data))


def test_unparseable_json_is_a_clear_error():
    with pytest.raises(SceneGraphError, match="not valid JSON"):
        SceneGraph.from_json('{"nodes": [')


@pytest.mark.parametrize(("offsets", "stable"), [([0, 0.45], True), ([0, 0.55], False), ([0, 0.3, 0.3], True), ([0, 0.35, 0.35], False), ([0, 0.3, -0.3], True), ([0, 0.4, 0.2], False)])
def test_symbolic_stability_follows_the_centre_of_mass_rule(offsets, stable):
    result = symbolic_stability(tower(offsets))
    assert result["stable"] is stable, result["margins"]


def test_stability_margin_is_the_distance_to_the_support_edge():
    margins = symbolic_stability(tower([0, 0.3]))["margins"]
    # cube1 rests on cube0: contact spans [0.3-0.5, 0.5] blocks; cube1's centre at 0.3 -> 0.2 inside.
    assert margins["cube1"] == pytest.approx(0.2)
    assert margins["cube0"] == pytest.approx(0.5 - 0.15)  # load centre (0 + 0.3)/2 over the table footprint


def test_settle_drops_blocks_into_a_gap_and_floating_blocks_are_unstable():
    scene = new_scene("t", [make_cube("cube0", "red", (0, 0, H)), make_cube("cube2", "blue", (0.55 * BLOCK_SIZE, 0, 5 * H))])
    g = SceneGraph.from_scene(scene)
    assert symbolic_stability(g)["margins"]["cube2"] == -np.inf
    settled = settle(g)
    assert settled.node("cube2").position[2] == pytest.approx(3 * H)
    assert settled.related("on_top_of") == {("cube2", "cube0")}
    assert symbolic_stability(settled)["unstable"] == ["cube2"]
