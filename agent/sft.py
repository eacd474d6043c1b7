"""Supervised fine-tuning of the VLM baseline on simulator-labelled answers (no interaction).

Examples are (image, prompt, correct answer) of the simulator's expert (``agent.experts``): the
simulated answer of yes/no tasks, the best option found by simulating every action (TowerBuild,
Push, ToppleSpot), and the action of a controller that heads for the ball's landing point (Catch). The loss is the negative
log-likelihood of the correct answer's tokens (teacher forcing); accuracy is the argmax over the
task's answer words. Prompts and answers are in the policy's answer format
(``envs.answer_formats``: with "tagged", the instruction follows the question and the target is
``<answer>word</answer>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from physground.agent.configs import SFTConfig
from physground.agent.episode_seeds import episode_seed
from physground.agent.experts import expert_steps
from physground.envs import TASK_VERSION
from physground.envs.scene import DEFAULT_MULTISAMPLES


@dataclass
class SFTExample:
    image: np.ndarray
    prompt: str
    action: int


def expert_examples(task: str, n: int, seed: int, image_size: int = 128, multisamples: int = DEFAULT_MULTISAMPLES,
                    task_version: int = TASK_VERSION) -> list[SFTExample]:
    """``n`` (image, prompt, correct action) examples of ``task`` from the simulator (``agent.experts``),
    from the training episodes of run seed ``seed`` (``agent.episode_seeds``: episode ``e`` seeded
    ``episode_seed(seed, e)``)."""
    steps = expert_steps(task, n, seed, image_size, multisamples, task_version=task_version, seeds=lambda e: episode_seed(seed, e))
    return [SFTExample(s.image, s.prompt, s.action) for s in steps]


def _collate(batch: list[SFTExample]) -> dict[str, Any]:
    return {"image": [b.image for b in batch], "prompt": [b.prompt for b in batch], "action": torch.tensor([b.action for b in batch])}


def sft_module_class() -> type:
    import lightning as L

    class SFTModule(L.LightningModule):
        """Thin Lightning wrapper: answer-token NLL on the VLM policy; validation accuracy."""

        def __init__(self, policy: Any, lr: float) -> None:
            super().__init__()
            self.policy, self.lr = policy, lr

        def _common_step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
            # the prompts and answers in the policy's answer format (the bare question and word by default)
            prompts = [self.policy.model_prompt(p) for p in batch["prompt"]]
            targets = [self.policy.answer_target(i) for i in range(len(self.policy.action_names))]
            correct = [[targets[a]] for a in batch["action"].tolist()]
            nll = -self.policy.vlm.score_options(batch["image"], prompts, correct, grad=stage == "train")[:, 0].mean()
            if not torch.isfinite(nll):
                raise FloatingPointError(f"{stage} loss is {float(nll)} at step {self.global_step}")
            self.log(f"losses/{stage}_nll", nll, prog_bar=True, batch_size=len(correct))
            if stage != "train":
                with torch.no_grad():
                    scores = self.policy.vlm.score_options(batch["image"], prompts, targets)
                # Lightning moved the batch's tensors to the model's device; compare there
                accuracy = (scores.argmax(-1) == batch["action"].to(scores.device)).float().mean()
                self.log("charts/val_accuracy", accuracy, prog_bar=True, batch_size=len(correct))
            return nll

        def on_train_epoch_start(self) -> None:
            self.policy.train()  # VLM.load leaves the model in eval mode

        def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
            return self._common_step(batch, "train")

        def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
            self._common_step(batch, "val")

        def configure_optimizers(self) -> Any:
            return torch.optim.AdamW([p for p in self.policy.parameters() if p.requires_grad], lr=self.lr, weight_decay=0.0)

    return SFTModule


def train_sft(policy: Any, task: str, run: Any, seed: int, config: SFTConfig | None = None, image_size: int = 128, progress: bool = True,
              multisamples: int = DEFAULT_MULTISAMPLES, callbacks: Sequence[Any] = (), task_version: int = TASK_VERSION) -> dict[str, Any]:
    """Fine-tune ``policy`` (a VLMPolicy) on expert examples; save it in ``run``'s checkpoint.

    Resume is epoch-granular: a resumed run reloads the adapters saved after the last finished
    epoch and trains the remaining epochs (the optimizer's moments restart). ``callbacks``
    (``TrainerCallback``) are told of every epoch and checkpoint.
    """
    import lightning as L
    from lightning.pytorch.loggers import TensorBoardLogger

    from physground.agent.run import seed_everything

    seed_everything(seed)
    config = config or SFTConfig()
    examples, epochs, batch_size, lr = config.examples, config.epochs, config.batch_size, config.lr
    data = expert_examples(task, examples, seed, image_size, multisamples, task_version)
    n_val = max(1, len(data) // 10)
    train_loader = torch.utils.data.DataLoader(data[n_val:], batch_size=batch_size, shuffle=True, collate_fn=_collate)
    val_loader = torch.utils.data.DataLoader(data[:n_val], batch_size=batch_size, collate_fn=_collate)
    done_epochs = 0
    if run.has_checkpoint():
        state, tensors, _ = run.load_checkpoint()
        policy.load_trainable_state({k[len("policy.") :]: v for k, v in tensors.items() if k.startswith("policy.")})
        done_epochs = state.get("epoch", 0)
    module = sft_module_class()(policy, lr)
    logger = TensorBoardLogger(str(run.path), name="tb", version="sft", default_hp_metric=False)
    history = []
    for epoch in range(done_epochs, epochs):
        trainer = L.Trainer(max_epochs=1, accelerator="auto", devices=1, logger=logger, enable_checkpointing=False, enable_progress_bar=progress, log_every_n_steps=10)
        trainer.fit(module, train_loader, val_loader)
        record = {k: float(v) for k, v in trainer.callback_metrics.items()}
        record["epoch"] = epoch + 1
        history.append(record)
        tensors = {f"policy.{k}": v for k, v in policy.trainable_state().items()}
        for callback in callbacks:
            callback.on_update(run, epoch + 1, record)
        run.save_checkpoint({"epoch": epoch + 1, "history": history}, tensors, None)
        for callback in callbacks:
            callback.on_checkpoint(run, epoch + 1)
    metrics = {"epochs": epochs, "examples": len(data), "history": history, "final": history[-1] if history else {}}
    run.write_metrics(metrics)
    return metrics
