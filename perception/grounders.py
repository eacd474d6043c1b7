"""Grounders turn images into scene graphs: ``Grounder.ground(images) -> list[SceneGraph]``.

- :class:`OracleGrounder` reads the simulator's ground truth (the upper bound).
- :class:`VLMGrounder` asks a VLM for a JSON object list and keeps whatever part of the answer is
  valid, recording every parse error (it never raises on model output).
- :class:`LearnedGrounder` is a DETR-style set-prediction head on the VLM's image tokens, trained
  on simulator labels (``physground train-grounder``), optionally followed by a CNN that refines
  block centres from the raw pixels (``physground train-refiner``, :mod:`perception.refiner`).

Grounded graphs name objects as the simulator does (``cube0`` bottom-most ... , ``ball0``,
``ramp``, ``platform`` ...), so the tasks' symbolic semantics can score them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from physground.envs.scene import BALL_RADIUS, BLOCK_SIZE, COLOURS, SURFACES, Scene, quat_from_axis_angle
from physground.perception.refiner import PositionRefiner, RefinerConfig, images_to_tensor, refine_centres
from physground.perception.scene_graph import Node, SceneGraph, SceneGraphError
from physground.perception.vlm import VLM, ImageLike, to_pil

CLASSES = ("none", "cube", "ball", "ramp", "ramp_support", "platform", "mat", "zone", "basket")
"""What a query can predict: nothing, a movable object, or one of the static slots."""
STATIC_CLASSES = ("ramp", "ramp_support", "platform", "mat", "zone", "basket")
GROUND_COLOURS = tuple(COLOURS) + ("black", "none")
GROUND_MATERIALS = tuple(SURFACES) + ("none",)
SHAPE_OF = {"cube": "cube", "ball": "ball", "zone": "zone", "basket": "basket"}


class Grounder:
    """Images (and optionally prompts) to scene graphs."""

    name = "grounder"

    def ground(self, images: Sequence[ImageLike], prompts: Sequence[str] | None = None, scenes: Sequence[Scene] | None = None) -> list[SceneGraph]:
        """One scene graph per image.

        Args:
            images: B images, uint8 (H, W, 3) or PIL.
            prompts: Optional B task prompts.
            scenes: Ground-truth scenes; only the oracle reads them.
        """
        raise NotImplementedError


class OracleGrounder(Grounder):
    """The simulator's ground truth as a scene graph: the upper bound of grounding."""

    name = "oracle"

    def ground(self, images: Sequence[ImageLike], prompts: Sequence[str] | None = None, scenes: Sequence[Scene] | None = None) -> list[SceneGraph]:
        if scenes is None or len(scenes) != len(images):
            raise ValueError("OracleGrounder needs the ground-truth scene of every image (scenes=[info['scene'], ...])")
        return [SceneGraph.from_scene(s) for s in scenes]


# ----------------------------------------------------------------------------------------------
# Naming and building graphs from perceived objects
# ----------------------------------------------------------------------------------------------


@dataclass
class PerceivedObject:
    """What a grounder saw: a class from ``CLASSES``, attributes, and geometry in metres."""

    kind: str
    colour: str | None
    material: str | None
    position: list[float]
    size: list[float] | None = None
    pitch: float = 0.0
    velocity: list[float] | None = None
    confidence: float = 1.0


def graph_from_objects(objects: list[PerceivedObject], task: str | None = None, meta: dict[str, Any] | None = None) -> SceneGraph:
    """A scene graph with simulator-style ids: cubes ``cube0``... from the lowest up (then left to
    right), ``ball0``, static slots by their class. Movable sizes are the shared world's (a
    perceived size is only used for static slabs). Duplicated static slots keep the most confident.
    """
    nodes: list[Node] = []
    cubes = sorted((o for o in objects if o.kind == "cube"), key=lambda o: (round(o.position[2] / BLOCK_SIZE), o.position[0]))
    balls = sorted((o for o in objects if o.kind == "ball"), key=lambda o: -o.confidence)[:1]
    for i, o in enumerate(cubes):
        nodes.append(Node(f"cube{i}", "cube", o.colour, [BLOCK_SIZE] * 3, list(o.position), material="painted", linear_velocity=o.velocity, mass=0.1296))
    for o in balls:
        nodes.append(Node("ball0", "ball", o.colour, [2 * BALL_RADIUS] * 3, list(o.position), material="rubber", linear_velocity=o.velocity))
    for kind in STATIC_CLASSES:
        best = max((o for o in objects if o.kind == kind), key=lambda o: o.confidence, default=None)
        if best is None:
            continue
        size = [max(1e-3, float(v)) for v in (best.size or [BLOCK_SIZE] * 3)]
        orientation = list(quat_from_axis_angle((0.0, 1.0, 0.0), best.pitch)) if kind == "ramp" else [1.0, 0.0, 0.0, 0.0]
        colour = best.colour if kind == "zone" else None
        material = best.material if kind in ("ramp", "ramp_support", "platform", "mat") else None
        nodes.append(Node(kind, SHAPE_OF.get(kind, "box"), colour, size, list(best.position), orientation=orientation, is_static=True, material=material))
    return SceneGraph(nodes, meta=meta, task=task)


# ----------------------------------------------------------------------------------------------
# VLM grounder: structured output, parsed and validated
# ----------------------------------------------------------------------------------------------

JSON_PROMPT = (
    "List every object as JSON: a list of {\"shape\": cube|ball|ramp|platform|mat|zone|basket, \"colour\": ..., "
    "\"x\": metres, \"z\": metres}."
)


@dataclass
class ParseResult:
    """The objects that could be read from a model's answer and what went wrong."""

    objects: list[PerceivedObject] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_object_list(text: str) -> ParseResult:
    """Read a JSON object list from free text; keep every valid entry, record every problem.

    Accepts the list anywhere in the text (code fences, prose around it), a single object, or a
    truncated list (the complete entries are kept). Never raises.
    """
    result = ParseResult()
    if not isinstance(text, str) or not text.strip():
        result.errors.append("empty answer")
        return result
    match = re.search(r"[\[{]", text)
    if not match:
        result.errors.append("no JSON in the answer")
        return result
    body = text[match.start() :]
    try:
        data, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError as exc:
        result.errors.append(f"malformed JSON ({exc.msg}); kept the complete objects")
        data = []
        for piece in re.findall(r"\{[^{}]*\}", body):
            try:
                data.append(json.loads(piece))
            except json.JSONDecodeError:
                result.errors.append(f"unreadable object {piece[:40]!r}")
    if isinstance(data, dict):
        data = data.get("objects", [data])
    if not isinstance(data, list):
        result.errors.append(f"expected a list of objects, got {type(data).__name__}")
        return result
    for i, item in enumerate(data):
        obj, problem = _perceived_from_json(item, i)
        if problem:
            result.errors.append(problem)
        if obj is not None:
            result.objects.append(obj)
    return result


def _perceived_from_json(item: Any, i: int) -> tuple[PerceivedObject | None, str | None]:
    if not isinstance(item, dict):
        return None, f"objects[{i}] is not an object"
    kind = str(item.get("shape", item.get("kind", ""))).lower()
    if kind == "block":
        kind = "cube"
    if kind not in CLASSES[1:]:
        return None, f"objects[{i}].shape {item.get('shape')!r} is not one of {', '.join(CLASSES[1:])}"
    try:
        x, z = float(item["x"]), float(item["z"])
        y = float(item.get("y", 0.0))
    except (KeyError, TypeError, ValueError):
        return None, f"objects[{i}] needs numeric x and z"
    if not all(map(math.isfinite, (x, y, z))):
        return None, f"objects[{i}] has a non-finite position"
    colour = item.get("colour", item.get("color"))
    problem = None
    if colour is not None and colour not in GROUND_COLOURS:
        problem, colour = f"objects[{i}].colour {colour!r} is unknown; dropped the colour", None
    return PerceivedObject(kind, colour, item.get("material") if item.get("material") in SURFACES else None, [x, y, z]), problem


class VLMGrounder(Grounder):
    """Ask a VLM for a JSON object list and parse it (the valid part plus recorded errors).

    Attributes:
        last_errors: Parse errors of each image of the last ``ground`` call.
    """

    name = "vlm"

    def __init__(self, vlm: VLM, prompt: str = JSON_PROMPT, max_new_tokens: int = 160) -> None:
        self.vlm, self.prompt, self.max_new_tokens = vlm, prompt, max_new_tokens
        self.last_errors: list[list[str]] = []
        self.last_answers: list[str] = []

    def ground(self, images: Sequence[ImageLike], prompts: Sequence[str] | None = None, scenes: Sequence[Scene] | None = None) -> list[SceneGraph]:
        answers = self.vlm.generate(images, [self.prompt] * len(images), max_new_tokens=self.max_new_tokens)
        graphs, self.last_errors, self.last_answers = [], [], answers
        for answer in answers:
            parsed = parse_object_list(answer)
            try:
                graph = graph_from_objects(parsed.objects)
            except SceneGraphError as exc:  # should not happen; keep the promise never to raise
                parsed.errors.append(str(exc))
                graph = SceneGraph([])
            graphs.append(graph)
            self.last_errors.append(parsed.errors)
        return graphs


# ----------------------------------------------------------------------------------------------
# Learned grounder: set prediction on the VLM's image tokens
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrounderHeadConfig:
    """Shape of the set-prediction head.

    Attributes:
        feature_dim: Width of the VLM image tokens it reads.
        num_tokens: Number of image tokens.
        width: Transformer width.
        layers: Decoder layers.
        heads: Attention heads.
        queries: Object slots (more than any scene holds).
    """

    feature_dim: int = 256
    num_tokens: int = 64
    width: int = 192
    layers: int = 3
    heads: int = 4
    queries: int = 12


# Regression targets per slot, in block sizes / radians / m/s: x y z, size x y z, pitch, vx vz.
REGRESSION = ("x", "y", "z", "size_x", "size_y", "size_z", "pitch", "vel_x", "vel_z")


class GrounderHead(nn.Module):
    """DETR-style decoder: learned object queries attend to the image tokens.

    Forward: features (B, T, feature_dim) -> dict of ``class`` (B, Q, |CLASSES|), ``colour``
    (B, Q, |GROUND_COLOURS|), ``material`` (B, Q, |GROUND_MATERIALS|), ``box`` (B, Q, 9).
    """

    def __init__(self, config: GrounderHeadConfig) -> None:
        super().__init__()
        self.config = config
        self.project = nn.Sequential(nn.LayerNorm(config.feature_dim), nn.Linear(config.feature_dim, config.width))
        self.token_position = nn.Parameter(torch.randn(config.num_tokens, config.width) * 0.02)
        self.queries = nn.Parameter(torch.randn(config.queries, config.width) * 0.02)
        layer = nn.TransformerDecoderLayer(config.width, config.heads, 2 * config.width, dropout=0.0, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.layers)
        self.norm = nn.LayerNorm(config.width)
        self.class_head = nn.Linear(config.width, len(CLASSES))
        self.colour_head = nn.Linear(config.width, len(GROUND_COLOURS))
        self.material_head = nn.Linear(config.width, len(GROUND_MATERIALS))
        self.box_head = nn.Sequential(nn.Linear(config.width, config.width), nn.GELU(), nn.Linear(config.width, len(REGRESSION)))

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        if features.dim() != 3 or features.shape[1:] != (self.config.num_tokens, self.config.feature_dim):
            raise ValueError(
                f"grounder head expects features (B, {self.config.num_tokens}, {self.config.feature_dim}), got {tuple(features.shape)}"
            )
        memory = self.project(features) + self.token_position
        queries = self.queries.expand(features.shape[0], -1, -1)
        h = self.norm(self.decoder(queries, memory))
        return {"class": self.class_head(h), "colour": self.colour_head(h), "material": self.material_head(h), "box": self.box_head(h)}


def _pitch(quat: list[float]) -> float:
    w, x, y, z = quat
    return float(math.atan2(2 * (w * y - z * x), 1 - 2 * (y * y + x * x)))


def scene_targets(scene: Scene) -> list[dict[str, Any]]:
    """Training targets of a scene: one per object (class, colour, material, regression)."""
    out = []
    for obj in scene["objects"]:
        kind = obj["shape"] if obj["shape"] in ("cube", "ball") else obj["id"]
        if kind not in CLASSES:
            continue
        colour = obj["colour"] if obj["colour"] in GROUND_COLOURS else "none"
        material = obj["material"] if obj["material"] in SURFACES else "none"
        box = [*(np.asarray(obj["position"]) / BLOCK_SIZE), *(np.asarray(obj["size"]) / BLOCK_SIZE), _pitch(obj["orientation"])]
        box += [obj["linear_velocity"][0], obj["linear_velocity"][2]]
        out.append({"class": CLASSES.index(kind), "colour": GROUND_COLOURS.index(colour), "material": GROUND_MATERIALS.index(material), "box": box})
    return out


def hungarian_match(pred: dict[str, torch.Tensor], targets: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Assign each target to one query of one sample (minimum class + position cost).

    Args:
        pred: One sample's outputs (Q, ...), detached.
        targets: Its targets.

    Returns:
        (query indices, target indices).
    """
    from scipy.optimize import linear_sum_assignment

    if not targets:
        return np.zeros(0, int), np.zeros(0, int)
    prob = pred["class"].softmax(-1)
    classes = torch.tensor([t["class"] for t in targets])
    boxes = torch.tensor([t["box"][:3] for t in targets], dtype=torch.float32)
    cost = -prob[:, classes] + torch.cdist(pred["box"][:, :3], boxes, p=1) * 0.5
    rows, cols = linear_sum_assignment(cost.numpy())
    return rows, cols


def grounder_loss(pred: dict[str, torch.Tensor], targets: list[list[dict[str, Any]]]) -> tuple[torch.Tensor, dict[str, float]]:
    """Set-prediction loss: matched slots learn class, colour, material and geometry; the others
    learn "none" (down-weighted)."""
    b, q, _ = pred["class"].shape
    class_target = torch.zeros((b, q), dtype=torch.long)
    matched, colour_t, material_t, box_t, static_mask, vel_mask = [], [], [], [], [], []
    detached = {k: v.detach().cpu() for k, v in pred.items()}
    for i, sample in enumerate(targets):
        rows, cols = hungarian_match({k: v[i] for k, v in detached.items()}, sample)
        for r, c in zip(rows, cols):
            t = sample[c]
            class_target[i, r] = t["class"]
            matched.append((i, r))
            colour_t.append(t["colour"])
            material_t.append(t["material"])
            box_t.append(t["box"])
            static_mask.append(CLASSES[t["class"]] in STATIC_CLASSES)
            vel_mask.append(CLASSES[t["class"]] == "ball")
    device = pred["class"].device
    weights = torch.ones(len(CLASSES), device=device)
    weights[0] = 0.2
    loss_class = nn.functional.cross_entropy(pred["class"].reshape(b * q, -1), class_target.to(device).reshape(-1), weight=weights)
    if not matched:
        return loss_class, {"class": float(loss_class.detach())}
    idx_b = torch.tensor([m[0] for m in matched], device=device)
    idx_q = torch.tensor([m[1] for m in matched], device=device)
    loss_colour = nn.functional.cross_entropy(pred["colour"][idx_b, idx_q], torch.tensor(colour_t, device=device))
    loss_material = nn.functional.cross_entropy(pred["material"][idx_b, idx_q], torch.tensor(material_t, device=device))
    box_pred = pred["box"][idx_b, idx_q]
    box_true = torch.tensor(box_t, dtype=torch.float32, device=device)
    static = torch.tensor(static_mask, device=device)
    ball = torch.tensor(vel_mask, device=device)
    loss_pos = (box_pred[:, :3] - box_true[:, :3]).abs().mean()
    loss_size = ((box_pred[:, 3:7] - box_true[:, 3:7]).abs().mean(-1) * static).sum() / static.sum().clamp(min=1)
    loss_vel = ((box_pred[:, 7:9] - box_true[:, 7:9]).abs().mean(-1) * ball).sum() / ball.sum().clamp(min=1)
    total = loss_class + loss_colour + loss_material + 5.0 * loss_pos + 2.0 * loss_size + loss_vel
    parts = {"class": loss_class, "colour": loss_colour, "material": loss_material, "position": loss_pos, "size": loss_size, "velocity": loss_vel}
    return total, {k: float(v.detach()) for k, v in parts.items()}


def decode_predictions(pred: dict[str, torch.Tensor], threshold: float = 0.5) -> list[list[PerceivedObject]]:
    """Objects whose "none" probability is below ``threshold``, per sample."""
    prob = pred["class"].softmax(-1)
    out = []
    for i in range(prob.shape[0]):
        objects = []
        for q in range(prob.shape[1]):
            if prob[i, q, 0] >= threshold:
                continue
            kind = CLASSES[int(prob[i, q, 1:].argmax()) + 1]
            box = pred["box"][i, q].tolist()
            colour = GROUND_COLOURS[int(pred["colour"][i, q].argmax())]
            material = GROUND_MATERIALS[int(pred["material"][i, q].argmax())]
            objects.append(
                PerceivedObject(
                    kind,
                    None if colour == "none" else colour,
                    None if material == "none" else material,
                    [v * BLOCK_SIZE for v in box[:3]],
                    size=[v * BLOCK_SIZE for v in box[3:6]],
                    pitch=box[6],
                    velocity=[box[7], 0.0, box[8]] if kind == "ball" else [0.0, 0.0, 0.0],
                    confidence=float(1 - prob[i, q, 0]),
                )
            )
        out.append(objects)
    return out


class LearnedGrounder(Grounder):
    """A set-prediction head on a (frozen) VLM's image tokens.

    Args:
        vlm: The VLM whose image tokens are read.
        head: The trained head.
        threshold: Keep slots whose "none" probability is below this.
        refiner: Optional :class:`~perception.refiner.PositionRefiner` that corrects the centres of
            the kinds it refines from the raw pixels (``physground train-refiner``).
    """

    name = "learned"

    def __init__(self, vlm: VLM, head: GrounderHead, threshold: float = 0.5, refiner: PositionRefiner | None = None) -> None:
        self.vlm, self.head, self.threshold = vlm, head.eval(), threshold
        self.refiner = refiner.eval() if refiner is not None else None

    @torch.no_grad()
    def predict(self, images: Sequence[ImageLike]) -> list[list[PerceivedObject]]:
        """Perceived objects of each image (centres refined when a refiner is attached)."""
        features = self.vlm.vision_features(images).float()
        objects = decode_predictions(self.head.to(features.device)(features), self.threshold)
        if self.refiner is not None:
            self._refine(images, objects)
        return objects

    def _refine(self, images: Sequence[ImageLike], objects: list[list[PerceivedObject]]) -> None:
        """Replace the centres of refinable objects, in place."""
        assert self.refiner is not None
        chosen = [(i, o) for i, objs in enumerate(objects) for o in objs if o.kind in self.refiner.config.kinds]
        if not chosen:
            return
        pil = [to_pil(im) for im in images]
        if len({im.size for im in pil}) > 1:  # one batch tensor: bring mixed sizes to the refiner's grid
            side = self.refiner.config.reference_size
            pil = [im.resize((side, side), Image.BILINEAR) for im in pil]
        pixels = images_to_tensor(np.stack([np.asarray(im) for im in pil]))
        index = torch.tensor([i for i, _ in chosen])
        refined = refine_centres(self.refiner, pixels[index], np.array([o.position for _, o in chosen]))
        for (_, o), centre in zip(chosen, refined):
            o.position = [float(v) for v in centre]

    def ground(self, images: Sequence[ImageLike], prompts: Sequence[str] | None = None, scenes: Sequence[Scene] | None = None) -> list[SceneGraph]:
        return [graph_from_objects(objs) for objs in self.predict(images)]

    def save(self, path: str | Path, card: str | None = None, extra: dict[str, Any] | None = None) -> None:
        """Write ``head.safetensors``, ``config.json``, the refiner's ``refiner.safetensors`` if
        there is one, and a model card to ``path``."""
        from safetensors.torch import save_file

        from physground.envs.files import atomic_write, atomic_write_text

        def save_module(module: nn.Module, name: str) -> None:
            state = {k: v.contiguous() for k, v in module.state_dict().items()}
            atomic_write(path / name, lambda p: save_file(state, str(p)))

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_module(self.head, "head.safetensors")
        meta: dict[str, Any] = {"head": asdict(self.head.config), "threshold": self.threshold, **(extra or {})}
        if self.refiner is not None:
            save_module(self.refiner, "refiner.safetensors")
            meta["refiner"] = asdict(self.refiner.config)
        atomic_write_text(path / "config.json", json.dumps(meta, indent=2))
        if card:
            atomic_write_text(path / "README.md", card)

    @classmethod
    def from_pretrained(cls, path: str | Path, vlm: VLM | str | Path | None = None) -> LearnedGrounder:
        """Load a grounder folder saved by :meth:`save` with the VLM whose image tokens it reads:
        ``vlm`` (a loaded VLM or a checkpoint folder); None: the shipped tiny VLM, the one the
        shipped grounder was trained on.

        Raises:
            FileNotFoundError, ValueError: As :meth:`load`.
        """
        if not isinstance(vlm, VLM):
            from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT

            vlm = VLM.load(vlm if vlm is not None else SHIPPED_CHECKPOINT)
        return cls.load(path, vlm)

    @classmethod
    def load(cls, path: str | Path, vlm: VLM) -> LearnedGrounder:
        """Load a head saved by :meth:`save` onto ``vlm`` (safetensors; shapes checked).

        Raises:
            FileNotFoundError: No head at ``path``.
            ValueError: The head does not fit ``vlm``'s image tokens, or a corrupted file.
        """
        from safetensors.torch import load_file

        path = Path(path)
        if not (path / "head.safetensors").exists() or not (path / "config.json").exists():
            raise FileNotFoundError(f"no learned grounder (head.safetensors + config.json) in {str(path)!r}; train one with `physground train-grounder`")
        try:
            meta = json.loads((path / "config.json").read_text())
            config = GrounderHeadConfig(**meta["head"])
            state = load_file(str(path / "head.safetensors"))
        except Exception as exc:  # json, safetensors and dataclass errors all mean a bad checkpoint
            raise ValueError(f"corrupted learned grounder in {str(path)!r}: {exc}") from exc
        head = GrounderHead(config)
        try:
            head.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"learned grounder in {str(path)!r} does not match its config: {exc}") from exc
        probe = vlm.vision_features([np.zeros((8, 8, 3), np.uint8)])
        if tuple(probe.shape[1:]) != (config.num_tokens, config.feature_dim):
            raise ValueError(f"grounder in {str(path)!r} expects image tokens ({config.num_tokens}, {config.feature_dim}) but this VLM gives "
                             f"{tuple(probe.shape[1:])}: a grounder reads the image tokens of the VLM it was trained with (train one on this VLM with "
                             "`physground train-grounder --vlm ...`)")
        refiner = _load_refiner(path, meta["refiner"]) if "refiner" in meta else None
        return cls(vlm, head, threshold=float(meta.get("threshold", 0.5)), refiner=refiner)


def _load_refiner(path: Path, config: dict[str, Any]) -> PositionRefiner:
    """The refiner saved beside a grounder head (safetensors; shapes checked)."""
    from safetensors.torch import load_file

    try:
        refiner = PositionRefiner(RefinerConfig(**{**config, "kinds": tuple(config["kinds"])}))
        refiner.load_state_dict(load_file(str(path / "refiner.safetensors")))
    except Exception as exc:  # missing file, bad header, wrong shapes or fields: all a bad checkpoint
        raise ValueError(f"corrupted position refiner in {str(path)!r}: {exc}") from exc
    return refiner.eval()
