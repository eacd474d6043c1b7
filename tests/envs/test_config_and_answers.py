"""Configs reject bad values by name; answers parse from messy text; the world reads by name."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from physground.envs import TASKS, SceneConfig, task_spec
from physground.envs.scene import BLOCK_SIZE, World, find_object, make_ball, make_cube, make_object, new_scene


@pytest.mark.parametrize(
    ("task", "overrides", "field"),
    [
        ("TowerStability", {"min_blocks": -1}, "min_blocks"),
        ("TowerStability", {"max_blocks": 1}, "max_blocks"),
        ("TowerStability", {"colours": ("red", "mauve")}, "colours"),
        ("TowerStability", {"scene": {"image_size": 0}}, "image_size"),
        ("TowerStability", {"scene": {"imagesize": 64}}, "imagesize"),
        ("TowerStability", {"scene": {"multisamples": 32}}, "multisamples"),
        ("TowerStability", {"scene": {"multisamples": True}}, "multisamples"),
        ("TowerStability", {"fall_threshold": float("nan")}, "fall_threshold"),
        ("TowerBuild", {"n_offsets": 8}, "n_offsets"),
        ("TowerBuild", {"attempts": 0}, "attempts"),
        ("TowerBuild", {"colours": ("red", "green", "blue", "yellow")}, "colours"),
        ("BlockRemoval", {"min_blocks": 2}, "min_blocks"),
        ("RollOff", {"ramp_height": (0.08, 0.02)}, "ramp_height"),
        ("RollOff", {"surfaces": ("lava",)}, "surfaces"),
        ("Catch", {"control_period": 0.033}, "control_period"),
        ("Catch", {"ball_colours": ()}, "ball_colours"),
        ("Push", {"strengths": (1.0, 0.5, 2.0, 3.0, 4.0)}, "strengths"),
        ("Push", {"block_colours": ("green", "Green")}, "block_colours"),
        ("Push", {"no_such_option": 1}, "no_such_option"),
    ],
)
def test_bad_config_values_raise_a_value_error_naming_the_field(task, overrides, field):
    with pytest.raises(ValueError, match=field):
        TASKS[task].env_class(**overrides)


def test_bad_config_through_gym_make_names_the_field():
    with pytest.raises(ValueError, match="max_offset"):
        gym.make("physground/TowerStability-v1", max_offset=-0.1)


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown task 'Jenga'.*TowerStability"):
        task_spec("Jenga")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", 0),
        ("No", 1),
        ("  YES!!! ", 0),
        ("The answer is: no.", 1),
        ("No, it will not fall. Yes, I am sure.", 1),
        ("Yes\n", 0),
        ("yesterday it fell", None),
        ("nope", None),
        ("maybe", None),
        ("", None),
        (None, None),
    ],
)
def test_yes_no_parse_answer(text, expected, make_env):
    assert make_env("TowerStability").parse_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected_name"),
    [("+2", "+2"), ("2", "+2"), ("offset -3", "-3"), ("x = -1.", "-1"), ("0", "0"), ("+4", "+4"), ("-5", None), ("1.5", None), ("left", None), ("", None)],
)
def test_tower_build_parse_answer(text, expected_name, make_env):
    env = make_env("TowerBuild")
    index = env.parse_answer(text)
    assert (None if index is None else env.action_names[index]) == expected_name


@pytest.mark.parametrize(("text", "expected"), [("left", 0), ("Move RIGHT.", 2), ("stay", 1), ("stop here", 1), ("leftward", None), ("up", None)])
def test_catch_parse_answer(text, expected, make_env):
    assert make_env("Catch").parse_answer(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("7", 6), ("strength 1", 0), ("I'd say 4.", 3), ("8", None), ("0", None), ("hard", None)])
def test_push_parse_answer(text, expected, make_env):
    assert make_env("Push").parse_answer(text) == expected


def test_step_accepts_free_text_and_scores_unparseable_answers(make_env):
    env = make_env("TowerStability")
    _, info = env.reset(seed=0)
    _, reward, terminated, _, step_info = env.step(info["answer"].upper() + ", definitely.")
    assert reward == 1.0 and step_info["correct"] and terminated
    env.reset(seed=0)
    _, reward, terminated, _, step_info = env.step("I cannot tell")
    assert reward == env.config.invalid_answer_reward and step_info["invalid_answer"] and terminated


def test_tower_build_unparseable_answer_is_the_most_negative(make_env):
    env = make_env("TowerBuild")
    env.reset(seed=0)
    _, reward, *_ = env.step("somewhere")
    cfg = env.config
    assert reward == cfg.invalid_answer_reward < min(cfg.reward_collapse, cfg.reward_miss, cfg.reward_success)


@pytest.mark.parametrize("action", [-1, 2, 1.0, "yes please", True])
def test_out_of_range_or_non_integer_actions(action, make_env):
    env = make_env("RollOff")
    env.reset(seed=0)
    if isinstance(action, str):
        assert env.step(action)[4]["label"] in (0, 1)
        return
    with pytest.raises(ValueError, match="action"):
        env.step(action)


def test_step_before_reset_is_refused(make_env):
    with pytest.raises(RuntimeError, match="reset"):
        make_env("Push").step(0)


def test_world_round_trips_poses_and_velocities():
    world = World(SceneConfig(render_images=False))
    quat = np.array([np.cos(0.2), 0.0, np.sin(0.2), 0.0])
    scene = new_scene(
        "t",
        [
            make_cube("cube3", "blue", (0.1, 0.0, 0.3), orientation=quat, linear_velocity=(0.5, 0.0, 1.0), angular_velocity=(0.0, 2.0, 1.0)),
            make_ball("ball0", "red", (-0.1, 0.0, 0.2), linear_velocity=(0.0, 0.0, -1.0)),
        ],
    )
    world.load(scene)
    read = world.read(scene)
    for obj in scene["objects"]:
        got = find_object(read, obj["id"])
        for key in ("position", "orientation", "linear_velocity", "angular_velocity"):
            np.testing.assert_allclose(got[key], obj[key], atol=1e-9, err_msg=f"{obj['id']}.{key}")
    world.step(20)
    assert find_object(world.read(scene), "ball0")["position"][2] < 0.2


def test_world_rejects_unknown_ids_colours_and_materials():
    world = World(SceneConfig(render_images=False))
    with pytest.raises(ValueError, match="'cube99'"):
        world.load(new_scene("t", [make_cube("cube99", "red", (0, 0, 0.03))]))
    with pytest.raises(ValueError, match="'mauve'"):
        world.load(new_scene("t", [make_cube("cube0", "mauve", (0, 0, 0.03))]))
    with pytest.raises(ValueError, match="'lava'"):
        world.load(new_scene("t", [make_object("platform", "box", (0.2, 0.1, 0.05), (0, 0, 0.025), material="lava", is_static=True)]))
    with pytest.raises(ValueError, match="twice"):
        world.load(new_scene("t", [make_cube("cube0", "red", (0, 0, 0.03))] * 2))


def test_resized_static_slabs_collide_where_they_are_now():
    """Static slabs are moved and resized at run time; the collision pipeline must follow."""
    world = World(SceneConfig(render_images=False))
    for length in (0.1, 0.5):
        platform = make_object("platform", "box", (length, 0.1, 0.06), (0.0, 0.0, 0.03), material="wood", is_static=True)
        world.load(new_scene("t", [platform, make_ball("ball0", "red", (0.2, 0.0, 0.2))]))
        world.step(200)
        z = world.positions(["ball0"])[0][2]
        expected = 0.06 + 0.025 if length / 2 > 0.2 else 0.025
        assert z == pytest.approx(expected, abs=2e-3), length


def test_parked_objects_are_out_of_sight_and_inert():
    world = World(SceneConfig(render_images=False))
    world.load(new_scene("t", [make_cube("cube0", "red", (0.0, 0.0, BLOCK_SIZE / 2))]))
    parked = world.positions(["cube5", "ball0"]).copy()
    world.step(200)
    np.testing.assert_allclose(world.positions(["cube5", "ball0"]), parked)
    assert (parked[:, 0] > 10).all()


def _distinct_renders_of_a_sliding_block(multisamples: int) -> int:
    """Distinct renders of a 3-block tower while its top block slides 1 mm along x in 0.05 mm steps."""
    world = World(SceneConfig(multisamples=multisamples))
    cubes = [make_cube(f"cube{i}", colour, (0.0, 0.0, BLOCK_SIZE * (i + 0.5))) for i, colour in enumerate(("red", "green", "blue"))]
    renders = set()
    for k in range(21):
        cubes[2]["position"] = (0.00013 + 0.00005 * k, 0.0, BLOCK_SIZE * 2.5)
        world.load(new_scene("t", cubes))
        renders.add(world.render().tobytes())
    world.close()
    return len(renders)


def test_multisampled_renders_show_sub_pixel_offsets_that_aliased_renders_hide():
    aliased, multisampled = _distinct_renders_of_a_sliding_block(0), _distinct_renders_of_a_sliding_block(4)
    assert multisampled > aliased + 3, (aliased, multisampled)
