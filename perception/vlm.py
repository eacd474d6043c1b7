"""One wrapper over any Hugging Face image-text-to-text model (LLaVA, Gemma 3, Qwen2-VL, ...).

The model and processor load through ``AutoModelForImageTextToText`` and ``AutoProcessor`` from a
local directory (or a hub id already in the local cache), with ``trust_remote_code=False`` and
safetensors only. Every token id and size comes from the loaded tokenizer and config.

Prompts are wrapped in the model's chat template (one image, then the text) when it has one;
answers are scored or generated right after the template's generation prompt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from physground.envs.files import atomic_directory

ImageLike = np.ndarray | Image.Image

OPTION_CACHE_SIZE = 4096
"""How many answer options' token ids a VLM keeps (answer words repeat; generated texts rarely do)."""

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


@dataclass
class EncodedPrompt:
    """One (image, prompt) pair after the processor (see :meth:`VLM.encode_each`).

    Attributes:
        ids: The prompt's token ids (T,), image placeholders included, no padding.
        images: The sample's image inputs on the model's device: ``pixel_values`` (1, C, H, W), or
            for models that concatenate patches (Qwen2-VL) its patches (P, D) and ``image_grid_thw``
            (1, 3).
        tokens: Per-token extras of the processor (``token_type_ids`` ...), each (T,).
    """

    ids: list[int]
    images: dict[str, torch.Tensor]
    tokens: dict[str, torch.Tensor]


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
        self._option_cache: dict[str, list[int]] = {}

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
        from transformers.utils import logging as hf_logging

        kwargs = {"trust_remote_code": trust_remote_code, "local_files_only": True}
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # one small local checkpoint: no "Loading weights" bar on every load
        try:
            processor = AutoProcessor.from_pretrained(name, **kwargs)
            model = AutoModelForImageTextToText.from_pretrained(name, dtype=dtype, use_safetensors=True, **kwargs)
        except OSError as exc:
            if local.exists():
                raise FileNotFoundError(f"cannot load a checkpoint from {name!r}: {' '.join(str(exc).split())}") from exc
            raise FileNotFoundError(missing_checkpoint_message(name)) from exc
        except Exception as exc:  # truncated or corrupt weights: safetensors, json and config errors of many types
            raise ValueError(f"cannot load a checkpoint from {name!r}: a corrupt or truncated file ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
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

    def encode_each(self, images: Sequence[ImageLike], prompts: Sequence[str]) -> list[EncodedPrompt]:
        """:meth:`encode` split into one :class:`EncodedPrompt` per sample, so that a batch can be
        scored many times (PPO's epochs, GRPO's groups) without running the processor again.

        Args:
            images: B images (uint8 (H, W, 3) arrays or PIL images).
            prompts: B prompts.

        Returns:
            B encoded prompts; their tensors are on the model's device.
        """
        batch = self.encode(images, prompts)
        ids = batch["input_ids"]
        b_prompts, width = ids.shape
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        id_lists = ids.tolist()
        chunks = None
        if "image_grid_thw" in batch:  # patches of all images concatenated (Qwen2-VL)
            chunks = torch.split(batch["pixel_values"], batch["image_grid_thw"].prod(dim=-1).tolist())
        encoded = []
        for b in range(b_prompts):
            image_inputs, token_inputs = {}, {}
            for key, value in batch.items():
                if key in ("input_ids", "attention_mask"):
                    continue
                if key == "pixel_values" and chunks is not None:
                    image_inputs[key] = chunks[b]
                elif value.dim() >= 2 and value.shape[0] == b_prompts and value.shape[1] == width:
                    token_inputs[key] = value[b, : lengths[b]]  # per-token tensors (token_type_ids ...)
                elif value.shape[0] == b_prompts:
                    image_inputs[key] = value[b : b + 1]
                else:
                    raise ValueError(f"cannot split processor output {key!r} of shape {tuple(value.shape)} per sample")
            encoded.append(EncodedPrompt(id_lists[b][: lengths[b]], image_inputs, token_inputs))
        return encoded

    def _option_ids(self, option: str) -> list[int]:
        text = self.answer_prefix + option
        if text not in self._option_cache:
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            if not ids:
                raise ValueError(f"option {option!r} tokenises to nothing")
            if len(self._option_cache) >= OPTION_CACHE_SIZE:  # generate mode scores every sampled text
                self._option_cache.clear()
            self._option_cache[text] = ids
        return self._option_cache[text]

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
        return self.score_encoded(self.encode_each(images, prompts), options, length_normalize, grad, return_hidden)

    @staticmethod
    def _options_per_prompt(options: Sequence[str] | Sequence[Sequence[str]], n_prompts: int) -> list[list[str]]:
        """The K options of each of ``n_prompts`` prompts (one shared list or one list per prompt)."""
        per_prompt = [list(options)] * n_prompts if options and isinstance(options[0], str) else [list(o) for o in options]
        if len(per_prompt) != n_prompts or len({len(o) for o in per_prompt}) != 1:
            raise ValueError("options must be one list for all prompts or one equally long list per prompt")
        if not per_prompt[0]:
            raise ValueError("at least one option is needed")
        return per_prompt

    def score_encoded(
        self,
        encoded: Sequence[EncodedPrompt],
        options: Sequence[str] | Sequence[Sequence[str]],
        length_normalize: bool = False,
        grad: bool | None = False,
        return_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """:meth:`score_options` on prompts already through :meth:`encode_each` (same returns)."""
        if not encoded:
            raise ValueError("nothing to score: no prompts")
        per_prompt = self._options_per_prompt(options, len(encoded))
        k = len(per_prompt[0])
        rows, option_spans = [], []
        for prompt, opts in zip(encoded, per_prompt):
            for option in opts:
                option_ids = self._option_ids(option)
                rows.append(prompt.ids + option_ids)
                option_spans.append((len(prompt.ids), len(option_ids)))
        # Every option token's position, target id and whether it exists (options differ in length),
        # built on the host so the device sees three small copies instead of one op per option.
        longest = max(n for _, n in option_spans)
        at = [[start + min(j, n - 1) for j in range(longest)] for start, n in option_spans]
        targets = torch.tensor([[row[i] for i in cols] for row, cols in zip(rows, at)], device=self.device)
        positions = torch.tensor(at, device=self.device) - 1  # the logits that predict each token
        present = torch.tensor([[j < n for j in range(longest)] for _, n in option_spans], device=self.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() if grad is None else grad):
            inputs = self._embedded_rows(encoded, rows, k) if self.shares_image_features else self._rows(encoded, rows, k)
            out = self.model(**inputs, output_hidden_states=return_hidden)
            picked = out.logits[torch.arange(len(rows), device=self.device)[:, None], positions]  # (B*K, L, V)
            token_lp = torch.log_softmax(picked.float(), dim=-1).gather(-1, targets[..., None]).squeeze(-1)
            scores = token_lp.masked_fill(~present, 0.0).sum(dim=-1)
            if length_normalize:
                scores = scores / present.sum(dim=-1)
            scores = scores.view(len(encoded), k)
            if not return_hidden:
                return scores
            last_prompt = torch.tensor([len(p.ids) - 1 for p in encoded], device=self.device)
            first_rows = torch.arange(0, len(rows), k, device=self.device)
            return scores, out.hidden_states[-1][first_rows, last_prompt]

    @property
    def shares_image_features(self) -> bool:
        """True for the LLaVA family, whose image features are just scattered into the image
        placeholder tokens' embeddings: ``score_options`` then runs the vision tower once per
        prompt and reuses the features for every option (others repeat the image per option)."""
        base = self._base_model()
        return type(base).__name__ == "LlavaForConditionalGeneration" and hasattr(base.model, "get_image_features")

    def _embedded_rows(self, encoded: Sequence[EncodedPrompt], rows: list[list[int]], k: int) -> dict[str, torch.Tensor]:
        """LLaVA fast path: input embeddings of the B*K rows with each prompt's image features
        computed once and written into its K rows' image tokens."""
        base = self._base_model()
        config = base.config
        features = base.model.get_image_features(
            pixel_values=torch.cat([p.images["pixel_values"] for p in encoded]), vision_feature_layer=config.vision_feature_layer,
            vision_feature_select_strategy=config.vision_feature_select_strategy, return_dict=True,
        ).pooler_output
        features = torch.stack(list(features)) if isinstance(features, (list, tuple)) else features
        plain = self._padded_rows(rows)
        embeds = base.get_input_embeddings()(plain["input_ids"])
        image_mask = (plain["input_ids"] == config.image_token_id).unsqueeze(-1)
        repeated = features.repeat_interleave(k, dim=0).to(embeds.dtype).reshape(-1, embeds.shape[-1])
        embeds = embeds.masked_scatter(image_mask.expand_as(embeds), repeated)
        return {"inputs_embeds": embeds, "attention_mask": plain["attention_mask"]}

    def _padded_rows(self, rows: list[list[int]]) -> dict[str, torch.Tensor]:
        """Token ids (R, W) of the rows, right-padded, and their attention mask (R, W)."""
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
        attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        return {"input_ids": input_ids.to(self.device), "attention_mask": attention.to(self.device)}

    def _rows(self, encoded: Sequence[EncodedPrompt], rows: list[list[int]], k: int) -> dict[str, torch.Tensor]:
        """Model inputs for B*K rows (prompt + option ids, right-padded), images repeated K times and
        per-token tensors zero-extended over the option."""
        out = self._padded_rows(rows)
        width = out["input_ids"].shape[1]
        for key in encoded[0].images:
            out[key] = torch.cat([p.images[key] for p in encoded for _ in range(k)])
        for key in encoded[0].tokens:
            out[key] = torch.stack([torch.nn.functional.pad(p.tokens[key], (0, width - len(p.tokens[key]))) for p in encoded for _ in range(k)])
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
