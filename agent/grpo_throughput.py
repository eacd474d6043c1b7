"""``physground bench-grpo``: physground's GRPO against TRL's ``GRPOTrainer``, samples per second.

Both train the same VLM (loaded from one folder, fresh LoRA adapters of the same rank on the same
modules, generating free text) on the same TowerStability episodes (the scenes of run seed ``seed``,
drawn once into a reset cache before either is timed), with the same number of generations per
prompt, prompts per update, minibatch, learning rate and KL coefficient, and both score an answer
by stepping the physground env restored to its scene (physground's GRPO does so itself; TRL's
reward function does the same). A sample is one generated answer, scored and trained on. The first
update (warm-up: allocation, compilation of kernels) is not timed. The two run alternately,
``repeats`` times each, in one process.

Mapping of the settings: physground's update (``prompts_per_update`` x ``group_size`` answers, one
epoch of minibatches of ``minibatch``) is TRL's generation batch with ``num_generations`` =
``group_size``, ``per_device_train_batch_size`` = ``minibatch``, ``steps_per_generation`` =
answers / minibatch, one iteration, ``beta`` = the KL coefficient. What differs and is not
matched: TRL's loss is token-level (its default ``loss_type``), physground's sequence-level; TRL
keeps its own generation loop (``transformers`` ``generate``, no vLLM). Both train in fp32 without
activation checkpointing (TRL's defaults, bf16 and checkpointing, are switched off to match).

TRL is a benchmark-only dependency (``pip install trl``); nothing else imports this module.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ThroughputSettings:
    """One side-by-side GRPO throughput measurement.

    Attributes:
        vlm: The VLM (``perception.vlm_names.resolve_vlm``: None / "tiny", "smollm2", a folder).
        prompts_per_update: Scenes per update.
        group_size: Answers generated per scene.
        minibatch: Answers per optimiser step.
        updates: Timed updates (after one untimed warm-up update).
        lr: Learning rate of the adapters.
        kl_coef: KL coefficient to the frozen model.
        lora_rank: Rank of the LoRA adapters (language model attention and MLP).
        answer_format: ``envs.answer_formats`` name (how answers are asked for and read).
        image_size: Observation size of the scenes.
        seed: Run seed of the episodes (``agent.episode_seeds``).
        repeats: Measurements of each, alternating.
        accelerator: "cpu" or "cuda".
    """

    vlm: str | None = None
    prompts_per_update: int = 8
    group_size: int = 16
    minibatch: int = 32
    updates: int = 3
    lr: float = 5e-6
    kl_coef: float = 0.04
    lora_rank: int = 16
    answer_format: str = "free"
    image_size: int = 128
    seed: int = 0
    repeats: int = 1
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        _ = self.grpo_config  # GRPOConfig checks the trainer's fields, naming a bad one
        for name in ("updates", "lora_rank", "repeats"):  # timed updates: GRPOConfig sees one more
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if (self.prompts_per_update * self.group_size) % self.minibatch:
            raise ValueError(f"minibatch ({self.minibatch}) must divide prompts_per_update x group_size ({self.prompts_per_update * self.group_size})")
        from physground.envs.answer_formats import answer_format

        answer_format(self.answer_format)  # raises naming an unknown one, before any episode is drawn
        if self.accelerator not in ("cpu", "cuda"):
            raise ValueError(f"accelerator must be cpu or cuda, got {self.accelerator!r}")

    @property
    def grpo_config(self) -> Any:
        """physground's GRPO settings of this measurement (one untimed warm-up update first)."""
        from physground.agent.configs import GRPOConfig

        return GRPOConfig(updates=self.updates + 1, prompts_per_update=self.prompts_per_update, group_size=self.group_size,
                          lr=self.lr, kl_coef=self.kl_coef, minibatch=self.minibatch, checkpoint_every=10_000)

    @property
    def answers_per_update(self) -> int:
        return self.prompts_per_update * self.group_size

    @property
    def episodes(self) -> int:
        """Scenes both trainers see: the warm-up update's and the timed ones'."""
        return (self.updates + 1) * self.prompts_per_update


TASK = "TowerStability"


def _spec(settings: ThroughputSettings) -> Any:
    from physground.agent.factory import AgentSpec

    return AgentSpec("vlm-grpo", TASK, seed=settings.seed, vlm=settings.vlm, lora_rank=settings.lora_rank, vlm_mode="generate",
                     answer_format=settings.answer_format, image_size=settings.image_size)


def _env_fn(settings: ThroughputSettings, cache: Path) -> Any:
    from physground.agent.factory import env_factory

    return env_factory(TASK, settings.image_size, reset_cache=cache)


def draw_episodes(settings: ThroughputSettings, cache: Path) -> list[dict[str, Any]]:
    """The episodes of both trainers, in physground's order (update u's prompt p is episode
    u x prompts_per_update + p), drawn into ``cache``: each one's image (H, W, 3), prompt and
    plain-data env state after its reset."""
    from physground.agent.env_state import StateCapture
    from physground.agent.episode_seeds import episode_seed

    env = StateCapture(_env_fn(settings, cache)())
    try:
        out = []
        for e in range(settings.episodes):
            obs, _ = env.reset(seed=episode_seed(settings.seed, e))
            out.append({"image": np.asarray(obs["image"]), "prompt": str(obs["prompt"]), "state": env.get_state()})
        return out
    finally:
        env.close()


def physground_samples_per_s(settings: ThroughputSettings, cache: Path) -> dict[str, Any]:
    """Samples/s of ``agent.grpo.train_grpo`` over the timed updates."""
    import torch

    from physground.agent.benchmark import UpdateClock
    from physground.agent.factory import build_policy
    from physground.agent.grpo import train_grpo
    from physground.agent.run import RunDir

    torch.manual_seed(settings.seed)
    policy = build_policy(_spec(settings))
    clock = UpdateClock()
    with tempfile.TemporaryDirectory() as tmp:
        train_grpo(policy, _env_fn(settings, cache), settings.grpo_config, RunDir(Path(tmp) / "run"), seed=settings.seed, progress=False,
                   accelerator=settings.accelerator, callbacks=[clock])
    seconds = clock.times[-1] - clock.times[0]
    return {"samples_per_s": settings.answers_per_update * settings.updates / seconds, "seconds_timed": seconds, "samples_timed": settings.answers_per_update * settings.updates}


def trl_samples_per_s(settings: ThroughputSettings, cache: Path, episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Samples/s of TRL's ``GRPOTrainer`` over the timed generation batches.

    Raises:
        RuntimeError: TRL (or its ``datasets`` dependency) is not installed.
    """
    try:
        import datasets
        import trl
        from peft import LoraConfig
        from transformers import TrainerCallback
    except ImportError as exc:
        raise RuntimeError("the TRL comparison needs trl: pip install trl") from exc
    import torch

    from physground.agent.env_state import StateCapture
    from physground.envs.answer_formats import answer_format
    from physground.perception.vlm import DEFAULT_LORA_TARGETS, VLM, to_pil
    from physground.perception.vlm_names import resolve_vlm

    torch.manual_seed(settings.seed)
    fmt = answer_format(settings.answer_format)
    env = StateCapture(_env_fn(settings, cache)())
    semantics = env.unwrapped
    options = tuple(semantics.action_names)

    def reward(completions: list[Any], episode: list[int], **_: Any) -> list[float]:
        # the same scoring as physground's GRPO: the env restored to the scene, stepped with the answer
        rewards = []
        for completion, e in zip(completions, episode):
            text = completion[0]["content"] if isinstance(completion, list) else str(completion)
            action, given = fmt.read(text.strip(), semantics.parse_answer)
            env.set_state(episodes[e]["state"])
            rewards.append(float(env.step(given if action is None else action)[1]))
        return rewards

    # TRL puts a row's "image" before the text of its (conversational) prompt, as physground's prompt format does
    rows = [{"prompt": [{"role": "user", "content": fmt.prompt(ep["prompt"], options)}], "image": to_pil(ep["image"]), "episode": e}
            for e, ep in enumerate(episodes)]
    dataset = datasets.Dataset.from_list(rows)
    vlm = VLM.load(resolve_vlm(settings.vlm))
    steps_per_generation = settings.answers_per_update // settings.minibatch
    with tempfile.TemporaryDirectory() as tmp:
        args = trl.GRPOConfig(
            output_dir=tmp, per_device_train_batch_size=settings.minibatch, num_generations=settings.group_size,
            steps_per_generation=steps_per_generation, gradient_accumulation_steps=1, num_iterations=1,
            max_steps=(settings.updates + 1) * steps_per_generation, max_completion_length=fmt.max_new_tokens, learning_rate=settings.lr,
            beta=settings.kl_coef, epsilon=0.2, temperature=1.0, logging_steps=1, report_to="none", save_strategy="no",
            use_cpu=settings.accelerator == "cpu", remove_unused_columns=False, seed=settings.seed, dataloader_num_workers=0,
            # physground's GRPO trains in fp32 without activation checkpointing; TRL defaults to bf16 and checkpointing
            bf16=False, fp16=False, gradient_checkpointing=False,
        )
        times: list[float] = []

        class StepTimes(TrainerCallback):
            def on_step_end(self, *_: Any, **__: Any) -> None:
                times.append(time.perf_counter())

        peft = LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank, lora_dropout=0.0, target_modules=DEFAULT_LORA_TARGETS)
        trainer = trl.GRPOTrainer(model=vlm.model, reward_funcs=[reward], args=args, train_dataset=dataset, processing_class=vlm.processor,
                                  peft_config=peft, callbacks=[StepTimes()])
        trainer.train()
    env.close()
    ends = times[steps_per_generation - 1 :: steps_per_generation]  # the end of each generation batch's steps
    seconds = ends[-1] - ends[0]
    return {"samples_per_s": settings.answers_per_update * (len(ends) - 1) / seconds, "seconds_timed": seconds,
            "samples_timed": settings.answers_per_update * (len(ends) - 1), "trl_version": trl.__version__}


def compare(settings: ThroughputSettings) -> dict[str, Any]:
    """Both trainers, alternating ``settings.repeats`` times; medians and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "resets"
        episodes = draw_episodes(settings, cache)
        ours, theirs = [], []
        for _ in range(settings.repeats):
            ours.append(physground_samples_per_s(settings, cache))
            theirs.append(trl_samples_per_s(settings, cache, episodes))
    ours_median = statistics.median(r["samples_per_s"] for r in ours)
    theirs_median = statistics.median(r["samples_per_s"] for r in theirs)
    return {"settings": asdict(settings), "physground": ours, "trl": theirs, "physground_samples_per_s": ours_median,
            "trl_samples_per_s": theirs_median, "ratio": ours_median / theirs_median}
