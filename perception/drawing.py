"""Draw a scene graph over its image: object centres, labels and on-top-of links."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from physground.envs.scene import project_points
from physground.perception.scene_graph import SceneGraph

SCALE = 4
"""Images are upscaled this much before drawing, so labels stay legible on 128 px frames."""
MAX_CANVAS_SIDE = 1024
"""Largest drawing (pixels per side), whatever the image: bigger images are drawn at a smaller scale."""


def draw_graph(image: np.ndarray, graph: SceneGraph) -> Image.Image:
    """The image (upscaled) with each node's centre, id and colour, and on-top-of arrows.

    Positions are projected with the default camera (domain-randomised camera jitter is not
    known here, so drawings of randomised images may be a few pixels off).
    """
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"draw_graph needs a square RGB image, got shape {tuple(image.shape)}")
    size = image.shape[0]
    side = min(size * SCALE, MAX_CANVAS_SIDE)
    canvas = Image.fromarray(image).resize((side, side), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    if not graph.nodes:
        return canvas
    pixels = project_points([n.position for n in graph.nodes], size) * (side / size)
    where = {n.id: pixels[i] for i, n in enumerate(graph.nodes)}
    for a, b in graph.related("on_top_of"):
        draw.line([tuple(where[a]), tuple(where[b])], fill=(255, 255, 255), width=2)
    for n in graph.nodes:
        x, y = where[n.id]
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=(0, 0, 0), fill=(255, 255, 255), width=2)
        label = n.id + (f" {n.colour}" if n.colour else "") + (f" {n.material}" if n.material and n.is_static else "")
        draw.text((x + 6, y - 6), label, fill=(0, 0, 0))
    return canvas
