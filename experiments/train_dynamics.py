"""``physground train-dynamics``: a LightningCLI over ``DynamicsModule`` and ``PlayDataModule``.

The resolved config is saved next to the TensorBoard logs (LightningCLI's ``config.yaml``); after
training, the model is exported (weights + normalisation statistics + config + card) to
``--export``. Several GPUs: ``--trainer.devices N --trainer.strategy ddp`` (Lightning DDP, no code
changes; ``ddp_spawn`` on CPUs, over gloo, is tested). The model exported is rank 0's, with the
weights every rank shares.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Sequence

from lightning.pytorch.cli import LightningCLI

from physground.dynamics.checkpoint import save_dynamics
from physground.dynamics.module import DynamicsModule, PlayDataModule, rollout_position_errors


class _DynamicsCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001 (jsonargparse parser)
        parser.add_argument("--export", default="out/dynamics/model", help="where the trained model is written")
        # one source of truth: the data's windows are as long as the model's training rollout
        parser.link_arguments("model.rollout_steps", "data.horizon")
        # the model steps as far as the data's frames are apart (--data.dt)
        parser.link_arguments("data.dt", "model.dt")


def train_dynamics(argv: Sequence[str]) -> Path:
    """Parse ``argv`` like LightningCLI, train, evaluate rollouts on validation data, export."""
    started = time.time()
    cli = _DynamicsCLI(DynamicsModule, PlayDataModule, args=list(argv), run=False, save_config_kwargs={"overwrite": True})
    init_from = cli.config["model"]["init_from"]
    # the starting point by content, before training: the folder may be the export target or be replaced later
    init_digest = hashlib.sha256((Path(init_from) / "model.safetensors").read_bytes()).hexdigest() if init_from else None
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    module, data = cli.model, cli.datamodule
    data.setup("validate")  # under ddp_spawn the data was set up in the spawned processes only (cached: cheap)
    errors = rollout_position_errors(module.model.cpu(), data.data, data.val_ids)
    export = Path(cli.config["export"])
    summary = {
        "argv": list(argv),
        "config": json.loads(json.dumps(cli.config.as_dict(), default=str)),
        "init_from_sha256": init_digest,
        "train_transitions": len(data.train_ids) * (data.settings.frames - data.hparams.horizon),
        "validation_rollout_error_blocks": errors,
        "epochs": int(cli.trainer.current_epoch),
        "world_size": int(cli.trainer.world_size),
        "steps": int(cli.trainer.global_step),
        "seconds": round(time.time() - started, 1),
        "log_dir": cli.trainer.log_dir,
    }
    save_dynamics(module.model, export, extra={"training": summary})
    print(f"exported {export}; validation rollout error (block sizes): {errors}")
    return export
