"""The one shared visual world of every physground task.

Every task builds its scene here, so all tasks share the table, camera, lights, palette, block and
ball sizes and physics settings. A :class:`World` owns one MuJoCo model and one renderer for the
lifetime of an environment: it has room for the most objects any task needs (``max_blocks`` cubes,
one ball, a ramp, a platform, a push mat, a target zone and a basket); objects a scene does not use
are parked out of view with collisions and gravity switched off.

Scenes are plain, JSON-serialisable dictionaries (the ``info["scene"]`` format)::

    {
      "task": "TowerStability",        # task that made it
      "time": 0.0,                     # simulated seconds since the scene was loaded
      "block_size": 0.06,              # edge length of a cube (m); the unit for tolerances
      "objects": [                     # every object in view, static ones included
        {"id": "cube0", "shape": "cube", "colour": "red", "material": "painted",
         "size": [0.06, 0.06, 0.06],   # full extents (m): box edges, or ball diameter x3
         "position": [x, y, z],        # centre (m), world frame, z up, table top at z = 0
         "orientation": [w, x, y, z],  # unit quaternion, world frame
         "linear_velocity": [...], "angular_velocity": [...],   # world frame (m/s, rad/s)
         "is_static": false, "mass": 0.1296},
        ...
      ],
      "meta": {...}                    # task-specific facts (e.g. the removed block, zone bounds)
    }

Object ids are the names of the MuJoCo bodies/geoms that represent them (``cube0`` ... ``cube7``,
``ball0``, ``ramp``, ``ramp_support``, ``platform``, ``mat``, ``zone``, ``basket``), so ground
truth is read by name, never by index. The camera looks along +y; image x is world x and image
up is world z.
"""

from __future__ import annotations

import math
import os
import weakref
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from physground.envs import gl

gl.configure_gl_backend()
import mujoco  # noqa: E402  (MUJOCO_GL must be set first)

from physground.envs import renderers  # noqa: E402

Scene = dict[str, Any]

BLOCK_SIZE = 0.06
"""Edge length of every cube (m), like a wooden toy block."""
BALL_RADIUS = 0.025
"""Radius of every ball (m)."""
TIMESTEP = 0.005
"""Physics step (s). Checked: a 0.45-block overhang stands and 0.55 falls, as statics says."""
BLOCK_DENSITY = 600.0
BALL_DENSITY = 1000.0
PARK_X = 50.0
"""Parked objects wait at x >= PARK_X, far out of view, with collisions off."""

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.78, 0.12, 0.10),
    "green": (0.16, 0.55, 0.22),
    "blue": (0.13, 0.30, 0.72),
    "yellow": (0.93, 0.78, 0.12),
    "orange": (0.93, 0.47, 0.08),
    "purple": (0.45, 0.20, 0.58),
    "cyan": (0.10, 0.62, 0.72),
}
"""The palette of blocks and balls (linear RGB in [0, 1])."""
MARK_COLOURS: dict[str, tuple[float, float, float]] = {"black": (0.07, 0.07, 0.08)}
"""Colours of flat markings (target zones), kept apart from the object palette."""


@dataclass(frozen=True)
class SurfaceMaterial:
    """Physical and visual properties of a surface.

    Attributes:
        friction: MuJoCo friction triple (sliding, torsional, rolling).
        rgb: Base colour; the visible cue of the friction.
        texture: MuJoCo builtin texture mark ("none", "random") giving the surface its grain.
    """

    friction: tuple[float, float, float]
    rgb: tuple[float, float, float]
    texture: str = "none"


SURFACES: dict[str, SurfaceMaterial] = {
    "ice": SurfaceMaterial((0.08, 0.002, 0.0018), (0.72, 0.88, 0.95)),
    "wood": SurfaceMaterial((0.30, 0.005, 0.0030), (0.72, 0.52, 0.30), "random"),
    "carpet": SurfaceMaterial((0.60, 0.010, 0.0050), (0.45, 0.12, 0.16), "random"),
}
"""Surfaces whose colour signals friction (RollOff platforms, Push mats)."""

BLOCK_FRICTION = (0.6, 0.005, 0.0001)
BALL_FRICTION = (0.8, 0.005, 0.0001)
TABLE_FRICTION = (0.6, 0.005, 0.002)

CLOTHS: dict[str, tuple[float, float, float]] = {
    "linen": (0.80, 0.76, 0.70),
    "grey": (0.62, 0.62, 0.62),
    "sand": (0.76, 0.66, 0.50),
    "slate": (0.40, 0.44, 0.50),
    "sage": (0.56, 0.64, 0.52),
    "white": (0.90, 0.90, 0.88),
}
"""Table cloths. The default look is plain linen, like photographs of blocks on cloth."""
DEFAULT_CLOTH = "linen"

CAMERA_POS = (0.0, -0.88, 0.30)
CAMERA_TARGET = (0.0, 0.0, 0.14)
CAMERA_FOVY = 42.0
LIGHT_POS = (-0.45, -0.6, 1.3)
LIGHT_DIR = (0.35, 0.45, -1.0)
LIGHT_DIFFUSE = 0.75

STATIC_BOXES = ("ramp", "ramp_support", "platform", "mat")
"""Static box geoms whose pose, size and surface a scene sets. They have contact priority, so
their friction (and condim 6: rolling resistance) governs every contact they make."""


DEFAULT_MULTISAMPLES = 4
"""Anti-aliasing samples per pixel of every render unless a config says otherwise (why:
docs/perception.md, "Aliased renders hide millimetres")."""
LEGACY_MULTISAMPLES = 0
"""Anti-aliasing of records (run configs, ablation presets) that have no ``multisamples`` field."""


@dataclass(frozen=True)
class SceneConfig:
    """How the shared world looks and is simulated.

    Attributes:
        image_size: Side of the square RGB observation (pixels); 128 by default, 224 for
            comparisons with real photographs.
        domain_randomization: Randomise light direction and intensity, table cloth colour and
            texture, camera pose and block colour shade at every reset.
        shadows: Render shadows (the most expensive part of rendering on CPU).
        shadow_size: Side of the shadow map (pixels); small keeps CPU rendering fast.
        max_blocks: Cube slots in the model (the most cubes any scene may hold).
        render_images: When False observations are black images: physics-only benchmarking and
            vector-state agents that never look.
        multisamples: Anti-aliasing samples per pixel (MuJoCo's ``offsamples``), 0 to 16. 4, the
            default, lets sub-pixel offsets show, as a camera's pixels do, at about twice the
            CPU render time of 0; 0 renders aliased edges, where scenes whose blocks differ by a
            millimetre can render to identical pixels. Records without the field rendered with
            ``LEGACY_MULTISAMPLES``.
    """

    image_size: int = 128
    domain_randomization: bool = False
    shadows: bool = True
    shadow_size: int = 512
    max_blocks: int = 8
    render_images: bool = True
    multisamples: int = DEFAULT_MULTISAMPLES

    def __post_init__(self) -> None:
        if not isinstance(self.image_size, int) or not 16 <= self.image_size <= 1024:
            raise ValueError(f"scene.image_size must be an integer in [16, 1024], got {self.image_size!r}")
        if not isinstance(self.shadow_size, int) or not 16 <= self.shadow_size <= 8192:
            raise ValueError(f"scene.shadow_size must be an integer in [16, 8192], got {self.shadow_size!r}")
        if not isinstance(self.max_blocks, int) or not 1 <= self.max_blocks <= 32:
            raise ValueError(f"scene.max_blocks must be an integer in [1, 32], got {self.max_blocks!r}")
        if not isinstance(self.multisamples, int) or isinstance(self.multisamples, bool) or not 0 <= self.multisamples <= 16:
            raise ValueError(f"scene.multisamples must be an integer in [0, 16], got {self.multisamples!r}")
        for name in ("domain_randomization", "shadows", "render_images"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"scene.{name} must be true or false, got {getattr(self, name)!r}")

    @classmethod
    def from_value(cls, value: SceneConfig | dict[str, Any] | None) -> SceneConfig:
        """Build a config from an instance, a dict of field values, or None (defaults).

        Raises:
            ValueError: An unknown field name, naming it and the valid ones.
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            valid = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - valid)
            if unknown:
                raise ValueError(f"unknown scene option {unknown[0]!r}; valid: {', '.join(sorted(valid))}")
            return cls(**value)
        raise ValueError(f"scene must be a SceneConfig or a dict, got {type(value).__name__}")


# ----------------------------------------------------------------------------------------------
# Scene dictionaries
# ----------------------------------------------------------------------------------------------

IDENTITY_QUAT = (1.0, 0.0, 0.0, 0.0)


def make_object(
    object_id: str,
    shape: str,
    size: tuple[float, float, float] | list[float],
    position: tuple[float, float, float] | list[float] | np.ndarray,
    *,
    colour: str | None = None,
    material: str = "painted",
    orientation: tuple[float, ...] | list[float] | np.ndarray = IDENTITY_QUAT,
    linear_velocity: tuple[float, ...] | list[float] | np.ndarray = (0.0, 0.0, 0.0),
    angular_velocity: tuple[float, ...] | list[float] | np.ndarray = (0.0, 0.0, 0.0),
    is_static: bool = False,
    mass: float = 0.0,
) -> dict[str, Any]:
    """Return one object of the scene format (see the module docstring).

    Args:
        object_id: MuJoCo name of the body/geom representing it.
        shape: "cube", "ball", "box" (static slab), "basket" or "zone".
        size: Full extents (m), shape (3,).
        position: Centre (m), shape (3,).
    """
    return {
        "id": object_id,
        "shape": shape,
        "colour": colour,
        "material": material,
        "size": [float(v) for v in size],
        "position": [float(v) for v in position],
        "orientation": [float(v) for v in orientation],
        "linear_velocity": [float(v) for v in linear_velocity],
        "angular_velocity": [float(v) for v in angular_velocity],
        "is_static": bool(is_static),
        "mass": float(mass),
    }


def cube_mass() -> float:
    """Mass of one cube (kg)."""
    return BLOCK_DENSITY * BLOCK_SIZE**3


def ball_mass() -> float:
    """Mass of one ball (kg)."""
    return BALL_DENSITY * 4.0 / 3.0 * math.pi * BALL_RADIUS**3


def make_cube(object_id: str, colour: str, position: Any, **kwargs: Any) -> dict[str, Any]:
    """A block of the shared size and colour ``colour`` centred at ``position``."""
    return make_object(object_id, "cube", (BLOCK_SIZE,) * 3, position, colour=colour, mass=cube_mass(), **kwargs)


def make_ball(object_id: str, colour: str, position: Any, **kwargs: Any) -> dict[str, Any]:
    """A ball of the shared radius and colour ``colour`` centred at ``position``."""
    return make_object(
        object_id, "ball", (2 * BALL_RADIUS,) * 3, position, colour=colour, material="rubber", mass=ball_mass(), **kwargs
    )


def new_scene(task: str, objects: list[dict[str, Any]], meta: dict[str, Any] | None = None) -> Scene:
    """Assemble a scene dict at time 0."""
    return {"task": task, "time": 0.0, "block_size": BLOCK_SIZE, "objects": objects, "meta": dict(meta or {})}


def copy_tree(value: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, scalars); several times faster than deepcopy."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def copy_scene(scene: Scene) -> Scene:
    """Deep copy of a scene (safe to edit)."""
    return copy_tree(scene)


def find_object(scene: Scene, object_id: str) -> dict[str, Any]:
    """Return the object ``object_id`` of ``scene``.

    Raises:
        KeyError: No such object (the message names it).
    """
    for obj in scene["objects"]:
        if obj["id"] == object_id:
            return obj
    raise KeyError(f"scene has no object {object_id!r}")


def objects_of_shape(scene: Scene, shape: str) -> list[dict[str, Any]]:
    """All objects of ``scene`` whose shape is ``shape``, in scene order."""
    return [obj for obj in scene["objects"] if obj["shape"] == shape]


def quat_from_axis_angle(axis: tuple[float, float, float], angle: float) -> tuple[float, float, float, float]:
    """Unit quaternion [w, x, y, z] rotating by ``angle`` (rad) about ``axis``."""
    ax = np.asarray(axis, dtype=float)
    ax = ax / np.linalg.norm(ax)
    s = math.sin(angle / 2.0)
    return (math.cos(angle / 2.0), float(ax[0] * s), float(ax[1] * s), float(ax[2] * s))


def tilt_angle(quat: Any) -> float:
    """Angle (rad) between the object's z axis and world up, for a quaternion [w, x, y, z]."""
    w, x, y, z = (float(v) for v in quat)
    up_z = 1.0 - 2.0 * (x * x + y * y)
    return math.acos(max(-1.0, min(1.0, up_z)))


# ----------------------------------------------------------------------------------------------
# The MuJoCo model
# ----------------------------------------------------------------------------------------------


def _look_at_xyaxes(pos: tuple[float, ...], target: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Camera x and y axes (world frame) for a camera at ``pos`` looking at ``target``."""
    forward = np.asarray(target, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    x_axis = np.cross(forward, (0.0, 0.0, 1.0))
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(x_axis, forward)
    return x_axis, y_axis


def _fmt(values: Any) -> str:
    return " ".join(f"{float(v):.6g}" for v in values)


def build_model_xml(config: SceneConfig) -> str:
    """MJCF text of the shared world with room for every task's objects (all parked)."""
    h = BLOCK_SIZE / 2.0
    offscreen = max(256, config.image_size)
    x_axis, y_axis = _look_at_xyaxes(CAMERA_POS, CAMERA_TARGET)
    cloth_textures = "\n".join(
        f'<material name="cloth_{name}" rgba="{_fmt(rgb)} 1" specular="0.05" shininess="0.05"/>'
        f'<material name="backdrop_{name}" rgba="{_fmt(rgb)} 1" specular="0" shininess="0"/>'
        for name, rgb in CLOTHS.items()
    )
    surface_assets = "\n".join(
        (
            f'<texture name="tex_surf_{name}" type="2d" builtin="flat" mark="{mat.texture}" random="0.25" '
            f'rgb1="{_fmt(mat.rgb)}" markrgb="{_fmt(np.clip(np.array(mat.rgb) * 0.8, 0, 1))}" width="64" height="64"/>'
            f'<material name="surf_{name}" texture="tex_surf_{name}" texrepeat="4 4" '
            f'specular="{0.6 if name == "ice" else 0.1}" shininess="{0.8 if name == "ice" else 0.1}"/>'
        )
        for name, mat in SURFACES.items()
    )
    # gravcomp="1" at compile time: MuJoCo only applies gravity compensation (how parked objects
    # float still) when some body had it when compiled; placing an object sets it to 0.
    cubes = "\n".join(
        f'<body name="cube{i}" pos="{PARK_X + i} 0 {h}" gravcomp="1"><freejoint name="cube{i}"/>'
        f'<geom name="cube{i}" type="box" size="{h} {h} {h}" density="{BLOCK_DENSITY}" '
        f'friction="{_fmt(BLOCK_FRICTION)}" rgba="0.5 0.5 0.5 1"/></body>'
        for i in range(config.max_blocks)
    )
    # Each static slab is its own joint-less body, moved through body_pos. Every collidable slot is
    # compiled collidable: MuJoCo filters body pairs by compile-time body_contype/conaffinity, so
    # parking only switches the geom's flags off.
    statics = "\n".join(
        f'<body name="{name}" pos="{PARK_X} -5 0"><geom name="{name}" type="box" size="0.05 0.05 0.01" priority="1" condim="6" '
        f'material="surf_wood" friction="{_fmt(SURFACES["wood"].friction)}"/></body>'
        for name in STATIC_BOXES
    )
    shadow = "true" if config.shadows else "false"
    basket_half, wall = 0.065, 0.006
    return f"""
<mujoco model="physground">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{TIMESTEP}" integrator="implicitfast" cone="pyramidal"/>
  <!-- Parked objects sit far away; a fixed extent keeps the clip planes (scaled by it) sane. -->
  <statistic extent="1" center="0 0 0.15"/>
  <visual>
    <global offwidth="{offscreen}" offheight="{offscreen}"/>
    <quality shadowsize="{config.shadow_size}" offsamples="{config.multisamples}"/>
    <headlight ambient="0.35 0.35 0.35" diffuse="0.25 0.25 0.25" specular="0.05 0.05 0.05"/>
    <map znear="0.05" zfar="20"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="flat" rgb1="0.85 0.85 0.85" rgb2="0.85 0.85 0.85" width="16" height="16"/>
    {cloth_textures}
    {surface_assets}
  </asset>
  <worldbody>
    <light name="key" pos="{_fmt(LIGHT_POS)}" dir="{_fmt(LIGHT_DIR)}" cutoff="50" exponent="1" diffuse="{LIGHT_DIFFUSE} {LIGHT_DIFFUSE} {LIGHT_DIFFUSE}" specular="0.1 0.1 0.1" castshadow="{shadow}"/>
    <light name="fill" directional="true" pos="0 -1 1" dir="0 0.6 -0.4" diffuse="0.2 0.2 0.2" specular="0 0 0" castshadow="false"/>
    <camera name="front" pos="{_fmt(CAMERA_POS)}" xyaxes="{_fmt(x_axis)} {_fmt(y_axis)}" fovy="{CAMERA_FOVY}"/>
    <geom name="table" type="plane" size="8 8 0.1" material="cloth_{DEFAULT_CLOTH}" friction="{_fmt(TABLE_FRICTION)}"/>
    <geom name="backdrop" type="box" size="8 0.01 3" pos="0 3 3" material="backdrop_{DEFAULT_CLOTH}" contype="0" conaffinity="0"/>
    {statics}
    <geom name="zone" type="box" size="0.04 0.05 0.0008" pos="{PARK_X} -5 0" rgba="0.95 0.95 0.95 1" contype="0" conaffinity="0"/>
    {cubes}
    <body name="ball0" pos="{PARK_X} 1 {BALL_RADIUS}" gravcomp="1"><freejoint name="ball0"/>
      <geom name="ball0" type="sphere" size="{BALL_RADIUS}" density="{BALL_DENSITY}" condim="6" friction="{_fmt(BALL_FRICTION)}" rgba="0.5 0.5 0.5 1"/></body>
    <body name="basket" mocap="true" pos="{PARK_X} 2 0">
      <geom name="basket_floor" type="box" size="{basket_half} {basket_half} {wall}" pos="0 0 {wall}" rgba="0.55 0.40 0.25 1"/>
      <geom name="basket_left" type="box" size="{wall} {basket_half} 0.025" pos="{-basket_half} 0 0.025" rgba="0.55 0.40 0.25 1"/>
      <geom name="basket_right" type="box" size="{wall} {basket_half} 0.025" pos="{basket_half} 0 0.025" rgba="0.55 0.40 0.25 1"/>
      <geom name="basket_front" type="box" size="{basket_half} {wall} 0.025" pos="0 {-basket_half} 0.025" rgba="0.55 0.40 0.25 0.35"/>
      <geom name="basket_back" type="box" size="{basket_half} {wall} 0.025" pos="0 {basket_half} 0.025" rgba="0.55 0.40 0.25 1"/>
    </body>
    <body name="ghost0" mocap="true" pos="{PARK_X} 3 0"><geom type="sphere" size="{BALL_RADIUS}" rgba="0.5 0.5 0.5 0.35" contype="0" conaffinity="0"/></body>
    <body name="ghost1" mocap="true" pos="{PARK_X} 3 0"><geom type="sphere" size="{BALL_RADIUS}" rgba="0.5 0.5 0.5 0.18" contype="0" conaffinity="0"/></body>
  </worldbody>
</mujoco>
"""


def project_points(points: np.ndarray | list[list[float]], image_size: int) -> np.ndarray:
    """Pixel coordinates (column, row) of world points in the default front camera's image.

    Args:
        points: World points (m), shape (N, 3).
        image_size: Side of the square image (pixels).

    Returns:
        Array (N, 2); row 0 is the top of the image.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 3)
    x_axis, y_axis = _look_at_xyaxes(CAMERA_POS, CAMERA_TARGET)
    z_axis = np.cross(x_axis, y_axis)
    rel = pts - np.asarray(CAMERA_POS)
    depth = -(rel @ z_axis)
    focal = (image_size / 2) / math.tan(math.radians(CAMERA_FOVY) / 2)
    col = image_size / 2 + focal * (rel @ x_axis) / depth
    row = image_size / 2 - focal * (rel @ y_axis) / depth
    return np.stack([col, row], axis=1)


BASKET_INNER_HALF_WIDTH = 0.065 - 0.006
"""Half the inner width of the basket (m)."""
BASKET_SIZE = (0.13, 0.13, 0.05)
"""Full outer extents of the basket (m)."""
BASKET_RIM_HEIGHT = 0.05


@dataclass
class _Appearance:
    """Per-reset visual parameters (domain randomisation); defaults reproduce the plain look."""

    cloth: str = DEFAULT_CLOTH
    cloth_tint: np.ndarray = field(default_factory=lambda: np.ones(3))
    light_dir: np.ndarray = field(default_factory=lambda: np.asarray(LIGHT_DIR, float))
    light_diffuse: float = LIGHT_DIFFUSE
    camera_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    camera_target_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    shades: dict[str, float] = field(default_factory=dict)


class World:
    """One MuJoCo model, its data and a reusable renderer, shared by every task.

    Args:
        config: Look and simulation settings.

    Attributes:
        model: The ``mujoco.MjModel`` (built once).
        data: The ``mujoco.MjData``.
        physics_steps: Number of ``mj_step`` calls made so far (for benchmarks).
    """

    def __init__(self, config: SceneConfig | None = None) -> None:
        self.config = config or SceneConfig()
        xml = build_model_xml(self.config)
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self.physics_steps = 0
        self._model_key = renderers.model_key(xml)
        self._renderer: mujoco.Renderer | None = None  # shared with worlds of the same XML
        self._release_renderer: weakref.finalize | None = None
        self._appearance = _Appearance()
        m = self.model
        self._cube_ids = [f"cube{i}" for i in range(self.config.max_blocks)]
        self._dynamic_ids = self._cube_ids + ["ball0"]
        self._body = {name: m.body(name).id for name in self._dynamic_ids + list(STATIC_BOXES) + ["basket", "ghost0", "ghost1"]}
        self._geom = {name: m.geom(name).id for name in self._dynamic_ids + list(STATIC_BOXES) + ["zone", "table", "backdrop"]}
        self._qpos_adr = {name: int(m.jnt_qposadr[m.joint(name).id]) for name in self._dynamic_ids}
        self._qvel_adr = {name: int(m.jnt_dofadr[m.joint(name).id]) for name in self._dynamic_ids}
        self._ghost_geom = {name: int(m.body_geomadr[self._body[name]]) for name in ("ghost0", "ghost1")}
        self._mocap = {name: int(m.body_mocapid[self._body[name]]) for name in ("basket", "ghost0", "ghost1")}
        self._material = {name: m.material(f"surf_{name}").id for name in SURFACES}
        self._cloth = {name: m.material(f"cloth_{name}").id for name in CLOTHS}
        self._backdrop = {name: m.material(f"backdrop_{name}").id for name in CLOTHS}
        self._cloth_rgba = {name: m.mat_rgba[i].copy() for name, i in self._cloth.items()}
        self._default_contype = {name: (int(m.geom_contype[i]), int(m.geom_conaffinity[i])) for name, i in self._geom.items()}
        self._cam_id = m.camera("front").id
        self._default_cam_quat = m.cam_quat[self._cam_id].copy()
        self._light_id = m.light("key").id
        self._present: set[str] = set()
        self.load({"task": "empty", "time": 0.0, "block_size": BLOCK_SIZE, "objects": [], "meta": {}})

    # -- loading and reading scenes -----------------------------------------------------------

    @property
    def object_ids(self) -> list[str]:
        """Every id a scene object may use."""
        return self._dynamic_ids + list(STATIC_BOXES) + ["zone", "basket"]

    def load(self, scene: Scene) -> None:
        """Put the world into the state ``scene`` describes; objects it lacks are parked.

        Raises:
            ValueError: An object id the world has no slot for, or an unknown colour/material.
        """
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        present = set()
        for obj in scene["objects"]:
            oid = obj["id"]
            if oid in present:
                raise ValueError(f"scene object id {oid!r} appears twice")
            present.add(oid)
            if oid in self._qpos_adr:
                self._place_dynamic(obj)
            elif oid in STATIC_BOXES or oid == "zone":
                self._place_static(obj)
            elif oid == "basket":
                d.mocap_pos[self._mocap["basket"]] = obj["position"]
            else:
                raise ValueError(f"scene object id {oid!r} has no slot in the world; valid ids: {', '.join(self.object_ids)}")
        for oid in self._dynamic_ids:
            if oid not in present:
                self._park_dynamic(oid)
        for oid in list(STATIC_BOXES) + ["zone"]:
            if oid not in present:
                self._park_static(oid)
        if "basket" not in present:
            d.mocap_pos[self._mocap["basket"]] = (PARK_X, 2.0, 0.0)
        if "ball0" in present:
            for ghost, alpha in (("ghost0", 0.35), ("ghost1", 0.18)):
                m.geom_rgba[self._ghost_geom[ghost]] = (*m.geom_rgba[self._geom["ball0"]][:3], alpha)
        self.set_trail(scene.get("meta", {}).get("trail", []))
        self._present = present
        self._loaded_scene = scene
        d.time = float(scene.get("time", 0.0))
        mujoco.mj_forward(m, d)

    def _colour_rgba(self, name: str | None, oid: str) -> np.ndarray:
        palette = {**COLOURS, **MARK_COLOURS} if oid == "zone" else COLOURS
        if name not in palette:
            raise ValueError(f"object {oid!r} has unknown colour {name!r}; valid: {', '.join(palette)}")
        shade = self._appearance.shades.get(oid, 1.0)
        return np.append(np.clip(np.asarray(palette[name]) * shade, 0.0, 1.0), 1.0)

    def _place_dynamic(self, obj: dict[str, Any]) -> None:
        m, d, oid = self.model, self.data, obj["id"]
        q, v, g, b = self._qpos_adr[oid], self._qvel_adr[oid], self._geom[oid], self._body[oid]
        d.qpos[q : q + 3] = obj["position"]
        quat = np.asarray(obj["orientation"], float)
        d.qpos[q + 3 : q + 7] = quat / np.linalg.norm(quat)
        rot = np.empty(9)
        mujoco.mju_quat2Mat(rot, d.qpos[q + 3 : q + 7])
        d.qvel[v : v + 3] = obj["linear_velocity"]
        d.qvel[v + 3 : v + 6] = rot.reshape(3, 3).T @ np.asarray(obj["angular_velocity"], float)
        m.geom_rgba[g] = self._colour_rgba(obj["colour"], oid)
        m.geom_contype[g], m.geom_conaffinity[g] = self._default_contype[oid]
        m.body_gravcomp[b] = 0.0

    def _park_dynamic(self, oid: str) -> None:
        m, d = self.model, self.data
        q, v, g = self._qpos_adr[oid], self._qvel_adr[oid], self._geom[oid]
        d.qpos[q : q + 7] = (PARK_X + self._dynamic_ids.index(oid), 0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
        d.qvel[v : v + 6] = 0.0
        m.geom_contype[g] = m.geom_conaffinity[g] = 0
        m.body_gravcomp[self._body[oid]] = 1.0

    def _place_static(self, obj: dict[str, Any]) -> None:
        m, oid = self.model, obj["id"]
        g = self._geom[oid]
        half = np.asarray(obj["size"], float) / 2.0
        m.geom_size[g] = half
        if oid == "zone":  # visual only: a geom of the world body
            m.geom_pos[g] = obj["position"]
            m.geom_quat[g] = obj["orientation"]
            m.geom_rgba[g] = self._colour_rgba(obj["colour"], oid)
            return
        b = self._body[oid]
        m.body_pos[b] = obj["position"]
        m.body_quat[b] = obj["orientation"]
        # The collision pipeline's bounding volumes must follow the new size.
        m.geom_aabb[g] = np.concatenate([np.zeros(3), half])
        m.geom_rbound[g] = float(np.linalg.norm(half))
        material = obj["material"]
        if material not in SURFACES:
            raise ValueError(f"object {oid!r} has unknown material {material!r}; valid: {', '.join(SURFACES)}")
        m.geom_friction[g] = SURFACES[material].friction
        m.geom_matid[g] = self._material[material]
        m.geom_contype[g] = m.geom_conaffinity[g] = 1

    def _park_static(self, oid: str) -> None:
        m, g = self.model, self._geom[oid]
        if oid == "zone":
            m.geom_pos[g] = (PARK_X, -5.0, 0.0)
        else:
            m.body_pos[self._body[oid]] = (PARK_X, -5.0, 0.0)
        m.geom_contype[g] = m.geom_conaffinity[g] = 0

    def read(self, scene: Scene) -> Scene:
        """The current state of the objects of ``scene``, as a new scene dict.

        Static objects are copied; dynamic ones get their simulated pose and velocity.
        """
        d = self.data
        out = {**scene, "time": float(d.time), "objects": [], "meta": copy_tree(scene.get("meta", {}))}
        for obj in scene["objects"]:
            new = dict(obj)
            oid = obj["id"]
            if oid in self._qpos_adr:
                q, v = self._qpos_adr[oid], self._qvel_adr[oid]
                new["position"] = d.qpos[q : q + 3].tolist()
                new["orientation"] = d.qpos[q + 3 : q + 7].tolist()
                new["linear_velocity"] = d.qvel[v : v + 3].tolist()
                rot = d.xmat[self._body[oid]].reshape(3, 3)
                new["angular_velocity"] = (rot @ d.qvel[v + 3 : v + 6]).tolist()
            elif oid == "basket":
                new["position"] = d.mocap_pos[self._mocap["basket"]].tolist()
            out["objects"].append(new)
        return out

    def position_index(self, ids: list[str]) -> np.ndarray:
        """Indices into ``data.qpos`` of the centres of ``ids``, shape (len(ids), 3): precompute
        for hot loops (``data.qpos[index]`` gives the positions)."""
        return np.array([[self._qpos_adr[i] + k for k in range(3)] for i in ids], dtype=int).reshape(-1, 3)

    def positions(self, ids: list[str]) -> np.ndarray:
        """Current centres of dynamic objects ``ids``, shape (len(ids), 3), metres."""
        return self.data.qpos[self.position_index(ids)]

    def is_dynamic(self, object_id: str) -> bool:
        """True for objects moved by physics (cubes, balls)."""
        return object_id in self._qpos_adr

    def body_id(self, object_id: str) -> int:
        """MuJoCo body id of a dynamic object or static slab."""
        return self._body[object_id]

    def velocity_index(self, object_id: str) -> int:
        """Index into ``data.qvel`` of the linear velocity (3 entries, world frame) of ``object_id``."""
        return self._qvel_adr[object_id]

    def speeds(self, ids: list[str]) -> np.ndarray:
        """Current linear speeds of dynamic objects ``ids``, shape (len(ids),), m/s."""
        return np.array([np.linalg.norm(self.data.qvel[self._qvel_adr[i] : self._qvel_adr[i] + 3]) for i in ids])

    # -- state as plain data (exact resume) -----------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The loaded scene, the look and MuJoCo's full integration state (warm start included),
        as JSON-able data."""
        size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)
        physics = np.empty(size)
        mujoco.mj_getState(self.model, self.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        a = self._appearance
        appearance = {
            "cloth": a.cloth, "cloth_tint": a.cloth_tint.tolist(), "light_dir": a.light_dir.tolist(), "light_diffuse": a.light_diffuse,
            "camera_offset": a.camera_offset.tolist(), "camera_target_offset": a.camera_target_offset.tolist(), "shades": dict(a.shades),
        }
        return {"scene": copy_tree(self._loaded_scene), "appearance": appearance, "physics": physics.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""
        a = state["appearance"]
        self._apply_appearance(
            _Appearance(
                cloth=a["cloth"], cloth_tint=np.asarray(a["cloth_tint"]), light_dir=np.asarray(a["light_dir"]), light_diffuse=float(a["light_diffuse"]),
                camera_offset=np.asarray(a["camera_offset"]), camera_target_offset=np.asarray(a["camera_target_offset"]), shades=dict(a["shades"]),
            )
        )
        self.load(state["scene"])
        physics = np.asarray(state["physics"], dtype=float)
        if physics.shape != (mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION),):
            raise ValueError(f"world state has {physics.size} numbers; this model needs {mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_INTEGRATION)}")
        mujoco.mj_setState(self.model, self.data, physics, mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.model, self.data)

    # -- simulation -----------------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance physics by ``n`` steps of ``TIMESTEP`` seconds."""
        if n > 0:
            mujoco.mj_step(self.model, self.data, nstep=n)
            self.physics_steps += n

    def set_basket(self, position: np.ndarray | list[float]) -> None:
        """Move the kinematic basket (a mocap body) to ``position`` (m), shape (3,)."""
        self.data.mocap_pos[self._mocap["basket"]] = position

    def set_trail(self, positions: list[list[float]]) -> None:
        """Place the translucent ghost balls (motion cue) at ``positions``, newest first."""
        for k, ghost in enumerate(("ghost0", "ghost1")):
            self.data.mocap_pos[self._mocap[ghost]] = positions[k] if k < len(positions) else (PARK_X, 3.0, 0.0)

    # -- appearance -----------------------------------------------------------------------------

    def randomize_appearance(self, rng: np.random.Generator) -> None:
        """Draw new lighting, cloth, camera pose and block shades from ``rng`` (domain randomisation)."""
        a = _Appearance()
        a.cloth = str(rng.choice(list(CLOTHS)))
        a.cloth_tint = rng.uniform(0.85, 1.15, size=3)
        a.light_dir = np.asarray(LIGHT_DIR) + rng.uniform((-0.6, -0.5, -0.2), (0.6, 0.5, 0.2))
        a.light_diffuse = float(rng.uniform(0.45, 1.0))
        a.camera_offset = rng.uniform((-0.04, -0.06, -0.04), (0.04, 0.06, 0.05))
        a.camera_target_offset = rng.uniform((-0.02, 0.0, -0.02), (0.02, 0.0, 0.02))
        a.shades = {oid: float(rng.uniform(0.75, 1.2)) for oid in self._dynamic_ids}
        self._apply_appearance(a)

    def reset_appearance(self) -> None:
        """Restore the default (plain cloth, fixed light and camera) look."""
        self._apply_appearance(_Appearance())

    def _apply_appearance(self, a: _Appearance) -> None:
        m = self.model
        self._appearance = a
        cloth_id, backdrop_id = self._cloth[a.cloth], self._backdrop[a.cloth]
        m.geom_matid[self._geom["table"]] = cloth_id
        m.geom_matid[self._geom["backdrop"]] = backdrop_id
        tinted = np.clip(self._cloth_rgba[a.cloth][:3] * a.cloth_tint, 0, 1)
        m.mat_rgba[cloth_id, :3] = tinted
        m.mat_rgba[backdrop_id, :3] = np.clip(np.asarray(CLOTHS[a.cloth]) * a.cloth_tint, 0, 1)
        m.light_dir[self._light_id] = a.light_dir / np.linalg.norm(a.light_dir)
        m.light_diffuse[self._light_id] = a.light_diffuse
        pos = np.asarray(CAMERA_POS) + a.camera_offset
        if a.camera_offset.any() or a.camera_target_offset.any():
            x_axis, y_axis = _look_at_xyaxes(tuple(pos), tuple(np.asarray(CAMERA_TARGET) + a.camera_target_offset))
            quat = np.empty(4)
            mujoco.mju_mat2Quat(quat, np.column_stack([x_axis, y_axis, np.cross(x_axis, y_axis)]).ravel())
        else:
            quat = self._default_cam_quat
        m.cam_pos[self._cam_id] = pos
        m.cam_quat[self._cam_id] = quat

    # -- rendering ------------------------------------------------------------------------------

    def render(self) -> np.ndarray:
        """The front camera's view, shape (H, W, 3), uint8 (black if ``render_images`` is off)."""
        size = self.config.image_size
        if not self.config.render_images:
            return np.zeros((size, size, 3), np.uint8)
        if self._renderer is None:
            try:
                self._renderer, handle = renderers.acquire(self.model, self._model_key, size)
            except Exception as exc:  # the GL stack reports many error types
                hint = (
                    "mujoco was imported before physground chose the GL backend: import envs first or set MUJOCO_GL=egl"
                    if gl.IMPORTED_TOO_EARLY
                    else "install Mesa's EGL (libegl1) or set MUJOCO_GL=osmesa"
                )
                raise RuntimeError(f"physground could not create a MuJoCo renderer (MUJOCO_GL={os.environ.get('MUJOCO_GL')}): {exc}; {hint}") from exc
            # a world dropped without close() still gives its use of the renderer back
            self._release_renderer = weakref.finalize(self, renderers.release, handle)
        return renderers.render_view(self._renderer, self.model, self.data, self._cam_id)

    def close(self) -> None:
        """Give the renderer back (its GL context closes when no other world of this XML uses it)."""
        if self._release_renderer is not None:
            self._release_renderer()
            self._release_renderer = None
        self._renderer = None
