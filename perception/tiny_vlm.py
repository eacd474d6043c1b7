"""The embedded default VLM: a tiny LLaVA-style model pre-trained offline on static scenes.

Real pre-trained VLM weights cannot be downloaded here, so physground ships its own: a CLIP-style
vision tower, a two-layer projector and a small Llama-style language model, built from configs,
with a byte-level BPE tokenizer trained locally with ``tokenizers``. It is pre-trained on
image-text pairs rendered from the shared world of every task (captions; colours, counts, the
colour order of a tower, left/right, the highest object, surfaces) and never on an outcome
(fall, land, catch): it knows images and words, not physics.

``physground pretrain-vlm --out DIR`` runs :func:`pretrain`; the shipped checkpoint lives in
``perception/checkpoints/tiny-vlm`` with its model card.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from physground.envs import BASE_TASKS, TASKS, SceneConfig
from physground.envs.answer_formats import AnswerFormat
from physground.envs.files import atomic_directory
from physground.perception.scene_data import draw_and_render, run_chunks
from physground.perception.scene_text import OPT_IN_TYPES, QUESTION_TYPES, normalize_answer, scene_questions

SHIPPED_CHECKPOINT = Path(__file__).parent / "checkpoints" / "tiny-vlm"
"""Where the shipped tiny VLM lives (the default VLM of every agent)."""

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>", "<image>")
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %} "
    "{% else %}ASSISTANT: {% for c in m['content'] %}{{ c['text'] }}{% endfor %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
ANSWER_PREFIX = " "
"""Answers follow "ASSISTANT:" after one space (as scored by ``VLM.score_options``)."""


@dataclass(frozen=True)
class TinyVLMConfig:
    """Architecture of the tiny VLM.

    Attributes:
        image_size: Input side (pixels); the env's default 128.
        patch_size: Vision patch side; (image_size / patch_size)^2 image tokens.
        vision_hidden, vision_layers, vision_heads: CLIP-style vision tower.
        text_hidden, text_layers, text_heads: Llama-style language model.
        vocab_size: BPE vocabulary size (special tokens included).
        max_positions: Longest sequence (image tokens + text).
    """

    image_size: int = 128
    patch_size: int = 16
    vision_hidden: int = 192
    vision_layers: int = 6
    vision_heads: int = 4
    text_hidden: int = 256
    text_layers: int = 4
    text_heads: int = 4
    vocab_size: int = 1024
    max_positions: int = 256

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        for name in ("vision_hidden", "text_hidden"):
            heads = getattr(self, name.replace("hidden", "heads"))
            if getattr(self, name) % heads:
                raise ValueError(f"{name} must be divisible by its number of heads")


# ----------------------------------------------------------------------------------------------
# Tokenizer, processor, model
# ----------------------------------------------------------------------------------------------


def task_texts() -> list[str]:
    """The canonical prompts and answer words of the six tasks (so the tokenizer covers them; no
    labels). The composed tasks and other phrasings are left out on purpose: the shipped tokenizer
    was trained on these texts, and its recipe must stay reproducible (byte-level BPE reads any
    other wording too)."""
    texts = []
    for spec in (TASKS[name] for name in BASE_TASKS):
        env = spec.env_class(scene=SceneConfig(render_images=False))
        env.reset(seed=0)
        texts.append(env.prompt)
        texts.extend(env.action_names)
        env.close()
    texts.append("Attempt 1 at +2 failed: the tower fell. Attempt 2 at -1 failed: the block missed the tower.")
    return texts


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer trained on ``texts``, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", extra_special_tokens={"image_token": "<image>"}
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(tokenizer: Any, config: TinyVLMConfig) -> Any:
    """A ``LlavaProcessor`` (PIL-based CLIP image processor, no torchvision needed)."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": config.image_size}, crop_size={"height": config.image_size, "width": config.image_size}
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=config.patch_size,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
    )


def build_model(config: TinyVLMConfig, tokenizer: Any) -> Any:
    """A freshly initialised ``LlavaForConditionalGeneration``; ids come from ``tokenizer``."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        image_size=config.image_size,
        patch_size=config.patch_size,
        hidden_size=config.vision_hidden,
        intermediate_size=4 * config.vision_hidden,
        num_hidden_layers=config.vision_layers,
        num_attention_heads=config.vision_heads,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.text_hidden,
        intermediate_size=round(8 * config.text_hidden / 3 / 32) * 32,
        num_hidden_layers=config.text_layers,
        num_attention_heads=config.text_heads,
        num_key_value_heads=config.text_heads,
        max_position_embeddings=config.max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    llava = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        image_seq_length=(config.image_size // config.patch_size) ** 2,
    )
    model = LlavaForConditionalGeneration(llava)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


# ----------------------------------------------------------------------------------------------
# Data: static scenes of every task, rendered, with questions
# ----------------------------------------------------------------------------------------------


@dataclass
class PairData:
    """Rendered scenes and their questions.

    Attributes:
        images: uint8 array (N_scenes, H, W, 3).
        items: (scene index, question, answer, type) for every pair.
        tasks: Task of each scene.
    """

    images: np.ndarray
    items: list[tuple[int, str, str, str]]
    tasks: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)


def _render_chunk(args: tuple[int, list[int], int, float, dict[str, int]]) -> tuple[list[int], np.ndarray, list[list[tuple[str, str, str]]], list[str]]:
    """Worker: draw, render and question scenes ``indices`` (each from its own seed)."""
    seed, indices, image_size, dr_fraction, extra = args
    names = list(BASE_TASKS)
    envs = {n: TASKS[n].env_class(scene=SceneConfig(image_size=image_size)) for n in names}
    images, questions, tasks = [], [], []
    for index in indices:
        image, scene, rng, name = draw_and_render(envs, seed, index, dr_fraction, names)
        images.append(image)
        asked = [(qa.question, qa.answer, qa.kind) for qa in scene_questions(scene, rng).values()]
        for kind, n in extra.items():  # more questions of the types that need them (new wording/targets)
            optional = (kind,) if kind in OPT_IN_TYPES else ()
            for _ in range(n):
                qa = scene_questions(scene, rng, optional).get(kind)
                if qa is not None and (qa.question, qa.answer, qa.kind) not in asked:
                    asked.append((qa.question, qa.answer, qa.kind))
        questions.append(asked)
        tasks.append(name)
    for env in envs.values():
        env.close()
    return indices, np.stack(images), questions, tasks


def generate_pairs(
    n_scenes: int, seed: int, image_size: int = 128, dr_fraction: float = 0.25, workers: int = 1, extra: dict[str, int] | None = None
) -> PairData:
    """Render ``n_scenes`` static scenes (tasks in turn) and every question that applies.

    Deterministic in ``seed`` whatever ``workers`` is. About 7 pairs per scene, plus up to
    ``extra[type]`` more questions of a type per scene (different targets or wording); opt-in types
    (``OPT_IN_TYPES``) are asked only through ``extra``.
    """
    extra = dict(extra or {})
    unknown = sorted(set(extra) - set(QUESTION_TYPES))
    if unknown:
        raise ValueError(f"unknown question type {unknown[0]!r}; valid: {', '.join(QUESTION_TYPES)}")
    if n_scenes < 1:
        raise ValueError(f"n_scenes must be positive, got {n_scenes}")
    chunks = [list(range(i, min(i + 256, n_scenes))) for i in range(0, n_scenes, 256)]
    results = run_chunks(_render_chunk, [(seed, c, image_size, dr_fraction, extra) for c in chunks], workers)
    images = np.concatenate([r[1] for r in results])
    items = [(idx, q, a, k) for r in results for idx, qs in zip(r[0], r[2]) for q, a, k in qs]
    tasks = [t for r in results for t in r[3]]
    return PairData(images, items, tasks)


class PairDataset(torch.utils.data.Dataset):
    """(image, question, answer) pairs of a :class:`PairData`."""

    def __init__(self, data: PairData) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data.items)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str, str]:
        index, question, answer, _ = self.data.items[i]
        return self.data.images[index], question, answer


class AnswerCollator:
    """Batches (image, question, answer): prompt through the processor, then the answer's tokens
    and end-of-sequence; the loss sees only the answer (labels -100 elsewhere)."""

    def __init__(self, processor: Any, answer_prefix: str = ANSWER_PREFIX) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.answer_prefix = answer_prefix

    def __call__(self, batch: list[tuple[np.ndarray, str, str]]) -> dict[str, torch.Tensor]:
        from PIL import Image

        from physground.perception.vlm import format_prompt

        images = [Image.fromarray(im) for im, _, _ in batch]
        texts = [format_prompt(self.processor, q) for _, q, _ in batch]
        enc = self.processor(images=images, text=texts, return_tensors="pt", padding=True)
        lengths = enc["attention_mask"].sum(dim=1).tolist()
        rows, starts = [], []
        for b, (_, _, answer) in enumerate(batch):
            answer_ids = self.tokenizer(self.answer_prefix + answer, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            rows.append(enc["input_ids"][b, : lengths[b]].tolist() + answer_ids)
            starts.append(lengths[b])
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for i, (r, s) in enumerate(zip(rows, starts)):
            input_ids[i, : len(r)] = torch.tensor(r)
            labels[i, s : len(r)] = torch.tensor(r[s:])
            attention[i, : len(r)] = 1
        return {"input_ids": input_ids, "attention_mask": attention, "pixel_values": enc["pixel_values"], "labels": labels}


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


def _lightning_module_class() -> type:
    import lightning as L

    class TinyVLMPretraining(L.LightningModule):
        """Thin Lightning wrapper: next-token loss on answers, AdamW with warm-up and cosine decay."""

        def __init__(self, model: torch.nn.Module, lr: float, weight_decay: float, warmup_steps: int, total_steps: int) -> None:
            super().__init__()
            self.model = model
            self.lr, self.weight_decay = lr, weight_decay
            self.warmup_steps, self.total_steps = warmup_steps, total_steps

        def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
            loss = self.model(**batch).loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{stage} loss is {loss.item()} at step {self.global_step}")
            self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0], sync_dist=stage != "train")
            return loss

        def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
            return self._common_step(batch, "train")

        def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
            self._common_step(batch, "val")

        def configure_optimizers(self) -> Any:
            trainable = [p for p in self.model.parameters() if p.requires_grad]  # adapters: the base model stays frozen
            decay = [p for p in trainable if p.ndim >= 2]
            no_decay = [p for p in trainable if p.ndim < 2]
            optimizer = torch.optim.AdamW(
                [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=self.lr, betas=(0.9, 0.98)
            )

            def schedule(step: int) -> float:
                if step < self.warmup_steps:
                    return (step + 1) / self.warmup_steps
                progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
                return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    return TinyVLMPretraining


SMALL_MODEL = TinyVLMConfig(vision_hidden=64, vision_layers=2, vision_heads=2, text_hidden=64, text_layers=2, text_heads=2, vocab_size=600)
"""A very small variant for CPU smoke runs and tests."""


@dataclass
class PretrainSettings:
    """Everything ``pretrain`` needs; saved in the model card and ``pretrain.json``."""

    out: str
    n_scenes: int = 12000
    eval_scenes: int = 600
    epochs: int = 12
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0
    workers: int = 1
    dr_fraction: float = 0.25
    accelerator: str = "auto"
    precision: str = "32-true"
    save_dtype: str = "float16"
    max_minutes: float | None = None
    init_from: str | None = None
    extra_questions: dict[str, int] = field(default_factory=dict)
    model: TinyVLMConfig = field(default_factory=TinyVLMConfig)


def evaluate_vlm(vlm: Any, data: PairData, batch_size: int = 64, max_new_tokens: int = 40,
                 answer_format: AnswerFormat | None = None) -> dict[str, dict[str, float]]:
    """Exact-match accuracy of greedy answers, per question type.

    With a tagged ``answer_format`` (``envs.answer_formats``) every question carries its
    instruction to answer between ``<answer>`` and ``</answer>`` (instruction following): an
    answer counts as correct only in the format, and ``followed`` counts the answers in it.

    Returns:
        Type -> {"accuracy", "correct", "total"} (and "followed", "followed_share" with a tagged format).
    """
    tagged = answer_format is not None and answer_format.tagged
    stats = {k: [0, 0, 0] for k in QUESTION_TYPES}
    for start in range(0, len(data.items), batch_size):
        chunk = data.items[start : start + batch_size]
        prompts = [answer_format.prompt(q, ()) if tagged else q for _, q, _, _ in chunk]
        answers = vlm.generate([data.images[i] for i, *_ in chunk], prompts, max_new_tokens=max_new_tokens)
        for (_, _, truth, kind), got in zip(chunk, answers):
            read = answer_format.answer_text(got) if tagged else got
            stats[kind][0] += read is not None and normalize_answer(read) == normalize_answer(truth)
            stats[kind][1] += 1
            stats[kind][2] += read is not None
    out: dict[str, dict[str, float]] = {}
    for k, (c, n, followed) in stats.items():
        out[k] = {"accuracy": c / n if n else float("nan"), "correct": c, "total": n}
        if tagged:
            out[k].update(followed=followed, followed_share=followed / n if n else float("nan"))
    return out


def pair_loaders(data: PairData, collate: AnswerCollator, settings: PretrainSettings) -> tuple[Any, Any]:
    """(training loader, validation loader): 2 % of the pairs (at least one), drawn from
    ``settings.seed``, validate; batches of ``settings.batch_size`` through ``collate``."""
    order = np.random.default_rng(settings.seed).permutation(len(data.items))
    n_val = max(1, len(order) // 50)
    val_items = [data.items[i] for i in order[:n_val]]
    train_items = [data.items[i] for i in order[n_val:]]
    loader_workers = min(8, max(0, (os.cpu_count() or 1) - 1))
    train_loader = torch.utils.data.DataLoader(
        PairDataset(PairData(data.images, train_items)), batch_size=settings.batch_size, shuffle=True, collate_fn=collate,
        num_workers=loader_workers, persistent_workers=loader_workers > 0, drop_last=True,
    )
    val_loader = torch.utils.data.DataLoader(
        PairDataset(PairData(data.images, val_items)), batch_size=settings.batch_size, collate_fn=collate, num_workers=loader_workers
    )
    return train_loader, val_loader


def training_module(model: torch.nn.Module, settings: PretrainSettings, batches_per_epoch: int) -> Any:
    """The Lightning module training ``model``'s trainable parameters on answers (warm-up, cosine decay)."""
    total_steps = settings.epochs * max(1, batches_per_epoch)
    return _lightning_module_class()(model, settings.lr, settings.weight_decay, min(500, total_steps // 10 + 1), total_steps)


def fit(module: Any, train_loader: Any, val_loader: Any, settings: PretrainSettings, work: Path) -> tuple[Any, float]:
    """Train with Lightning (TensorBoard logs under ``work/logs``); returns (trainer, seconds)."""
    import lightning as L

    trainer = L.Trainer(
        max_epochs=settings.epochs, accelerator=settings.accelerator, devices=1, precision=settings.precision,
        default_root_dir=str(work / "logs"), logger=L.pytorch.loggers.TensorBoardLogger(str(work / "logs"), name="pretrain"),
        enable_checkpointing=False, gradient_clip_val=1.0, log_every_n_steps=20, deterministic=False,
        max_time={"minutes": settings.max_minutes} if settings.max_minutes else None,
    )
    started = time.time()
    trainer.fit(module, train_loader, val_loader)
    return trainer, time.time() - started


def pretrain(settings: PretrainSettings) -> dict[str, Any]:
    """Generate data, train the tiny VLM, evaluate it on fresh scenes, save it with a model card.

    The checkpoint is written to a temporary folder and renamed onto ``settings.out`` at the end,
    so an interrupted run leaves nothing half-written.

    Returns:
        The summary written to ``pretrain.json`` (sizes, timings, held-out accuracy per type).
    """
    import lightning as L

    from physground.perception.vlm import VLM

    started = time.time()
    L.seed_everything(settings.seed, workers=True)
    cfg = settings.model
    previous = None
    if settings.init_from:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        previous_json = Path(settings.init_from) / "pretrain.json"
        if not previous_json.exists():
            raise FileNotFoundError(f"--init-from {settings.init_from!r} has no pretrain.json: not a physground tiny-VLM checkpoint")
        previous = json.loads(previous_json.read_text())
        cfg = TinyVLMConfig(**previous["settings"]["model"])
    data = generate_pairs(settings.n_scenes, settings.seed, cfg.image_size, settings.dr_fraction, settings.workers, settings.extra_questions)
    opt_in = {k: 1 for k in settings.extra_questions if k in OPT_IN_TYPES}  # evaluated when trained
    held_out = generate_pairs(settings.eval_scenes, settings.seed + 1_000_003, cfg.image_size, 0.0, settings.workers, opt_in)
    data_seconds = time.time() - started
    if settings.init_from:
        # Continue from an earlier stage: same architecture and tokenizer.
        processor = AutoProcessor.from_pretrained(settings.init_from, local_files_only=True)
        tokenizer = processor.tokenizer
        model = AutoModelForImageTextToText.from_pretrained(settings.init_from, dtype=torch.float32, local_files_only=True, use_safetensors=True)
    else:
        corpus = [f"{q} {a}" for _, q, a, _ in data.items] + task_texts()
        tokenizer = train_tokenizer(corpus, cfg.vocab_size)
        processor = build_processor(tokenizer, cfg)
        model = build_model(cfg, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())

    collate = AnswerCollator(processor)
    train_loader, val_loader = pair_loaders(data, collate, settings)
    module = training_module(model, settings, len(train_loader))
    out = Path(settings.out)
    with atomic_directory(out) as work:
        trainer, train_seconds = fit(module, train_loader, val_loader, settings, work)

        model = module.model.to(getattr(torch, settings.save_dtype)).cpu()
        model.save_pretrained(str(work), safe_serialization=True)
        processor.save_pretrained(str(work))
        vlm = VLM.load(work, device="cuda" if torch.cuda.is_available() else "cpu")
        accuracy = evaluate_vlm(vlm, held_out)
        summary = {
            "settings": {**asdict(settings), "model": asdict(cfg)},
            "parameters": n_params,
            "train_pairs": len(train_loader.dataset),
            "val_pairs": len(val_loader.dataset),
            "train_scenes": settings.n_scenes,
            "held_out_pairs": len(held_out.items),
            "held_out_scenes": settings.eval_scenes,
            "pairs_per_type": {k: sum(1 for *_, t in data.items if t == k) for k in QUESTION_TYPES},
            "held_out_accuracy": accuracy,
            "seconds": {"data": round(data_seconds, 1), "train": round(train_seconds, 1), "total": round(time.time() - started, 1)},
            "machine": machine_summary(),
            "final_val_loss": float(trainer.callback_metrics.get("val/loss", float("nan"))),
            "epochs_completed": int(trainer.current_epoch),
            "steps": int(trainer.global_step),
            "previous_stage": previous,
        }
        (work / "pretrain.json").write_text(json.dumps(summary, indent=2))
        (work / "README.md").write_text(model_card(summary))
    return summary


def machine_summary() -> str:
    """Accelerator (if any), CPU count, library versions."""
    import transformers

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{gpu}; {os.cpu_count()} CPU cores; {platform.system()}; torch {torch.__version__}; transformers {transformers.__version__}"


def model_card(summary: dict[str, Any]) -> str:
    """The checkpoint's README: what it is, how it was made, how well it does."""
    s = summary["settings"]
    rows = "\n".join(
        f"| {k} | {v['accuracy'] * 100:.1f} % | {v['correct']} / {v['total']} |" for k, v in summary["held_out_accuracy"].items() if v["total"]
    )
    stages = []
    stage = summary
    while stage is not None:
        stages.append(stage)
        stage = stage.get("previous_stage")
    commands = "\n".join(_command(st["settings"]) for st in reversed(stages))
    offsets = any(st["settings"].get("extra_questions", {}).get("offset") for st in stages)
    skills = ",\nhow far each tower block is shifted from the one below (to a tenth of a block size)" if offsets else ""
    earlier = "".join(
        f"- Stage {i + 1}: {st['train_scenes']} scenes, {st['train_pairs']} pairs, {st['steps']} steps, "
        f"{st['seconds']['total']} s on {st['machine']}.\n"
        for i, st in enumerate(reversed(stages[1:]))
    )
    return _card_text(summary, s, rows, commands, earlier, skills)


def _command(s: dict[str, Any]) -> str:
    return (
        f"physground pretrain-vlm --out {s['out']} --scenes {s['n_scenes']} --eval-scenes {s['eval_scenes']} --epochs {s['epochs']} "
        f"--batch-size {s['batch_size']} --lr {s['lr']} --seed {s['seed']} --workers {s['workers']} --precision {s['precision']}"
        + (f" --max-minutes {s['max_minutes']}" if s["max_minutes"] else "")
        + ("" if s["model"] == asdict(TinyVLMConfig()) else " --model-size small")
        + (f" --init-from {s['init_from']}" if s.get("init_from") else "")
        + (" --extra " + ",".join(f"{k}={v}" for k, v in s["extra_questions"].items()) if s.get("extra_questions") else "")
    )


def _card_text(summary: dict[str, Any], s: dict[str, Any], rows: str, command: str, earlier: str, skills: str) -> str:
    return f"""# physground tiny VLM

A LLaVA-style vision-language model ({summary['parameters'] / 1e6:.2f} M parameters, stored as {s['save_dtype']}) pre-trained
from scratch on static scenes of physground's shared world. It answers questions about colours,
counts, the colour order of a tower, left/right, the highest object and surfaces{skills}, and writes
captions. It was **never trained on an outcome** (fall, land, catch): it is the analogue of a
pre-trained VLM that knows images and words but has not been trained on physics.

- Architecture: CLIP-style vision tower ({s['model']['vision_layers']} layers, width {s['model']['vision_hidden']}, {s['model']['image_size']} px
  input, {s['model']['patch_size']} px patches), LLaVA projector, Llama-style language model ({s['model']['text_layers']} layers, width
  {s['model']['text_hidden']}), byte-level BPE tokenizer ({s['model']['vocab_size']} tokens) trained with `tokenizers`.
- Loads with `AutoModelForImageTextToText` / `AutoProcessor` (safetensors, no remote code), or `perception.vlm.VLM.load(path)`.
- Prompt format: `USER: <image>\\n{{question}} ASSISTANT: {{answer}}</s>`.

## How it was made

```
{command}
```

{earlier}- Data{' (last stage)' if earlier else ''}: {summary['train_scenes']} rendered scenes (all six tasks in turn, {s['dr_fraction'] * 100:.0f} % with domain randomisation),
  {summary['train_pairs']} training and {summary['val_pairs']} validation image-text pairs; per type: {summary['pairs_per_type']}.
- Seed {s['seed']}; {summary['steps']} steps ({summary['epochs_completed']} of {s['epochs']} epochs within the time cap {s['max_minutes']} min), batch {s['batch_size']}, AdamW lr {s['lr']} (warm-up, cosine), precision {s['precision']}.
- Time: data {summary['seconds']['data']} s, training {summary['seconds']['train']} s, total {summary['seconds']['total']} s.
- Machine: {summary['machine']}.
- Final validation loss: {summary['final_val_loss']:.4f}.

## Held-out accuracy

Greedy answers, exact match after lower-casing, on {summary['held_out_pairs']} questions about {summary['held_out_scenes']} fresh scenes
(a different seed stream, no domain randomisation):

| question type | accuracy | correct / total |
|---|---:|---:|
{rows}

## Licence and intended use

Apache-2.0, like physground. A research baseline for physground's tasks, not a general VLM.
"""
