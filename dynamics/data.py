"""Trajectories of random interaction ("play") in the shared world, for the dynamics model.

Scenes come from every task's proposal distribution, then something happens: a tower stands or
collapses, a block is removed or dropped, a block is pushed or poked, a ball rolls down a ramp or
flies. Each is simulated in MuJoCo for ``seconds`` and recorded every ``dt``. Towers have at most
``max_tower`` blocks (taller ones are held out for generalisation).

Per object (zones excluded: they do not collide) the model sees

- ``state`` (13): position (3, m), orientation quaternion [w, x, y, z] (4), linear velocity (3,
  m/s), angular velocity (3, rad/s), all in the world frame;
- ``props`` (``PROP_DIM``): full size (3, m), shape one-hot (cube, ball, box, basket), material
  one-hot (painted, rubber, ice, wood, carpet), is_static.

With ``PlaySettings.perturb`` every recorded frame but the last also gets a **perturbed pair**: a
copy of the frame with Gaussian noise on the dynamic objects' poses and velocities, and the state
MuJoCo reaches from that copy ``dt`` later (``PlayData.perturbed``). Training on these pairs
(``TransitionDataset(pairs=...)``) shows the model off-trajectory states with their own true
outcome, where input-noise injection maps a noisy state to the clean next state: where the outcome
is decided by less than the noise (a block landing on another either settles or tips), the latter
teaches the mean of the two outcomes (``analysis/blockremoval-impact-noise.py``).

Generation is deterministic in the seed; the cache is an ``.npz`` plus a ``manifest.json``
(settings, counts, sha256), written atomically.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch

from physground.dynamics.quaternions import quat_multiply
from physground.envs import TASKS, SceneConfig
from physground.envs.files import atomic_write, atomic_write_text
from physground.envs.scene import TIMESTEP, Scene, World, find_object
from physground.envs.towers import static_margin, tower_ids
from physground.perception.scene_data import run_chunks, scene_seed

STATE_DIM = 13
SHAPES = ("cube", "ball", "box", "basket")
MATERIALS = ("painted", "rubber", "ice", "wood", "carpet")
PROP_DIM = 3 + len(SHAPES) + len(MATERIALS) + 1
SCENARIOS = ("tower", "removal", "drop", "push", "poke", "roll", "flight")
"""The default play mix: every task's proposal distribution once."""
CRITICAL_MARGINS = {"critical_tower": (-0.02, 0.12), "critical_removal": (-0.02, 0.2)}
"""Static-margin band (block sizes) of each near-edge scenario: a tower as it stands, and the column
left after BlockRemoval's red block is taken out (the drop onto the gap widens the undecided band)."""
NEAR_EDGE_SCENARIOS = tuple(CRITICAL_MARGINS)
"""Opt-in scenarios that keep only towers whose static margin (``envs.towers.static_margin``) lies in
``CRITICAL_MARGINS``: the near-critical towers, where whether a tower falls is decided by MuJoCo's
contact dynamics rather than by statics (docs/dynamics.md)."""
PLAY_SCENARIOS = SCENARIOS + NEAR_EDGE_SCENARIOS
MAX_PROPOSALS = 10_000
DATA_VERSION = 1


def object_props(obj: dict[str, Any]) -> np.ndarray:
    """Static properties of one scene object, shape (PROP_DIM,).

    Raises:
        ValueError: An unknown shape or material, naming the object.
    """
    shape = obj["shape"]
    if shape not in SHAPES:
        raise ValueError(f"object {obj['id']!r}: the dynamics model has no shape {shape!r} (valid: {', '.join(SHAPES)})")
    material = obj.get("material") or ("painted" if shape == "cube" else "rubber" if shape == "ball" else "wood")
    if material not in MATERIALS:
        material = "wood"  # baskets, and surfaces a grounder could not name
    out = np.zeros(PROP_DIM, np.float32)
    out[:3] = obj["size"]
    out[3 + SHAPES.index(shape)] = 1.0
    out[3 + len(SHAPES) + MATERIALS.index(material)] = 1.0
    out[-1] = float(obj.get("is_static", False))
    return out


def scene_arrays(scene: Scene) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, state (N, 13), props (N, PROP_DIM)) of a scene's colliding objects.

    Raises:
        ValueError: A missing or malformed field, naming the object and field.
    """
    ids, states, props = [], [], []
    for obj in scene["objects"]:
        if obj.get("shape") == "zone":
            continue
        for key, n in (("position", 3), ("orientation", 4), ("size", 3)):
            value = obj.get(key)
            if not isinstance(value, (list, tuple)) or len(value) != n:
                raise ValueError(f"object {obj.get('id')!r}: {key} must have {n} numbers, got {value!r}")
        lin = obj.get("linear_velocity") or [0.0, 0.0, 0.0]
        ang = obj.get("angular_velocity") or [0.0, 0.0, 0.0]
        ids.append(obj["id"])
        states.append([*obj["position"], *obj["orientation"], *lin, *ang])
        props.append(object_props(obj))
    state = np.asarray(states, np.float32).reshape(-1, STATE_DIM)
    if not np.isfinite(state).all():
        raise ValueError("scene has non-finite positions or velocities")
    return ids, state, np.asarray(props, np.float32).reshape(-1, PROP_DIM)


def apply_state(scene: Scene, ids: list[str], state: np.ndarray, time_s: float) -> Scene:
    """A copy of ``scene`` with the dynamic objects ``ids`` moved to ``state`` (N, 13)."""
    out = {**scene, "time": time_s, "objects": [dict(o) for o in scene["objects"]], "meta": scene.get("meta", {})}
    for oid, row in zip(ids, state):
        obj = find_object(out, oid)
        if obj.get("is_static"):
            continue
        obj["position"] = row[0:3].tolist()
        obj["orientation"] = row[3:7].tolist()
        obj["linear_velocity"] = row[7:10].tolist()
        obj["angular_velocity"] = row[10:13].tolist()
    return out


# ----------------------------------------------------------------------------------------------
# Play generation
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaySettings:
    """How play trajectories are made (and cached).

    Attributes:
        n_trajectories: Number of trajectories.
        seed: Stream seed (trajectory i uses its own seed derived from it).
        dt: Seconds between recorded frames (a multiple of the simulator's step, ``TIMESTEP``); the
            step of a model trained on the data.
        seconds: Length of each trajectory.
        max_tower: Most blocks in any tower (larger ones are held out).
        scenarios: Scenario mix, cycled in order (any of ``PLAY_SCENARIOS``).
        perturb: Empty (default), or the standard deviations (position m, velocity m/s, rotation
            rad, angular velocity rad/s) of the noise of the perturbed pairs recorded next to
            every frame but the last (module docstring).
    """

    n_trajectories: int = 6000
    seed: int = 0
    dt: float = 0.1
    seconds: float = 3.0
    max_tower: int = 4
    scenarios: tuple[str, ...] = SCENARIOS
    perturb: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        steps = self.dt / TIMESTEP if isinstance(self.dt, (int, float)) else float("nan")
        if not (steps >= 1 and abs(steps - round(steps)) < 1e-6 and self.dt <= self.seconds):
            raise ValueError(f"play dt must be a multiple of the simulator step ({TIMESTEP} s) and at most seconds ({self.seconds}), got {self.dt!r}")
        unknown = [s for s in self.scenarios if s not in PLAY_SCENARIOS]
        if unknown or not self.scenarios:
            named = f"unknown play scenario {unknown[0]!r}" if unknown else "no play scenarios"
            raise ValueError(f"{named}; valid: {', '.join(PLAY_SCENARIOS)}")
        scales = self.perturb
        if scales and not (len(scales) == 4 and all(isinstance(x, (int, float)) and np.isfinite(x) and x >= 0 for x in scales)):
            raise ValueError(f"perturb must be empty or 4 non-negative numbers (position, velocity, rotation, angular velocity), got {scales!r}")

    @property
    def frames(self) -> int:
        return int(round(self.seconds / self.dt)) + 1

    def as_json(self) -> dict[str, Any]:
        """The settings as JSON-able data (the manifest and the cache key); ``perturb`` only where
        set, so caches made before it existed keep their key."""
        out = asdict(self)
        if not self.perturb:
            del out["perturb"]
        return json.loads(json.dumps(out))


def _make_envs(max_tower: int) -> dict[str, Any]:
    quiet = SceneConfig(render_images=False)
    spec = {
        "TowerStability": {"min_blocks": 1, "max_blocks": max_tower},
        "BlockRemoval": {"min_blocks": 3, "max_blocks": max(3, max_tower)},
        "TowerBuild": {"max_blocks": max(1, max_tower - 1)},
        "RollOff": {},
        "Catch": {},
        "Push": {},
    }
    return {name: TASKS[name].env_class(scene=quiet, **kw) for name, kw in spec.items()}


def play_start(envs: dict[str, Any], scenario: str, rng: np.random.Generator) -> Scene:
    """The start scene of one play trajectory of ``scenario``."""
    seed = int(rng.integers(2**31))
    if scenario == "tower":
        return envs["TowerStability"].propose_scene(seed)
    if scenario == "removal":
        env = envs["BlockRemoval"]
        return env.counterfactual(env.propose_scene(seed), None)
    if scenario == "drop":
        env = envs["TowerBuild"]
        return env.counterfactual(env.propose_scene(seed), int(rng.integers(env.action_space.n)))
    if scenario == "push":
        env = envs["Push"]
        return env.counterfactual(env.propose_scene(seed), int(rng.integers(env.action_space.n)))
    if scenario == "poke":
        scene = envs["TowerStability"].propose_scene(seed)
        cubes = [o for o in scene["objects"] if o["shape"] == "cube"]
        target = cubes[int(rng.integers(len(cubes)))]
        target["linear_velocity"] = [float(rng.uniform(-1.2, 1.2)), 0.0, float(rng.uniform(0.0, 0.6))]
        return scene
    if scenario == "roll":
        return envs["RollOff"].propose_scene(seed)
    if scenario == "flight":
        return envs["Catch"].propose_scene(seed)
    if scenario in CRITICAL_MARGINS:
        return near_edge_start(envs, scenario, rng)
    raise ValueError(f"unknown scenario {scenario!r}; valid: {', '.join(PLAY_SCENARIOS)}")


def near_edge_start(envs: dict[str, Any], scenario: str, rng: np.random.Generator) -> Scene:
    """A ``tower`` (or ``removal``) start whose tower's static margin lies in the scenario's
    ``CRITICAL_MARGINS`` band, by rejection (statics only, no simulation)."""
    low, high = CRITICAL_MARGINS[scenario]
    base = "tower" if scenario == "critical_tower" else "removal"
    for _ in range(MAX_PROPOSALS):
        start = play_start(envs, base, rng)
        if low <= tower_margin(start) < high:
            return start
    raise RuntimeError(f"no {base} start with a static margin in [{low}, {high}) in {MAX_PROPOSALS} proposals")


def tower_margin(scene: Scene) -> float:
    """Static margin (block sizes) of the scene's tower column (``meta["tower"]``), ordered by height."""
    cubes = sorted((find_object(scene, i) for i in tower_ids(scene)), key=lambda o: o["position"][2])
    return static_margin(cubes)


def record(
    world: World, start: Scene, ids: list[str], frames: int, dt: float, perturb: tuple[float, ...] = (), rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Simulate ``start`` and record the objects ``ids`` every ``dt``.

    Returns:
        The frames (frames, N, 13), and with ``perturb`` the perturbed pairs (frames - 1, N, 2, 13):
        per frame but the last, a noisy copy of it and MuJoCo's state ``dt`` after that copy (the
        recorded trajectory itself is unchanged by them); else None.

    Raises:
        ValueError: ``perturb`` without ``rng`` (the noise comes from the trajectory's generator).
    """
    if perturb and rng is None:
        raise ValueError("perturbed pairs need the trajectory's random generator (rng)")
    world.load(start)
    out = np.zeros((frames, len(ids), STATE_DIM), np.float32)
    _, state0, _ = scene_arrays(start)
    out[:] = state0  # static objects keep their pose
    pairs = np.repeat(out[:-1, :, None], 2, axis=2) if perturb else None
    dynamic = [(k, world.position_index([i])[0][0], world.velocity_index(i), world.body_id(i)) for k, i in enumerate(ids) if world.is_dynamic(i)]
    steps = int(round(dt / TIMESTEP))
    for f in range(frames):
        if f:
            world.step(steps)
        _read_dynamic(world, dynamic, out[f])
        if pairs is not None and f + 1 < frames:
            _record_perturbed_pair(world, dynamic, steps, perturb, rng, pairs[f])
    return out, pairs


def _read_dynamic(world: World, dynamic: list[tuple[int, int, int, int]], row: np.ndarray) -> None:
    """Write the dynamic objects' current states into ``row`` (N, 13)."""
    d = world.data
    for k, q, v, body in dynamic:
        row[k, 0:7] = d.qpos[q : q + 7]
        row[k, 7:10] = d.qvel[v : v + 3]
        row[k, 10:13] = d.xmat[body].reshape(3, 3) @ d.qvel[v + 3 : v + 6]


def _record_perturbed_pair(
    world: World, dynamic: list[tuple[int, int, int, int]], steps: int, scales: tuple[float, ...], rng: np.random.Generator, pair: np.ndarray,
) -> None:
    """Perturb the current state (noise as ``DynamicsModule`` injects it: position, linear and
    world-frame angular velocity additive, orientation turned by a random rotation), record it in
    ``pair[:, 0]`` and the state ``steps`` simulator steps later in ``pair[:, 1]`` (N, 2, 13), then
    restore MuJoCo's full integration state, so the recorded trajectory goes on unchanged."""
    m, d = world.model, world.data
    saved = np.empty(mujoco.mj_stateSize(m, mujoco.mjtState.mjSTATE_INTEGRATION))
    mujoco.mj_getState(m, d, saved, mujoco.mjtState.mjSTATE_INTEGRATION)
    position, velocity, rotation, angular = scales
    turn, quat, frame = np.empty(4), np.empty(4), np.empty(9)
    for _, q, v, _ in dynamic:
        d.qpos[q : q + 3] += rng.normal(0.0, position, 3)
        axis = rng.normal(0.0, rotation, 3)
        angle = float(np.linalg.norm(axis))
        mujoco.mju_axisAngle2Quat(turn, axis / angle if angle > 0 else np.array([1.0, 0.0, 0.0]), angle)
        mujoco.mju_mulQuat(quat, turn, d.qpos[q + 3 : q + 7].copy())
        d.qpos[q + 3 : q + 7] = quat
        d.qvel[v : v + 3] += rng.normal(0.0, velocity, 3)
        mujoco.mju_quat2Mat(frame, quat)
        d.qvel[v + 3 : v + 6] += frame.reshape(3, 3).T @ rng.normal(0.0, angular, 3)  # local frame
    mujoco.mj_kinematics(m, d)  # orientation matrices of the perturbed poses, for the angular velocity
    _read_dynamic(world, dynamic, pair[:, 0])
    world.step(steps)
    _read_dynamic(world, dynamic, pair[:, 1])
    mujoco.mj_setState(m, d, saved, mujoco.mjtState.mjSTATE_INTEGRATION)


def _play_chunk(args: tuple[PlaySettings, list[int]]) -> list[tuple[str, np.ndarray, np.ndarray, list[str], np.ndarray | None]]:
    settings, indices = args
    envs = _make_envs(settings.max_tower)
    world = envs["TowerStability"].world
    out = []
    for i in indices:
        rng = np.random.default_rng(scene_seed(settings.seed, i))
        scenario = settings.scenarios[i % len(settings.scenarios)]
        start = play_start(envs, scenario, rng)
        ids, _, props = scene_arrays(start)
        states, pairs = record(world, start, ids, settings.frames, settings.dt, settings.perturb, rng)
        out.append((scenario, states, props, ids, pairs))
    return out


@dataclass
class PlayData:
    """Trajectories: ``states`` (sum of N over trajectories, frames, 13), ``props`` (same first
    axis, PROP_DIM), ``offsets`` (T+1,) node offsets per trajectory, ``scenario`` names, and with
    ``settings.perturb`` the perturbed pairs ``perturbed`` (same first axis, frames - 1, 2, 13)."""

    states: np.ndarray
    props: np.ndarray
    offsets: np.ndarray
    scenarios: list[str]
    settings: PlaySettings = field(default_factory=PlaySettings)
    perturbed: np.ndarray | None = None

    @property
    def n_trajectories(self) -> int:
        return len(self.offsets) - 1

    def trajectory(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(states (frames, N, 13), props (N, PROP_DIM)) of trajectory ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.states[a:b].transpose(1, 0, 2), self.props[a:b]

    def stacked(self, trajectories: list[int], device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Several trajectories as one batch of graphs: states (frames, N, 13), props (N, PROP_DIM)
        and the graph index of every object (N,), N summed over ``trajectories``."""
        states, props, batch = [], [], []
        for g, t in enumerate(trajectories):
            s, p = self.trajectory(t)
            states.append(torch.as_tensor(s))
            props.append(torch.as_tensor(p))
            batch.append(torch.full((s.shape[1],), g, dtype=torch.long))
        return torch.cat(states, dim=1).to(device), torch.cat(props).to(device), torch.cat(batch).to(device)


def generate_play(settings: PlaySettings, workers: int = 1) -> PlayData:
    """Simulate ``settings.n_trajectories`` play trajectories (deterministic in the seed)."""
    if settings.n_trajectories < 1:
        raise ValueError(f"n_trajectories must be positive, got {settings.n_trajectories}")
    chunks = [list(range(i, min(i + 200, settings.n_trajectories))) for i in range(0, settings.n_trajectories, 200)]
    results = [item for chunk in run_chunks(_play_chunk, [(settings, c) for c in chunks], workers) for item in chunk]
    counts = [len(r[3]) for r in results]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    states = np.concatenate([r[1].transpose(1, 0, 2) for r in results]).astype(np.float32)
    props = np.concatenate([r[2] for r in results]).astype(np.float32)
    perturbed = np.concatenate([r[4].transpose(1, 0, 2, 3) for r in results]).astype(np.float32) if settings.perturb else None
    return PlayData(states, props, offsets, [r[0] for r in results], settings, perturbed)


def cache_key(settings: PlaySettings) -> str:
    """Short hash naming a cache of these settings."""
    return hashlib.sha256(json.dumps({**settings.as_json(), "version": DATA_VERSION}, sort_keys=True).encode()).hexdigest()[:12]


def load_or_generate(cache_dir: str | Path, settings: PlaySettings, workers: int = 1) -> PlayData:
    """The cached play data of ``settings`` in ``cache_dir``, generated (and cached) if missing.

    Raises:
        ValueError: A cache whose manifest or checksum does not match (it is not used).
    """
    folder = Path(cache_dir) / f"play-{cache_key(settings)}"
    data_file, manifest_file = folder / "play.npz", folder / "manifest.json"
    if data_file.exists() and manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        digest = hashlib.sha256(data_file.read_bytes()).hexdigest()
        if manifest.get("sha256") != digest or manifest.get("settings") != settings.as_json():
            raise ValueError(f"play cache {str(folder)!r} does not match its manifest (checksum or settings); delete it to regenerate")
        with np.load(data_file) as z:
            perturbed = z["perturbed"] if settings.perturb else None
            return PlayData(z["states"], z["props"], z["offsets"], list(manifest["scenarios"]), settings, perturbed)
    started = time.time()
    data = generate_play(settings, workers)
    folder.mkdir(parents=True, exist_ok=True)
    extra = {"perturbed": data.perturbed} if data.perturbed is not None else {}
    atomic_write(data_file, lambda p: np.savez(open(p, "wb"), states=data.states, props=data.props, offsets=data.offsets, **extra))
    manifest = {
        "version": DATA_VERSION,
        "settings": settings.as_json(),
        "trajectories": data.n_trajectories,
        "objects": int(len(data.props)),
        "scenario_counts": {s: data.scenarios.count(s) for s in PLAY_SCENARIOS},
        "scenarios": data.scenarios,
        "seconds_to_generate": round(time.time() - started, 1),
        "sha256": hashlib.sha256(data_file.read_bytes()).hexdigest(),
    }
    atomic_write_text(manifest_file, json.dumps(manifest))
    return data


# ----------------------------------------------------------------------------------------------
# Transitions for training
# ----------------------------------------------------------------------------------------------


PAIRS = ("clean", "perturbed", "both")
"""Which transitions ``TransitionDataset`` serves: the recorded ones, the perturbed pairs, or both."""


def check_pairs(pairs: str) -> None:
    """Raise ValueError naming ``pairs`` unless it is one of ``PAIRS``."""
    if pairs not in PAIRS:
        raise ValueError(f"unknown pairs {pairs!r}; valid: {', '.join(PAIRS)}")


class TransitionDataset(torch.utils.data.Dataset):
    """Transitions of chosen trajectories: a state and the ``horizon`` states that follow it.

    Args:
        data: The play trajectories.
        trajectories: Which of them (indices).
        horizon: Following states per item (1: one-step transitions; more: windows for a
            multi-step rollout loss). Every start frame with ``horizon`` frames after it is used.
        pairs: ``"clean"``: the recorded frames; ``"perturbed"``: the perturbed pairs instead
            (a noisy copy of each frame but the last and MuJoCo's state ``dt`` after it);
            ``"both"``: all of either (twice the items).
        undo_displacement: For perturbed pairs, move the target's position and orientation back by
            the perturbation's displacement and turn (velocities stay MuJoCo's): the motion is the
            noisy state's own, but, as with input-noise injection, the model learns to return a
            displaced body to where it was recorded, which keeps long rollouts of standing towers
            standing.

    Raises:
        ValueError: A horizon below 1 or not shorter than the trajectories, an unknown ``pairs``,
            or perturbed pairs asked of data without them or with a horizon above 1.
    """

    def __init__(self, data: PlayData, trajectories: list[int], horizon: int = 1, pairs: str = "clean", undo_displacement: bool = False) -> None:
        if not 1 <= horizon < data.settings.frames:
            raise ValueError(f"horizon must be in [1, {data.settings.frames - 1}] (frames per trajectory - 1), got {horizon}")
        check_pairs(pairs)
        if pairs != "clean" and data.perturbed is None:
            raise ValueError(f"pairs={pairs!r} needs play data made with perturb (PlaySettings.perturb); this data has none")
        if pairs != "clean" and horizon != 1:
            raise ValueError(f"perturbed pairs are one-step transitions; horizon must be 1, got {horizon}")
        self.data = data
        self.horizon = horizon
        self.targets = None  # the perturbed pairs' targets, where they differ from MuJoCo's state
        if undo_displacement and pairs != "clean":
            self.targets = _undone_targets(data)
        kinds = {"clean": (False,), "perturbed": (True,), "both": (False, True)}[pairs]
        self.index = [(t, f, p) for p in kinds for t in trajectories for f in range(data.settings.frames - horizon)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(state (N, 13), following states (N, horizon, 13), props (N, PROP_DIM))."""
        t, f, perturbed = self.index[i]
        a, b = self.data.offsets[t], self.data.offsets[t + 1]
        if perturbed:
            pair = self.data.perturbed[a:b, f]
            following = pair[:, 1:] if self.targets is None else self.targets[a:b, f, None]
            return pair[:, 0], following, self.data.props[a:b]
        return self.data.states[a:b, f], self.data.states[a:b, f + 1 : f + 1 + self.horizon], self.data.props[a:b]


def undo_displacement(clean: np.ndarray, perturbed: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``after`` (N, 13), the state reached from ``perturbed``, with the perturbation's displacement
    (``perturbed`` - ``clean`` in position) and turn (``perturbed``'s orientation relative to
    ``clean``'s, in the world frame) taken back out; velocities unchanged."""
    out = after.copy()
    out[:, 0:3] = after[:, 0:3] - (perturbed[:, 0:3] - clean[:, 0:3])
    conj = torch.from_numpy(perturbed[:, 3:7] * np.array([1.0, -1.0, -1.0, -1.0], np.float32))
    back = quat_multiply(torch.from_numpy(clean[:, 3:7]), conj)  # turn^-1, where turn = perturbed ⊗ clean^-1
    out[:, 3:7] = quat_multiply(back, torch.from_numpy(after[:, 3:7])).numpy()
    return out


def _undone_targets(data: PlayData) -> np.ndarray:
    """:func:`undo_displacement` of every perturbed pair, in one pass: (sum of N, frames - 1, 13)."""
    pair = data.perturbed
    flat = [a.reshape(-1, STATE_DIM) for a in (data.states[:, :-1], pair[:, :, 0], pair[:, :, 1])]
    return undo_displacement(*flat).reshape(pair.shape[:2] + (STATE_DIM,))


def collate_transitions(batch: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Concatenate graphs: ``state``, ``next_state`` (N, 13), ``future`` (horizon, N, 13) (the
    states after ``state``; ``future[0]`` is ``next_state``), ``props`` (N, P), ``batch`` (N,)."""
    future = torch.from_numpy(np.concatenate([b[1] for b in batch])).transpose(0, 1).contiguous()
    return {
        "state": torch.from_numpy(np.concatenate([b[0] for b in batch])),
        "next_state": future[0],
        "future": future,
        "props": torch.from_numpy(np.concatenate([b[2] for b in batch])),
        "batch": torch.cat([torch.full((len(b[0]),), i, dtype=torch.long) for i, b in enumerate(batch)]),
    }


def split_trajectories(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint train/validation trajectory indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(n * val_fraction))
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())

