"""How well a grounder recovers the scene: count, colour, position and on-top-of relations.

Predicted objects are matched to the true ones by the Hungarian algorithm on centre distance
(objects of different kinds never match; pairs more than 2 block sizes apart do not count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physground.envs.scene import BLOCK_SIZE, DEFAULT_MULTISAMPLES, Scene
from physground.perception.grounders import Grounder
from physground.perception.scene_data import RenderedScenes, render_scenes
from physground.perception.scene_graph import SceneGraph

MAX_MATCH_DISTANCE = 2 * BLOCK_SIZE


def _kind(node: Any) -> str:
    return node.shape if node.shape in ("cube", "ball") else node.id


def match_nodes(pred: SceneGraph, truth: SceneGraph) -> dict[str, str]:
    """True id -> predicted id for matched objects."""
    from scipy.optimize import linear_sum_assignment

    if not pred.nodes or not truth.nodes:
        return {}
    cost = np.full((len(truth.nodes), len(pred.nodes)), 1e6)
    for i, t in enumerate(truth.nodes):
        for j, p in enumerate(pred.nodes):
            if _kind(t) == _kind(p):
                cost[i, j] = float(np.linalg.norm(np.subtract(t.position, p.position)))
    rows, cols = linear_sum_assignment(cost)
    return {truth.nodes[r].id: pred.nodes[c].id for r, c in zip(rows, cols) if cost[r, c] <= MAX_MATCH_DISTANCE}


@dataclass
class GroundingScores:
    """Accumulated grounding quality."""

    scenes: int = 0
    count_correct: int = 0
    coloured: int = 0
    colour_correct: int = 0
    matched: int = 0
    objects: int = 0
    position_error_sum: float = 0.0
    true_pos: int = 0
    false_pos: int = 0
    false_neg: int = 0
    parse_errors: int = 0
    cube_x_errors: list[float] = field(default_factory=list)
    """Signed x error of every matched cube (block sizes): the coordinate tower physics hinges on."""

    def add(self, pred: SceneGraph, truth: SceneGraph) -> None:
        matches = match_nodes(pred, truth)
        self.scenes += 1
        self.count_correct += len(pred.nodes) == len(truth.nodes)
        self.objects += len(truth.nodes)
        self.matched += len(matches)
        for node in truth.nodes:
            if node.shape in ("cube", "ball"):
                self.coloured += 1
                self.colour_correct += node.id in matches and pred.node(matches[node.id]).colour == node.colour
            if node.id in matches:
                predicted = pred.node(matches[node.id]).position
                self.position_error_sum += float(np.linalg.norm(np.subtract(node.position, predicted))) / BLOCK_SIZE
                if node.shape == "cube":
                    self.cube_x_errors.append((predicted[0] - node.position[0]) / BLOCK_SIZE)
        back = {p: t for t, p in matches.items()}
        true_rel = truth.related("on_top_of")
        pred_rel = {(back.get(a), back.get(b)) for a, b in pred.related("on_top_of")}
        self.true_pos += len(true_rel & pred_rel)
        self.false_pos += len(pred_rel - true_rel)
        self.false_neg += len(true_rel - pred_rel)

    def summary(self) -> dict[str, Any]:
        """count / colour accuracy, mean position error (block sizes), match rate, on-top-of F1, and
        ``cube_x_error``: the matched cubes' x error (count, mean absolute, std, 95th percentile)."""
        precision = self.true_pos / max(1, self.true_pos + self.false_pos)
        recall = self.true_pos / max(1, self.true_pos + self.false_neg)
        has_relations = self.true_pos + self.false_pos + self.false_neg > 0
        return {
            "scenes": self.scenes,
            "count_accuracy": self.count_correct / max(1, self.scenes),
            "colour_accuracy": self.colour_correct / max(1, self.coloured) if self.coloured else float("nan"),
            "position_error": self.position_error_sum / max(1, self.matched) if self.matched else float("nan"),
            "match_rate": self.matched / max(1, self.objects),
            "on_top_of_f1": (2 * precision * recall / max(1e-9, precision + recall)) if has_relations else float("nan"),
            "parse_error_rate": self.parse_errors / max(1, self.scenes),
            "cube_x_error": _error_stats(self.cube_x_errors),
        }


def _error_stats(errors: list[float]) -> dict[str, float]:
    """Count, mean absolute value, standard deviation and 95th percentile of absolute value (NaN if empty)."""
    if not errors:
        return {"blocks": 0, "mean_abs": float("nan"), "std": float("nan"), "p95": float("nan")}
    e = np.asarray(errors)
    return {"blocks": len(e), "mean_abs": float(np.abs(e).mean()), "std": float(e.std()), "p95": float(np.percentile(np.abs(e), 95))}


def evaluate_grounder(grounder: Grounder, data: RenderedScenes, batch_size: int = 64) -> dict[str, dict[str, float]]:
    """Scores per task and over all scenes of ``data``."""
    per_task: dict[str, GroundingScores] = {}
    overall = GroundingScores()
    for start in range(0, len(data.scenes), batch_size):
        images = list(data.images[start : start + batch_size])
        scenes: list[Scene] = data.scenes[start : start + batch_size]
        graphs = grounder.ground(images, scenes=scenes)
        errors = getattr(grounder, "last_errors", [[]] * len(graphs))
        for graph, scene, task, errs in zip(graphs, scenes, data.tasks[start : start + batch_size], errors):
            truth = SceneGraph.from_scene(scene)
            for scores in (per_task.setdefault(task, GroundingScores()), overall):
                scores.add(graph, truth)
                scores.parse_errors += bool(errs)
    return {**{t: s.summary() for t, s in per_task.items()}, "all": overall.summary()}


def evaluation_scenes(
    n_per_task: int, seed: int = 20_000_001, workers: int = 1, dr_fraction: float = 0.0, multisamples: int = DEFAULT_MULTISAMPLES,
) -> RenderedScenes:
    """Fresh scenes for grounding evaluation: ``n_per_task`` of each task."""
    from physground.envs import BASE_TASKS

    return render_scenes(n_per_task * len(BASE_TASKS), seed, dr_fraction=dr_fraction, workers=workers, multisamples=multisamples)


def format_scores(results: dict[str, dict[str, float]]) -> str:
    """Markdown table of ``evaluate_grounder`` results."""
    lines = [
        "| task | scenes | count acc. | colour acc. | position error (blocks) | matched | on-top-of F1 | parse errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task, s in results.items():
        pct = lambda v: "n/a" if v != v else f"{v * 100:.1f} %"  # noqa: E731
        num = "n/a" if s["position_error"] != s["position_error"] else f"{s['position_error']:.3f}"
        lines.append(
            f"| {task} | {s['scenes']} | {pct(s['count_accuracy'])} | {pct(s['colour_accuracy'])} | {num} | {pct(s['match_rate'])} | "
            f"{pct(s['on_top_of_f1'])} | {pct(s['parse_error_rate'])} |"
        )
    return "\n".join(lines)
