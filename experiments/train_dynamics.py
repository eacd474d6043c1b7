"""``physground train-dynamics``: a LightningCLI over ``DynamicsModule`` and ``PlayDataModule``.

The resolved config is saved next to the TensorBoard logs (LightningCLI's ``config.yaml``); after
training, the model is exported (weights + normalisation statistics + config + card) to
``--export``. Several GPUs: ``--trainer.devices N --trainer.strategy ddp`` (no code changes).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

from lightning.pytorch.cli import LightningCLI

from dynamics.checkpoint import save_dynamics
from dynamics.module import DynamicsModule, PlayDataModule, rollout_position_errors


class _DynamicsCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001 (jsonargparse parser)
        parser.add_argument("--export", default="out/dynamics/model", help="where the trained model is written")


def train_dynamics(argv: Sequence[str]) -> Path:
    """Parse ``argv`` like LightningCLI, train, evaluate rollouts on validation data, export."""
    started = time.time()
    cli = _DynamicsCLI(DynamicsModule, PlayDataModule, args=list(argv), run=False, save_config_kwargs={"overwrite": True})
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    module, data = cli.model, cli.datamodule
    errors = rollout_position_errors(module.model.cpu(), data.data, data.val_ids)
    export = Path(cli.config["export"])
    summary = {
        "argv": list(argv),
        "config": json.loads(json.dumps(cli.config.as_dict(), default=str)),
        "train_transitions": len(data.train_ids) * (data.settings.frames - 1),
        "validation_rollout_error_blocks": errors,
        "epochs": int(cli.trainer.current_epoch),
        "steps": int(cli.trainer.global_step),
        "seconds": round(time.time() - started, 1),
        "log_dir": cli.trainer.log_dir,
    }
    save_dynamics(module.model, export, extra={"training": summary})
    print(f"exported {export}; validation rollout error (block sizes): {errors}")
    return export
