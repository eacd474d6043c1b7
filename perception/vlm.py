"""One wrapper over any Hugging Face image-text-to-text model (LLaVA, Gemma 3, Qwen2-VL, ...).

The model and processor load through ``AutoModelForImageTextToText`` and ``AutoProcessor`` from a
local directory (or a hub id already in the local cache), with ``trust_remote_code=False`` and
safetensors only. Every token id and size comes from the loaded tokenizer and config.

Prompts are wrapped in the model's chat template (one image, then the text) when it has one;
answers are scored or generated right after the template's generation prompt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from envs.files import atomic_directory

ImageLike = np.ndarray | Image.Image

DEFAULT_LORA_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
"""LoRA goes on the language model's attention and MLP projections (the vision tower stays)."""
LORA_TARGETS = {
    "language": DEFAULT_LORA_TARGETS,
    "all": r".*(language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|vision_tower.*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)|multi_modal_projector\.linear_\d)",
}
"""Where LoRA adapters go, by name: the language model only, or also the vision tower's attention
and MLP projections and the multimodal projector (CLIP/SigLIP-style module names)."""


def lora_target_pattern(name: str) -> str:
    """The module pattern of the LoRA targets called ``name`` (a key of ``LORA_TARGETS``).

    Raises:
        ValueError: An unknown name, listing the valid ones.
    """
    if name not in LORA_TARGETS:
        raise ValueError(f"unknown LoRA targets {name!r}; valid: {', '.join(LORA_TARGETS)}")
    return LORA_TARGETS[name]


def to_pil(image: ImageLike) -> Image.Image:
    """An RGB PIL image from a PIL image or a uint8 array of shape (H, W, 3).

    Raises:
        ValueError: Any other shape or dtype, naming it.
    """
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
            raise ValueError(f"an image must be a uint8 array of shape (H, W, 3), got {image.dtype} {image.shape}")
        return Image.fromarray(image)
    raise ValueError(f"an image must be a PIL image or a uint8 array of shape (H, W, 3), got {type(image).__name__}")


def format_prompt(processor: Any, prompt: str) -> str:
    """The text fed to a model for one image and ``prompt``: its chat template when it has one
    (a user turn with the image, then the text, and the generation prompt), else image token +
    prompt. Training and inference both go through here, so they always agree."""
    template = getattr(processor, "chat_template", None) or getattr(processor.tokenizer, "chat_template", None)
    if template:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        return processor.apply_chat_template(messages, add_generation_prompt=True)
    image_token = getattr(processor, "image_token", None) or "<image>"
    return f"{image_token}\n{prompt}\n"


def missing_checkpoint_message(path: str) -> str:
    """How to get a checkpoint that is not on disk (nothing is downloaded at run time)."""
    return (
        f"no checkpoint at {path!r} (and it is not in the local Hugging Face cache). physground never downloads weights "
        "at run time: fetch it once on a machine with network access, e.g. `huggingface-cli download "
        f"{path} --local-dir checkpoints/{Path(path).name}`, then pass that folder; or use the shipped tiny VLM "
        "(perception/checkpoints/tiny-vlm) or build one with `physground pretrain-vlm`."
    )


class VLM:
    """An image-text-to-text model with its processor.

    Args:
        model: A loaded ``...ForConditionalGeneration`` model (or a peft wrapper of one).
        processor: Its processor (image processor + tokenizer, chat template).
        answer_prefix: Text put between the generation prompt and an answer (a space when the
            prompt ends with "ASSISTANT:"-style text).

    Attributes:
        hidden_size: Width of the language model's hidden states (from the config).
        num_layers: Number of language-model layers (``hidden_states`` returns num_layers + 1).
    """

    def __init__(self, model: torch.nn.Module, processor: Any, answer_prefix: str | None = None) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        if self.tokenizer.pad_token_id is None:
            raise ValueError("the tokenizer has no pad token; set one before wrapping the model")
        text_config = self._base_model().config.get_text_config()
        self.hidden_size = int(text_config.hidden_size)
        self.num_layers = int(text_config.num_hidden_layers)
        if answer_prefix is None:
            answer_prefix = "" if self.format_prompt("x")[-1:].isspace() else " "
        self.answer_prefix = answer_prefix

    # -- loading --------------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        trust_remote_code: bool = False,
        answer_prefix: str | None = None,
    ) -> VLM:
        """Load a model and processor from a local folder or a locally cached hub id.

        Raises:
            FileNotFoundError: Nothing to load there; the message says how to get it.
        """
        from transformers import AutoModelForImageTextToText, AutoProcessor

        name = str(path)
        local = Path(name)
        if local.exists() and not (local / "config.json").exists():
            raise FileNotFoundError(f"{name!r} exists but has no config.json: not a Hugging Face checkpoint folder")
        kwargs = {"trust_remote_code": trust_remote_code, "local_files_only": True}
        try:
            processor = AutoProcessor.from_pretrained(name, **kwargs)
            model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype, use_safetensors=True, **kwargs)
        except OSError as exc:
            if local.exists():
                raise FileNotFoundError(f"cannot load a checkpoint from {name!r}: {exc}") from exc
            raise FileNotFoundError(missing_checkpoint_message(name)) from exc
        model.to(device)
        model.eval()
        return cls(model, processor, answer_prefix=answer_prefix)

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        return next(self.model.parameters()).device

    def _base_model(self) -> torch.nn.Module:
        model = self.model
        return model.get_base_model() if hasattr(model, "get_base_model") else model

    # -- inputs ---------------------------------------------------------------------------------

    def format_prompt(self, prompt: str) -> str:
        """The text fed to the model for one image and ``prompt`` (see :func:`format_prompt`)."""
        return format_prompt(self.processor, prompt)

    def encode(self, images: Sequence[ImageLike], prompts: Sequence[str], padding_side: str = "right") -> dict[str, torch.Tensor]:
        """Processor outputs for one image per prompt, on the model's device.

        Args:
            images: B images (uint8 (H, W, 3) arrays or PIL images).
            prompts: B prompts.
            padding_side: Where to pad ("left" for generation).

        Returns:
            At least ``input_ids`` (B, T), ``attention_mask`` (B, T) and the image tensors.
        """
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images for {len(prompts)} prompts")
        if not prompts:
            raise ValueError("nothing to encode: no prompts")
        texts = [self.format_prompt(p) for p in prompts]
        pil = [to_pil(im) for im in images]
        # Models that take several images per sample (Idefics3, Gemma 3) want one list per sample.
        nested = type(self.processor).__name__.startswith(("Idefics", "SmolVLM", "Gemma3"))
        batch = self.processor(images=[[im] for im in pil] if nested else pil, text=texts, return_tensors="pt", padding=True, padding_side=padding_side)
        return {k: v.to(self.device) for k, v in batch.items()}

    def _option_ids(self, option: str) -> list[int]:
        ids = self.tokenizer(self.answer_prefix + option, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError(f"option {option!r} tokenises to nothing")
        return ids

    # -- scoring and generation -------------------------------------------------------------------

    def score_options(
        self,
        images: Sequence[ImageLike],
        prompts: Sequence[str],
        options: Sequence[str] | Sequence[Sequence[str]],
        length_normalize: bool = False,
        grad: bool | None = False,
        return_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of each answer option after each (image, prompt).

        Args:
            images: B images.
            prompts: B prompts.
            options: K option strings shared by all prompts, or B lists of K options each.
            length_normalize: Divide each option's summed token log-prob by its token count.
            grad: Keep the autograd graph (for training through the scores); None follows
                ``torch.is_grad_enabled()``.
            return_hidden: Also return the last layer's hidden state at the last prompt token.

        Returns:
            Tensor (B, K): summed (or mean) log-probabilities of the options' tokens; with
            ``return_hidden`` also (B, hidden_size).
        """
        per_prompt = [list(options)] * len(prompts) if options and isinstance(options[0], str) else [list(o) for o in options]
        if len(per_prompt) != len(prompts) or len({len(o) for o in per_prompt}) != 1:
            raise ValueError("options must be one list for all prompts or one equally long list per prompt")
        k = len(per_prompt[0])
        if k == 0:
            raise ValueError("at least one option is needed")
        batch = self.encode(images, prompts)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        lengths = mask.sum(dim=1).tolist()
        rows, option_spans = [], []
        for b, opts in enumerate(per_prompt):
            prompt_ids = ids[b, : lengths[b]].tolist()
            for option in opts:
                option_ids = self._option_ids(option)
                rows.append(prompt_ids + option_ids)
                option_spans.append((lengths[b], len(option_ids)))
        with torch.set_grad_enabled(torch.is_grad_enabled() if grad is None else grad):
            if self.shares_image_features:
                inputs = self._expand_embeddings(batch, rows, k)
            else:
                inputs = self._expand(batch, rows, k)
            out = self.model(**inputs, output_hidden_states=return_hidden)
            logprobs = torch.log_softmax(out.logits.float(), dim=-1)
        if "inputs_embeds" in inputs:
            inputs["input_ids"] = inputs.pop("row_ids")
        scores = []
        for row, (start, n) in enumerate(option_spans):
            targets = inputs["input_ids"][row, start : start + n]
            token_lp = logprobs[row, start - 1 : start - 1 + n].gather(-1, targets[:, None]).squeeze(-1)
            scores.append(token_lp.sum() / (n if length_normalize else 1))
        scores_t = torch.stack(scores).view(len(prompts), k)
        if not return_hidden:
            return scores_t
        first_rows = torch.arange(0, len(rows), k, device=self.device)
        last_prompt = torch.tensor([option_spans[r][0] - 1 for r in first_rows.tolist()], device=self.device)
        return scores_t, out.hidden_states[-1][first_rows, last_prompt]

    @property
    def shares_image_features(self) -> bool:
        """True for the LLaVA family, whose image features are just scattered into the image
        placeholder tokens' embeddings: ``score_options`` then runs the vision tower once per
        prompt and reuses the features for every option (others repeat the image per option)."""
        base = self._base_model()
        return type(base).__name__ == "LlavaForConditionalGeneration" and hasattr(base.model, "get_image_features")

    def _expand_embeddings(self, batch: dict[str, torch.Tensor], rows: list[list[int]], k: int) -> dict[str, torch.Tensor]:
        """LLaVA fast path: input embeddings of the B*K rows with each prompt's image features
        computed once and written into its K rows' image tokens."""
        base = self._base_model()
        config = base.config
        features = base.model.get_image_features(
            pixel_values=batch["pixel_values"], vision_feature_layer=config.vision_feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy, return_dict=True,
        ).pooler_output
        features = torch.stack(list(features)) if isinstance(features, (list, tuple)) else features
        plain = self._expand({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}, rows, k)
        embeds = base.get_input_embeddings()(plain["input_ids"])
        image_mask = (plain["input_ids"] == config.image_token_id).unsqueeze(-1)
        repeated = features.repeat_interleave(k, dim=0).to(embeds.dtype).reshape(-1, embeds.shape[-1])
        embeds = embeds.masked_scatter(image_mask.expand_as(embeds), repeated)
        return {"inputs_embeds": embeds, "attention_mask": plain["attention_mask"], "row_ids": plain["input_ids"]}

    def _expand(self, batch: dict[str, torch.Tensor], rows: list[list[int]], k: int) -> dict[str, torch.Tensor]:
        """Model inputs for B*K rows (prompt + option ids, right-padded), images repeated K times."""
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long, device=self.device)
        attention = torch.zeros((len(rows), width), dtype=torch.long, device=self.device)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = torch.tensor(r, device=self.device)
            attention[i, : len(r)] = 1
        out = {"input_ids": input_ids, "attention_mask": attention}
        b_prompts = batch["input_ids"].shape[0]
        for key, value in batch.items():
            if key in ("input_ids", "attention_mask"):
                continue
            if key == "pixel_values" and "image_grid_thw" in batch:  # patches of all images concatenated
                sizes = batch["image_grid_thw"].prod(dim=-1).tolist()
                chunks = torch.split(value, sizes)
                out[key] = torch.cat([c for c in chunks for _ in range(k)])
            elif value.dim() >= 2 and value.shape[0] == b_prompts and value.shape[1] == batch["input_ids"].shape[1]:
                # Per-token tensors (token_type_ids ...): repeat, then zero-extend over the option.
                grown = torch.zeros((len(rows), width), dtype=value.dtype, device=self.device)
                grown[:, : value.shape[1]] = value.repeat_interleave(k, dim=0)[:, :width]
                out[key] = grown
            elif value.shape[0] == b_prompts:
                out[key] = value.repeat_interleave(k, dim=0)
            else:
                raise ValueError(f"cannot repeat processor output {key!r} of shape {tuple(value.shape)} per option")
        return out

    @torch.no_grad()
    def generate(
        self,
        images: Sequence[ImageLike],
        prompts: Sequence[str],
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator_seed: int | None = None,
    ) -> list[str]:
        """Free-text answers, one per (image, prompt); greedy unless ``do_sample``."""
        batch = self.encode(images, prompts, padding_side="left")
        if generator_seed is not None:
            torch.manual_seed(generator_seed)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, "pad_token_id": self.tokenizer.pad_token_id}
        if do_sample:
            kwargs.update(temperature=temperature, top_p=top_p)
        out = self.model.generate(**batch, **kwargs)
        new_tokens = out[:, batch["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def hidden_states(self, images: Sequence[ImageLike], prompts: Sequence[str], grad: bool = False) -> torch.Tensor:
        """Every layer's activation at the last prompt token.

        Returns:
            Tensor (num_layers + 1, B, hidden_size): the embeddings, then each layer's output.
        """
        batch = self.encode(images, prompts)
        with torch.set_grad_enabled(grad):
            out = self.model(**batch, output_hidden_states=True)
        last = batch["attention_mask"].sum(dim=1) - 1
        rows = torch.arange(last.shape[0], device=last.device)
        return torch.stack([h[rows, last] for h in out.hidden_states])

    def vision_features(self, images: Sequence[ImageLike], grad: bool = False) -> torch.Tensor:
        """The image tokens the language model sees (after the projector).

        Returns:
            Tensor (B, T, D): T image tokens of width D per image.
        """
        pil = [to_pil(im) for im in images]
        nested = type(self.processor).__name__.startswith(("Idefics", "SmolVLM", "Gemma3"))
        pixels = self.processor.image_processor([[im] for im in pil] if nested else pil, return_tensors="pt")["pixel_values"].to(self.device)
        with torch.set_grad_enabled(grad):
            out = self._base_model().get_image_features(pixel_values=pixels)
        feats = getattr(out, "pooler_output", out)
        if isinstance(feats, (list, tuple)):
            feats = torch.stack(list(feats))
        return feats.reshape(len(pil), -1, feats.shape[-1])

    # -- LoRA -----------------------------------------------------------------------------------

    @property
    def has_lora(self) -> bool:
        """True when LoRA adapters are attached."""
        return hasattr(self.model, "peft_config")

    def attach_lora(self, rank: int = 16, alpha: float | None = None, dropout: float = 0.0, target_modules: str | list[str] = DEFAULT_LORA_TARGETS) -> None:
        """Wrap the model with fresh LoRA adapters (only they train; the base is frozen)."""
        from peft import LoraConfig, get_peft_model

        if self.has_lora:
            raise ValueError("LoRA adapters are already attached")
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"LoRA rank must be a positive integer, got {rank!r}")
        config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, lora_dropout=dropout, target_modules=target_modules)
        self.model = get_peft_model(self.model, config)

    def save_lora(self, path: str | os.PathLike[str]) -> None:
        """Save the adapters (safetensors) to the folder ``path`` (written beside it, then renamed)."""
        if not self.has_lora:
            raise ValueError("no LoRA adapters to save")
        with atomic_directory(path) as work:
            self.model.save_pretrained(str(work), safe_serialization=True)

    def load_lora(self, path: str | os.PathLike[str], trainable: bool = False) -> None:
        """Attach adapters saved with ``save_lora``.

        Raises:
            FileNotFoundError: No adapter at ``path``.
        """
        from peft import PeftModel

        if not (Path(path) / "adapter_config.json").exists():
            raise FileNotFoundError(f"no LoRA adapter (adapter_config.json) in {str(path)!r}")
        if self.has_lora:
            raise ValueError("LoRA adapters are already attached")
        self.model = PeftModel.from_pretrained(self.model, str(path), is_trainable=trainable)

    def merge_lora(self) -> None:
        """Fold the adapters into the base weights and drop the peft wrapper."""
        if not self.has_lora:
            raise ValueError("no LoRA adapters to merge")
        self.model = self.model.merge_and_unload()
