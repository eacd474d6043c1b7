"""Lightning training of the dynamics model: a thin ``LightningModule`` and the play data module.

``physground train-dynamics`` is a ``LightningCLI`` over these two classes (configs in
``experiments/configs/dynamics/``); the resolved config is saved next to the TensorBoard logs.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from physground.dynamics.checkpoint import load_dynamics
from physground.dynamics.data import SCENARIOS, PlaySettings, TransitionDataset, check_pairs, collate_transitions, load_or_generate, split_trajectories
from physground.dynamics.gnn import DynamicsConfig, DynamicsModel, state_delta
from physground.dynamics.quaternions import axis_angle_to_quat, quat_multiply
from physground.dynamics.rollout import mean_position_error, rollout_states


class PlayDataModule(L.LightningDataModule):
    """Cached play trajectories split by trajectory into train/validation transitions.

    Args:
        cache_dir: Where generated data is cached (with a manifest).
        n_trajectories: Trajectories to generate.
        seed: Generation and split seed.
        max_tower: Most blocks in any training tower.
        val_fraction: Share of trajectories held out for validation.
        batch_size: Graphs per batch.
        workers: Processes generating the data.
        loader_workers: DataLoader workers.
        horizon: States after each training state in a batch (``future``); set from the model's
            ``rollout_steps`` by ``physground train-dynamics``. Validation batches are one-step.
        scenarios: The play mix, cycled in order (a scenario listed twice is twice as common);
            default: every scenario once (``dynamics.data.SCENARIOS``); the near-edge scenarios
            (``dynamics.data.NEAR_EDGE_SCENARIOS``) are opt-in.
        dt: Seconds between recorded frames, the trained model's step (``physground train-dynamics``
            sets the model's ``dt`` from it).
        perturb: Empty, or the noise (position m, velocity m/s, rotation rad, angular velocity
            rad/s) of perturbed pairs recorded with the play (``dynamics.data.PlaySettings``).
        pairs: Training transitions: ``"clean"`` (recorded frames; the model's input noise makes
            them noisy), ``"perturbed"`` (the perturbed pairs: noisy states with MuJoCo's own next
            state; set the model's noise to 0 to train on them alone) or ``"both"``. Validation is
            always on the clean transitions, so ``val/loss`` stays comparable.
        undo_displacement: Perturbed pairs' targets return the displaced bodies to where they were
            recorded (``dynamics.data.TransitionDataset``).
    """

    def __init__(
        self, cache_dir: str = "out/play-cache", n_trajectories: int = 6000, seed: int = 0, max_tower: int = 4,
        val_fraction: float = 0.05, batch_size: int = 128, workers: int = 1, loader_workers: int = 0,
        scenarios: list[str] | None = None, horizon: int = 1, dt: float = PlaySettings.dt, perturb: list[float] | None = None,
        pairs: str = "clean", undo_displacement: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_pairs(pairs)
        if pairs != "clean" and not perturb:
            raise ValueError(f"pairs={pairs!r} needs perturbed pairs in the play data: set data.perturb (4 noise scales)")
        self.settings = PlaySettings(
            n_trajectories=n_trajectories, seed=seed, max_tower=max_tower, scenarios=tuple(scenarios) if scenarios else SCENARIOS, dt=dt,
            perturb=tuple(perturb or ()),
        )
        self.data = None

    def prepare_data(self) -> None:
        load_or_generate(self.hparams.cache_dir, self.settings, self.hparams.workers)

    def setup(self, stage: str | None = None) -> None:
        if self.data is None:
            self.data = load_or_generate(self.hparams.cache_dir, self.settings, self.hparams.workers)
            self.train_ids, self.val_ids = split_trajectories(self.data.n_trajectories, self.hparams.val_fraction, self.hparams.seed)

    def _loader(self, ids: list[int], shuffle: bool, horizon: int, pairs: str = "clean") -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(
            TransitionDataset(self.data, ids, horizon, pairs, self.hparams.undo_displacement), batch_size=self.hparams.batch_size, shuffle=shuffle, collate_fn=collate_transitions,
            num_workers=self.hparams.loader_workers, drop_last=shuffle,
        )

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.train_ids, True, self.hparams.horizon, self.hparams.pairs)

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        # validation is one-step whatever the training horizon: the same transitions in every setting
        return self._loader(self.val_ids, False, 1)

    def normalisation_sample(self, n: int = 8000) -> dict[str, torch.Tensor]:
        """A large batch of training transitions for the normalisation statistics."""
        dataset = TransitionDataset(self.data, self.train_ids)
        picks = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(self.hparams.seed))[:n]
        return collate_transitions([dataset[int(i)] for i in picks])


STEP_LOSSES = {"mse": torch.square, "l1": torch.abs}
"""Per-element loss of the normalised prediction error, by name (``DynamicsModule``'s ``loss``)."""


class DynamicsModule(L.LightningModule):
    """Training of :class:`DynamicsModel` with noise injection (as in the Graph Network Simulator:
    inputs are perturbed, targets still lead to the clean next state, so rollouts learn to correct
    their own drift). Validation also rolls validation trajectories out and logs the position
    error after 0.5 s and 2 s in block sizes.

    With ``rollout_steps`` K > 1 the training loss is the mean one-step loss along the model's own
    K-step rollout from the (noisy) state, back-propagated through the rollout: step k's target
    leads from the model's state after k - 1 steps to the true state k steps on, so the model
    learns to correct the drift it makes itself, not only injected noise. Validation keeps the
    one-step loss on every validation transition, so ``val/loss`` stays comparable between settings.

    Args:
        hidden, message_passing, mlp_layers, radius: The model (``message_passing=0``: MLP baseline).
        lr: Peak Adam learning rate (cosine decay).
        noise_position, noise_velocity, noise_rotation, noise_angular: Input noise (m, m/s, rad, rad/s).
        rollout_steps: K, the length of the training rollout (1: one-step training).
        loss: ``"mse"`` (squared error: the model learns the conditional mean of the next state) or
            ``"l1"`` (absolute error: the conditional median, per target dimension). Where a
            transition's outcome is two-sided at the input noise's scale (a block landing on another
            either settles or starts to tip), the mean is a state between the two that neither takes,
            the median one of them (``analysis/blockremoval-impact-noise.py``); but the median also
            drops a minority outcome that is real, such as a slow tip
            (``docs/measurements/dynamics-selection.md``).
        dt: Seconds per model step: the play data's frame interval (linked to ``data.dt`` by
            ``physground train-dynamics``).
        init_from: A saved dynamics model (folder) to start from, weights and normalisation
            statistics (fine-tuning); its architecture must equal the one configured here.

    Raises:
        ValueError: ``rollout_steps`` below 1, an unknown ``loss``, or an ``init_from`` model of
            another architecture.
    """

    def __init__(
        self, hidden: int = 128, message_passing: int = 3, mlp_layers: int = 2, radius: float = 0.06, lr: float = 1e-3,
        noise_position: float = 0.002, noise_velocity: float = 0.03, noise_rotation: float = 0.01, noise_angular: float = 0.2,
        rollout_steps: int = 1, init_from: str | None = None, dt: float = DynamicsConfig.dt, loss: str = "mse",
    ) -> None:
        super().__init__()
        if rollout_steps < 1:
            raise ValueError(f"rollout_steps must be at least 1, got {rollout_steps}")
        if loss not in STEP_LOSSES:
            raise ValueError(f"unknown loss {loss!r}; valid: {', '.join(STEP_LOSSES)}")
        self.save_hyperparameters()
        self.model = DynamicsModel(DynamicsConfig(hidden=hidden, message_passing=message_passing, mlp_layers=mlp_layers, radius=radius, dt=dt))
        if init_from:
            start = load_dynamics(init_from)
            if start.config != self.model.config:
                raise ValueError(f"init_from model {init_from!r} has architecture {start.config}, this run configures {self.model.config}")
            self.model.load_state_dict(start.state_dict())

    def setup(self, stage: str | None = None) -> None:
        if not bool(self.model.normalised) and self.trainer is not None and self.trainer.datamodule is not None:
            sample = self.trainer.datamodule.normalisation_sample()
            self.model.fit_normalisation(sample["state"], sample["next_state"], sample["props"], sample["batch"])

    def _noisy(self, state: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        h = self.hparams
        noise = torch.zeros_like(state)
        n = int(dynamic.sum())
        noise[dynamic, 0:3] = torch.randn(n, 3, device=state.device) * h.noise_position
        noise[dynamic, 7:10] = torch.randn(n, 3, device=state.device) * h.noise_velocity
        noise[dynamic, 10:13] = torch.randn(n, 3, device=state.device) * h.noise_angular
        noisy = state + noise
        turn = axis_angle_to_quat(torch.randn(n, 3, device=state.device) * h.noise_rotation)
        noisy[dynamic, 3:7] = quat_multiply(turn, state[dynamic, 3:7])
        return noisy

    def _step_loss(self, state: torch.Tensor, target_state: torch.Tensor, props: torch.Tensor, batch: torch.Tensor, dynamic: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of one step from ``state`` towards ``target_state`` (both (N, 13)) and the
        model's predicted normalised change (N, 12)."""
        target = (state_delta(state, target_state) - self.model.target_mean) / self.model.target_std
        pred = self.model(state, props, batch)
        return STEP_LOSSES[self.hparams.loss](pred - target)[dynamic].mean(), pred

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        state, props, graph = batch["state"], batch["props"], batch["batch"]
        dynamic = props[:, -1] < 0.5
        steps = self.hparams.rollout_steps if stage == "train" else 1
        targets = batch["future"]
        if targets.shape[0] < steps:
            raise ValueError(f"rollout_steps={steps} needs batches with at least {steps} future states (data horizon), got {targets.shape[0]}")
        if stage == "train":
            state = self._noisy(state, dynamic)
        losses = []
        for k in range(steps):
            loss_k, pred = self._step_loss(state, targets[k], props, graph, dynamic)
            losses.append(loss_k)
            if k + 1 < steps:  # the model's own next state, kept in the graph so the loss sees its drift
                state = self.model.advance(state, props, pred)
        loss = torch.stack(losses).mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{stage} loss is {loss.item()} at step {self.global_step}")
        graphs = int(graph.max()) + 1
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=graphs, sync_dist=stage != "train")
        if steps > 1:
            self.log(f"{stage}/loss_last_step", losses[-1], batch_size=graphs)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._common_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        datamodule = self.trainer.datamodule if self.trainer is not None else None
        if datamodule is None or datamodule.data is None:
            return
        errors = rollout_position_errors(self.model, datamodule.data, datamodule.val_ids[:64], self.device)
        for horizon, value in errors.items():
            self.log(f"val/rollout_error_{horizon}", value, sync_dist=True)

    def teardown(self, stage: str) -> None:
        """Under several processes (Lightning DDP) each one releases its process group before it
        exits: a process leaving with gloo's threads alive can abort ("terminate called without
        an active exception"). A later fit or test sets it up again."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def configure_optimizers(self) -> Any:
        optimizer = torch.optim.Adam(self.model.parameters(), lr=self.hparams.lr)
        total = self.trainer.estimated_stepping_batches if self.trainer is not None else 10_000
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(total)), eta_min=self.hparams.lr * 0.02)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@torch.no_grad()
def rollout_position_errors(model: DynamicsModel, data: Any, trajectories: list[int], device: torch.device | str = "cpu", horizons: dict[str, float] | None = None) -> dict[str, float]:
    """Mean distance (block sizes) between rolled-out and true centres of dynamic objects."""
    horizons = horizons or {"0.5s": 0.5, "2s": 2.0}
    truth, props, batch = data.stacked(trajectories, device)
    dt = data.settings.dt
    steps = int(round(max(horizons.values()) / dt))
    was_training = model.training
    model.eval()
    pred = rollout_states(model.step, truth[0], props, batch, steps)
    model.train(was_training)
    out = {}
    for name, seconds in horizons.items():
        k = int(round(seconds / dt))
        out[name] = mean_position_error(pred[k], truth[k], props)
    return out
