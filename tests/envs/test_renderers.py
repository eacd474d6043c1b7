"""Worlds of one model XML draw through one shared renderer, with the pixels of their own."""

import gc

import mujoco
import numpy as np

from physground.envs import renderers
from physground.envs.scene import BLOCK_SIZE, SceneConfig, World, make_cube, new_scene


def _tower(world: World, colours: tuple[str, ...], x_shift: float) -> None:
    cubes = [make_cube(f"cube{i}", colour, (x_shift * i, 0.0, BLOCK_SIZE * (i + 0.5))) for i, colour in enumerate(colours)]
    world.load(new_scene("t", cubes))


def _own_renderer_view(world: World, renderer: mujoco.Renderer) -> np.ndarray:
    renderer.update_scene(world.data, camera=world.model.camera("front").id)
    return renderer.render()


def test_shared_renderer_gives_each_world_the_pixels_of_its_own_renderer():
    first, second = World(SceneConfig()), World(SceneConfig())
    _tower(first, ("red", "green", "blue"), 0.01)
    _tower(second, ("yellow", "blue"), -0.02)
    first.randomize_appearance(np.random.default_rng(1))  # cloth, light, camera: per-world model fields
    second.randomize_appearance(np.random.default_rng(2))
    shared = [first.render(), second.render(), first.render()]
    size = first.config.image_size
    own_first, own_second = mujoco.Renderer(first.model, size, size), mujoco.Renderer(second.model, size, size)
    try:
        np.testing.assert_array_equal(shared[0], _own_renderer_view(first, own_first))
        np.testing.assert_array_equal(shared[1], _own_renderer_view(second, own_second))
    finally:
        own_first.close()
        own_second.close()
    np.testing.assert_array_equal(shared[0], shared[2])  # the second world's look did not stay behind
    assert np.abs(shared[0].astype(int) - shared[1].astype(int)).mean() > 5
    first.close()
    second.close()


def test_one_renderer_per_model_closed_with_its_last_world():
    before = renderers.open_renderers()
    worlds = [World(SceneConfig()) for _ in range(3)]
    other_size = World(SceneConfig(image_size=64))
    for world in [*worlds, other_size]:
        world.render()
    assert renderers.open_renderers() == before + 2
    worlds[0].close()
    worlds[0].close()  # closing twice gives back one use only
    assert renderers.open_renderers() == before + 2
    worlds[1].close()
    del worlds[2]  # dropped without close(): its use is given back when it is collected
    gc.collect()
    assert renderers.open_renderers() == before + 1
    other_size.close()
    assert renderers.open_renderers() == before


def test_a_closed_world_renders_again_with_a_fresh_use():
    before = renderers.open_renderers()
    world = World(SceneConfig())
    _tower(world, ("red",), 0.0)
    image = world.render()
    world.close()
    assert renderers.open_renderers() == before
    np.testing.assert_array_equal(world.render(), image)
    assert renderers.open_renderers() == before + 1
    world.close()
