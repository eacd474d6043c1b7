"""Questions and answers about *static* scene content, for pre-training the tiny VLM.

Everything here is read off one still scene: colours, counts, the colour order of a tower from top
to bottom, left/right, the highest object, surfaces, captions and (opt-in) how far each block is
shifted from the one below. Nothing asks what will happen (no fall, land or catch): the pre-trained
model knows images and words, not physics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from physground.envs.scene import BLOCK_SIZE, COLOURS, Scene

QUESTION_TYPES = ("count", "colour", "order", "left_right", "highest", "material", "exists", "caption", "offset")
"""Every question type; held-out accuracy is reported per type."""
OPT_IN_TYPES = ("offset",)
"""Types asked only when requested (``scene_questions(..., optional=...)``, ``pretrain-vlm --extra``),
so that the default data, and the checkpoints made from it, stay as they were."""

TEMPLATES: dict[str, tuple[str, ...]] = {
    "count": ("How many blocks are there?", "How many cubes can you see?", "Count the blocks.", "What is the number of blocks?"),
    "colour": ("What colour is {target}?", "Which colour does {target} have?", "Name the colour of {target}."),
    "order": (
        "List the colours of the tower's blocks from top to bottom.",
        "From top to bottom, what colours are the tower's blocks?",
        "Name the tower's block colours from the top down.",
    ),
    "left_right": ("Is {a} left or right of {b}?", "Is {a} on the left or the right of {b}?", "Left or right: where is {a} relative to {b}?"),
    "highest": ("Which object is highest?", "What is the highest object?", "Which thing is at the top?"),
    "material": ("What is the {surface} made of?", "What surface does the {surface} have?", "Is the {surface} ice, wood or carpet?"),
    "exists": ("Is there a {colour} block?", "Do you see a {colour} block?", "Is any block {colour}?"),
    "caption": ("Describe the scene.", "What do you see?", "Describe the image."),
    "offset": ("Where is {a} relative to {b} below it?", "How far is {a} shifted from {b} under it?", "How is {a} placed on {b}?"),
}


@dataclass(frozen=True)
class QA:
    """One question about a scene, its answer and its type."""

    question: str
    answer: str
    kind: str


def normalize_answer(text: str) -> str:
    """Lower case, single spaces, no trailing full stop: how answers are compared."""
    return " ".join(text.lower().strip().rstrip(".").split())


def _cubes(scene: Scene) -> list[dict[str, Any]]:
    return [o for o in scene["objects"] if o["shape"] == "cube"]


def _ball(scene: Scene) -> dict[str, Any] | None:
    return next((o for o in scene["objects"] if o["shape"] == "ball"), None)


def tower_colours(scene: Scene) -> list[str]:
    """Colours of the tower's blocks from top to bottom ([] when the scene has no tower)."""
    ids = scene.get("meta", {}).get("tower")
    if not ids:
        return []
    blocks = [o for o in _cubes(scene) if o["id"] in ids]
    return [o["colour"] for o in sorted(blocks, key=lambda o: -o["position"][2])]


def _surface(scene: Scene) -> tuple[str, str] | None:
    for obj in scene["objects"]:
        if obj["id"] in ("platform", "mat"):
            return obj["id"], obj["material"]
    return None


def _name(obj: dict[str, Any]) -> str:
    if obj["shape"] == "basket":
        return "the basket"
    return f"the {obj['colour']} {'ball' if obj['shape'] == 'ball' else 'block'}"


def caption(scene: Scene) -> str:
    """One templated sentence naming what is in the scene."""
    order = tower_colours(scene)
    ball, surface = _ball(scene), _surface(scene)
    if order:
        text = f"a tower of {len(order)} block{'s' if len(order) > 1 else ''}: {', '.join(order)} from top to bottom."
        loose = [o for o in _cubes(scene) if o["id"] not in scene["meta"]["tower"]]
        if loose:
            text = text[:-1] + f", and a {loose[0]['colour']} block beside it."
        return text
    if ball is not None and surface is not None:
        return f"a {ball['colour']} ball on a ramp above a {surface[1]} platform."
    if ball is not None:
        return f"a {ball['colour']} ball above a basket."
    cubes = _cubes(scene)
    if cubes and surface is not None:
        return f"a {cubes[0]['colour']} block on a {surface[1]} mat with a dark zone."
    raise ValueError(f"no caption template for a scene of task {scene.get('task')!r}")


def offset_answer(upper_x: float, lower_x: float) -> str:
    """How far a block's centre is shifted along x from the block below, to a tenth of a block size:
    "centred", or e.g. "0.3 left" / "0.3 right" (left = towards negative x, the image's left)."""
    tenths = int(round(abs(upper_x - lower_x) / BLOCK_SIZE * 10))
    if tenths == 0:
        return "centred"
    return f"{tenths / 10:.1f} {'left' if upper_x < lower_x else 'right'}"


def scene_questions(scene: Scene, rng: np.random.Generator, optional: tuple[str, ...] = ()) -> dict[str, QA]:
    """Every question type that applies to ``scene``, with a randomly worded question each.

    Args:
        scene: A static scene.
        rng: Chooses wordings and targets.
        optional: Opt-in types (``OPT_IN_TYPES``) to ask as well; they are drawn after the default
            ones, so the default questions do not depend on them.

    Returns:
        Question type -> QA (types that do not apply, or would be ambiguous, are left out).
    """
    out: dict[str, QA] = {}

    def ask(kind: str, answer: str, **fields: str) -> None:
        template = TEMPLATES[kind][int(rng.integers(len(TEMPLATES[kind])))]
        out[kind] = QA(template.format(**fields), answer, kind)

    cubes, ball = _cubes(scene), _ball(scene)
    order = tower_colours(scene)
    if cubes:
        ask("count", str(len(cubes)))
    targets = []
    if ball is not None:
        targets.append(("the ball", ball["colour"]))
    if order:
        targets.append(("the top block of the tower", order[0]))
        targets.append(("the bottom block of the tower", order[-1]))
    elif len(cubes) == 1:
        targets.append(("the block", cubes[0]["colour"]))
    if targets:
        target, colour = targets[int(rng.integers(len(targets)))]
        ask("colour", colour, target=target)
    if len(order) >= 2:
        ask("order", ", ".join(order))
    # Left/right only between objects clearly apart (more than 0.6 block sizes along x).
    movable = [o for o in scene["objects"] if o["shape"] in ("cube", "ball", "basket")]
    pairs = [(a, b) for a in movable for b in movable if a is not b and abs(a["position"][0] - b["position"][0]) > 0.6 * BLOCK_SIZE]
    if pairs:
        a, b = pairs[int(rng.integers(len(pairs)))]
        ask("left_right", "left" if a["position"][0] < b["position"][0] else "right", a=_name(a), b=_name(b))
    # Highest among blocks and balls, by top edge, only when clearly highest.
    candidates = sorted((o for o in scene["objects"] if o["shape"] in ("cube", "ball")), key=lambda o: -(o["position"][2] + o["size"][2] / 2))
    if candidates and (len(candidates) == 1 or (candidates[0]["position"][2] - candidates[1]["position"][2]) > 0.5 * BLOCK_SIZE):
        ask("highest", _name(candidates[0]))
    surface = _surface(scene)
    if surface is not None:
        ask("material", surface[1], surface=surface[0])
    if cubes:
        present = {o["colour"] for o in cubes}
        absent = [c for c in COLOURS if c not in present]
        if absent and rng.random() < 0.5:
            ask("exists", "no", colour=str(absent[int(rng.integers(len(absent)))]))
        else:
            ask("exists", "yes", colour=sorted(present)[int(rng.integers(len(present)))])
    ask("caption", caption(scene))
    if "offset" in optional:
        tower = sorted((o for o in cubes if o["id"] in scene.get("meta", {}).get("tower", ())), key=lambda o: o["position"][2])
        if len(tower) >= 2:
            k = int(rng.integers(1, len(tower)))
            upper, lower = tower[k], tower[k - 1]
            ask("offset", offset_answer(upper["position"][0], lower["position"][0]), a=_name(upper), b=_name(lower))
    return out
