"""Bootstrap confidence intervals over seeds and episodes.

In the ablation every seed of an agent is evaluated on the same episodes of a test task (the
evaluation seeds are fixed), so seeds and episodes are crossed, not nested: a resample draws seeds
with replacement and one set of episode indices that every drawn seed's outcomes are read at
(``shared_episodes``). Drawing episodes independently within each seed would treat three seeds' runs
over the same 100 episodes as 300 independent episodes and make the intervals too narrow.
"""

from __future__ import annotations

from typing import Callable, Hashable, Sequence

import numpy as np


def hierarchical_resample(per_seed: Sequence[Sequence[float]], rng: np.random.Generator) -> list[np.ndarray]:
    """Seeds drawn with replacement, then episodes within each drawn seed."""
    picks = rng.integers(len(per_seed), size=len(per_seed))
    out = []
    for i in picks:
        values = np.asarray(per_seed[i], dtype=float)
        out.append(values[rng.integers(len(values), size=len(values))] if len(values) else values)
    return out


def crossed_resample(per_seed: Sequence[Sequence[float]], rng: np.random.Generator) -> list[np.ndarray]:
    """Seeds drawn with replacement, and one draw of episode indices read from every drawn seed
    (all seeds were evaluated on the same episodes, in the same order: equal lengths)."""
    n = len(per_seed[0])
    episodes = rng.integers(n, size=n)
    return [np.asarray(per_seed[i], dtype=float)[episodes] for i in rng.integers(len(per_seed), size=len(per_seed))]


def bootstrap_ci(per_seed: Sequence[Sequence[float]], n: int = 2000, level: float = 0.95, seed: int = 0,
                 shared_episodes: bool = False) -> tuple[float, float, float]:
    """(mean of per-seed means, lower, upper) of a percentile bootstrap over seeds and episodes.

    Args:
        per_seed: Per seed, the per-episode outcomes (e.g. 0/1 successes).
        n: Bootstrap resamples.
        level: Confidence level.
        seed: Generator seed (intervals are reproducible).
        shared_episodes: Every seed was evaluated on the same episodes (``per_seed[s][i]`` is episode
            ``i`` for every ``s``): one episode draw per resample for all seeds (module docstring).

    Raises:
        ValueError: ``shared_episodes`` with seeds of different episode counts.
    """
    groups = [list(g) for g in per_seed if len(g)]
    if not groups:
        return float("nan"), float("nan"), float("nan")
    lengths = {len(g) for g in groups}
    if shared_episodes and len(lengths) != 1:
        raise ValueError(f"shared episodes need the same number of episodes for every seed, got {sorted(lengths)}")
    point = float(np.mean([np.mean(g) for g in groups]))
    rng = np.random.default_rng(seed)
    resample = crossed_resample if shared_episodes else hierarchical_resample
    stats = [np.mean([g.mean() for g in resample(groups, rng)]) for _ in range(n)]
    low, high = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return point, float(low), float(high)


_OWN_DRAW = object()
"""Group of a cell whose episodes are drawn on their own (no ``episodes_shared_by``)."""


def bootstrap_statistic(seeds: Sequence[int], cells: dict[tuple, dict[int, Sequence[float]]], statistic: Callable[[dict[tuple, float]], float],
                        n: int = 2000, level: float = 0.95, seed: int = 0,
                        episodes_shared_by: Callable[[tuple], Hashable] | None = None) -> tuple[float, float, float]:
    """Bootstrap a statistic of several cells that share seeds (e.g. within - cross gap):
    (point, lower, upper) of the percentile interval of :func:`bootstrap_replicates`.

    ``cells[key][seed]`` are per-episode outcomes; each resample draws seeds with replacement
    (the same draw for every cell, keeping their pairing) and episodes. Without
    ``episodes_shared_by`` episodes are drawn within each seed and cell independently; with it,
    cells whose keys map to the same value (e.g. the test task) were evaluated on the same episodes
    and get one episode draw per resample, shared by their seeds and by each other.

    Raises:
        ValueError: Cells that share episodes hold different episode counts.
    """
    point, stats = bootstrap_replicates(seeds, cells, statistic, n, seed, episodes_shared_by)
    return (point, *percentile_interval(stats, level))


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """(lower, upper) percentile interval of bootstrap replicates, NaN replicates dropped (NaN, NaN if none is left)."""
    finite = replicates[~np.isnan(replicates)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def independent_difference_ci(a: tuple[float, np.ndarray], b: tuple[float, np.ndarray], level: float = 0.95) -> tuple[float, float, float]:
    """(point, lower, upper) of ``a - b`` for two statistics bootstrapped independently
    (:func:`bootstrap_replicates` of two runs that share no episodes, e.g. two task suites): the
    replicates are paired index by index, which for independent resamples is a draw of the
    difference. Use the paired :func:`bootstrap_statistic` whenever the episodes are shared.

    Raises:
        ValueError: Different numbers of replicates.
    """
    if len(a[1]) != len(b[1]):
        raise ValueError(f"independent bootstraps need the same number of replicates, got {len(a[1])} and {len(b[1])}")
    return (a[0] - b[0], *percentile_interval(a[1] - b[1], level))


def bootstrap_replicates(seeds: Sequence[int], cells: dict[tuple, dict[int, Sequence[float]]], statistic: Callable[[dict[tuple, float]], float],
                         n: int = 2000, seed: int = 0,
                         episodes_shared_by: Callable[[tuple], Hashable] | None = None) -> tuple[float, np.ndarray]:
    """The statistic on the recorded cells and on ``n`` resamples of them (as
    :func:`bootstrap_statistic` describes): (point, replicates of shape ``(n,)``, NaN where a
    resample leaves the statistic undefined).

    Raises:
        ValueError: Cells that share episodes hold different episode counts.
    """
    if episodes_shared_by is not None:
        for group in {episodes_shared_by(k) for k in cells}:
            lengths = {len(v) for k, per_seed in cells.items() if episodes_shared_by(k) == group for v in per_seed.values() if len(v)}
            if len(lengths) > 1:
                raise ValueError(f"cells sharing the episodes of {group!r} hold different episode counts: {sorted(lengths)}")

    def means(draw: list[int], rng: np.random.Generator | None) -> dict[tuple, float]:
        out = {}
        shared: dict[Hashable, np.ndarray] = {}
        for key, per_seed in cells.items():
            group = episodes_shared_by(key) if episodes_shared_by is not None else _OWN_DRAW
            vals = []
            for s in draw:
                v = np.asarray(per_seed.get(s, []), dtype=float)
                if not len(v):
                    continue
                if rng is None:
                    vals.append(v.mean())
                elif group is _OWN_DRAW:
                    vals.append(v[rng.integers(len(v), size=len(v))].mean())
                else:
                    if group not in shared:
                        shared[group] = rng.integers(len(v), size=len(v))
                    vals.append(v[shared[group]].mean())
            out[key] = float(np.mean(vals)) if vals else float("nan")
        return out

    point = statistic(means(list(seeds), None))
    rng = np.random.default_rng(seed)
    stats = np.empty(n)
    for i in range(n):
        draw = [seeds[j] for j in rng.integers(len(seeds), size=len(seeds))]
        stats[i] = statistic(means(draw, rng))
    return point, stats
