"""Bootstrap confidence intervals over seeds and episodes."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np


def hierarchical_resample(per_seed: Sequence[Sequence[float]], rng: np.random.Generator) -> list[np.ndarray]:
    """Seeds drawn with replacement, then episodes within each drawn seed."""
    picks = rng.integers(len(per_seed), size=len(per_seed))
    out = []
    for i in picks:
        values = np.asarray(per_seed[i], dtype=float)
        out.append(values[rng.integers(len(values), size=len(values))] if len(values) else values)
    return out


def bootstrap_ci(per_seed: Sequence[Sequence[float]], n: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean of per-seed means, lower, upper) of a percentile bootstrap over seeds and episodes.

    Args:
        per_seed: Per seed, the per-episode outcomes (e.g. 0/1 successes).
        n: Bootstrap resamples.
        level: Confidence level.
        seed: Generator seed (intervals are reproducible).
    """
    groups = [list(g) for g in per_seed if len(g)]
    if not groups:
        return float("nan"), float("nan"), float("nan")
    point = float(np.mean([np.mean(g) for g in groups]))
    rng = np.random.default_rng(seed)
    stats = [np.mean([g.mean() for g in hierarchical_resample(groups, rng)]) for _ in range(n)]
    low, high = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return point, float(low), float(high)


def bootstrap_statistic(seeds: Sequence[int], cells: dict[tuple, dict[int, Sequence[float]]], statistic: Callable[[dict[tuple, float]], float],
                        n: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """Bootstrap a statistic of several cells that share seeds (e.g. within - cross gap).

    ``cells[key][seed]`` are per-episode outcomes; each resample draws seeds with replacement
    (the same draw for every cell, keeping their pairing) and episodes within each.
    """
    def means(draw: list[int], rng: np.random.Generator | None) -> dict[tuple, float]:
        out = {}
        for key, per_seed in cells.items():
            vals = []
            for s in draw:
                v = np.asarray(per_seed.get(s, []), dtype=float)
                if len(v):
                    vals.append((v[rng.integers(len(v), size=len(v))] if rng is not None else v).mean())
            out[key] = float(np.mean(vals)) if vals else float("nan")
        return out

    point = statistic(means(list(seeds), None))
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n):
        draw = [seeds[i] for i in rng.integers(len(seeds), size=len(seeds))]
        stats.append(statistic(means(draw, rng)))
    stats = [s for s in stats if s == s]
    if not stats:
        return point, float("nan"), float("nan")
    low, high = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return point, float(low), float(high)
