"""Run directories shared by every trainer: resolved config, TensorBoard logs, checkpoints,
``metrics.json``, seeding, and stopping on SIGINT/SIGTERM.

A run directory holds::

    config.json        the resolved configuration (seed included), written once
    tb/                TensorBoard events (``charts/``, ``losses/`` tags, a hyper-parameter table)
    checkpoint/        the latest checkpoint (replaced atomically: written beside, then renamed)
    metrics.json       final metrics

A checkpoint is ``state.json`` (counters, RNG states, env states, ...), ``tensors.safetensors``
(policy weights and other arrays) and ``optimizer.pt`` (read with ``weights_only=True``). Reading a
checkpoint never executes code.
"""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from physground.agent.policies import NonFiniteOutput
from physground.envs.files import atomic_directory, atomic_write_text, recover_directory
from physground.envs.state_codec import decode_value, encode_value

CHECKPOINT_FORMAT = "physground.checkpoint/1"


class TrainingError(RuntimeError):
    """A run that must stop (non-finite loss ...); the message says which checkpoint survives."""


def non_finite_error(what: str, run: RunDir, update: int) -> TrainingError:
    """The error that stops a run at update ``update + 1`` for ``what``, naming the checkpoint kept."""
    kept = f"update {update}" if run.has_checkpoint() else "none yet"
    return TrainingError(f"{what} at update {update + 1}; stopped; last good checkpoint: {kept} in {run.checkpoint}")


def guarded_policy_call(run: RunDir, update: int, call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` (a policy's act / evaluate), its non-finite output turned into the run's ``TrainingError``."""
    try:
        return call(*args)
    except NonFiniteOutput as exc:
        raise non_finite_error(f"non-finite policy output ({exc})", run, update) from exc


class TrainerCallback:
    """Hooks every trainer (PPO, GRPO, SFT) calls; subclass and override what you need.

    Callbacks observe; they do not change the training (two runs with the same seed give the same
    result with or without them). To stop a run early, send the process SIGINT or SIGTERM: the
    trainer finishes the update, checkpoints and returns with ``finished: false``.
    """

    def on_update(self, run: RunDir, update: int, record: dict[str, float]) -> None:
        """After update ``update`` (1-based; an epoch for SFT), with what was logged for it."""

    def on_checkpoint(self, run: RunDir, update: int) -> None:
        """After a checkpoint of ``update`` was written to ``run.checkpoint``."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch from the run's one seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_states() -> dict[str, Any]:
    """Python, NumPy and torch RNG states (torch's as a tensor)."""
    return {"python": encode_value(random.getstate()), "numpy": encode_value(np.random.get_state()), "torch": torch.get_rng_state()}


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`rng_states`."""
    random.setstate(_tuples(decode_value(states["python"])))
    np.random.set_state(_tuples(decode_value(states["numpy"])))
    torch.set_rng_state(states["torch"])


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


_stop_pending: int | None = None
"""The signal that asked this process to stop while :class:`StopOnSignals` was in force."""
_in_force = False
"""Whether :class:`StopOnSignals` handles this process's SIGINT / SIGTERM (trainers then leave them alone)."""


def stop_pending() -> int | None:
    """The signal that asked this process to stop under :class:`StopOnSignals` (None: none)."""
    return _stop_pending


class StopOnSignals:
    """While in force, SIGINT and SIGTERM only ask this process to stop: the trainer running (or
    the next to start) stops at its first safe point, checkpoints and returns unfinished; a second
    signal does not kill the process. For processes that must never die mid-write (an ablation and
    its cells). ``signum`` is the first signal received (None: none).

    ``install()`` puts it in force for the rest of the process (cell processes); as a context
    manager it restores the previous handlers and forgets the request on exit."""

    def __init__(self, on_signal: Any = None) -> None:
        self._on_signal = on_signal
        self._previous: dict[int, Any] = {}

    @property
    def signum(self) -> int | None:
        return _stop_pending

    def _ask(self, signum: int, frame: Any) -> None:
        global _stop_pending
        first = _stop_pending is None
        _stop_pending = signum if first else _stop_pending
        if first and self._on_signal is not None:
            self._on_signal(signum)

    def install(self) -> StopOnSignals:
        global _in_force
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._ask)
        _in_force = True
        return self

    def __enter__(self) -> StopOnSignals:
        global _stop_pending
        _stop_pending = None
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        global _stop_pending, _in_force
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        _stop_pending, _in_force = None, False


class StopRequest:
    """Turns SIGINT/SIGTERM into a flag the trainer checks at safe points; a second signal
    restores the default handler (so it kills the process at once). Under :class:`StopOnSignals`
    it installs nothing and reads that process-wide request instead."""

    def __init__(self) -> None:
        self._signalled = False
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self._signalled or _stop_pending is not None

    def __enter__(self) -> StopRequest:
        if _in_force:
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: signals cannot be caught here
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self._signalled = True
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class RunDir:
    """A run directory (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.checkpoint = self.path / "checkpoint"
        self._writer = None

    def write_config(self, config: dict[str, Any]) -> None:
        """Write ``config.json``; a resumed run must have the same config."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / "config.json"
        if target.exists():
            existing = json.loads(target.read_text())
            if existing != json.loads(json.dumps(config)):
                changed = sorted(k for k in set(existing) | set(config) if existing.get(k) != json.loads(json.dumps(config)).get(k))
                raise ValueError(f"{str(self.path)!r} already holds a run with a different config (differs in: {', '.join(changed)}); use another --out")
            return
        atomic_write_text(target, json.dumps(config, indent=2, sort_keys=True))

    def read_config(self) -> dict[str, Any]:
        """The run's ``config.json``.

        Raises:
            FileNotFoundError: No run in the folder.
            ValueError: The file is not a JSON object.
        """
        return self._read_json("config.json", "no run in {path} (config.json missing)")

    def _read_json(self, name: str, missing: str) -> dict[str, Any]:
        target = self.path / name
        if not target.exists():
            raise FileNotFoundError(missing.format(path=repr(str(self.path))))
        try:
            data = json.loads(target.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{str(target)!r} is not valid JSON: {getattr(exc, 'msg', exc)}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{str(target)!r} must hold a JSON object, got a {type(data).__name__}")
        return data

    def writer(self, purge_step: int | None = None) -> Any:
        """The TensorBoard writer (events after ``purge_step`` are dropped on resume)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.path / "tb"), purge_step=purge_step)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        atomic_write_text(self.path / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=float))

    def read_metrics(self) -> dict[str, Any]:
        """The run's ``metrics.json`` (written when its trainer returned).

        Raises:
            FileNotFoundError: The run has not returned from training yet.
            ValueError: The file is not valid JSON.
        """
        return self._read_json("metrics.json", "no metrics in {path} (metrics.json missing: not trained yet)")

    @property
    def finished(self) -> bool:
        """Whether the run's trainer returned having done all its updates (``metrics.json``)."""
        return (self.path / "metrics.json").exists() and bool(self.read_metrics().get("finished", True))

    def has_checkpoint(self) -> bool:
        """Whether a complete checkpoint is there (one left moved aside by a crash mid-swap is put back first)."""
        recover_directory(self.checkpoint)
        return (self.checkpoint / "state.json").exists()

    def save_checkpoint(self, state: dict[str, Any], tensors: dict[str, torch.Tensor], optimizer: dict[str, Any] | None) -> None:
        """Write a checkpoint beside the old one, then swap it in (never half-written)."""
        from safetensors.torch import save_file

        with atomic_directory(self.checkpoint) as work:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(work / "tensors.safetensors"))
            if optimizer is not None:
                torch.save(optimizer, work / "optimizer.pt")
            (work / "state.json").write_text(json.dumps({"format": CHECKPOINT_FORMAT, **state}))

    def load_checkpoint(self) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, Any] | None]:
        """(state, tensors, optimizer state) of the latest checkpoint.

        Raises:
            FileNotFoundError: No checkpoint.
            ValueError: A corrupted or foreign checkpoint, naming the file.
        """
        from safetensors.torch import load_file

        if not self.has_checkpoint():
            raise FileNotFoundError(f"no checkpoint in {str(self.checkpoint)!r} to resume from")
        try:
            state = json.loads((self.checkpoint / "state.json").read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"corrupted checkpoint: {str(self.checkpoint / 'state.json')!r} is not valid JSON ({exc.msg})") from exc
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{str(self.checkpoint)!r} is not a physground checkpoint (format {state.get('format')!r})")
        try:
            tensors = load_file(str(self.checkpoint / "tensors.safetensors"))
        except Exception as exc:  # safetensors raises several error types for bad files
            raise ValueError(f"corrupted checkpoint: cannot read {str(self.checkpoint / 'tensors.safetensors')!r} ({exc})") from exc
        optimizer = None
        if (self.checkpoint / "optimizer.pt").exists():
            try:
                optimizer = torch.load(self.checkpoint / "optimizer.pt", weights_only=True)
            except Exception as exc:  # pickle/zip errors; weights_only refuses anything executable
                raise ValueError(f"corrupted checkpoint: cannot read {str(self.checkpoint / 'optimizer.pt')!r} ({exc})") from exc
        return state, tensors, optimizer
