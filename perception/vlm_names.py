"""What a ``--vlm`` value names: the shipped tiny VLM, the SmolLM2 VLM (assembled from its
trained parts on first use), a SmolLM2 parts folder or any checkpoint folder."""

from __future__ import annotations

import os
from pathlib import Path


def resolve_vlm(name: str | os.PathLike[str] | None) -> Path:
    """The checkpoint folder a ``--vlm`` value names: None or "tiny" -> the shipped tiny VLM;
    "smollm2" -> the shipped SmolLM2 VLM parts, assembled on first use
    (``perception.smollm2_vlm.assemble``); a SmolLM2 parts folder (it holds ``parts.json``) ->
    its assembled checkpoint; any other value -> that folder (or hub id), as given.

    Raises:
        FileNotFoundError: "smollm2" while no trained parts ship, saying how to make them.
    """
    from physground.perception import smollm2_vlm
    from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT

    if name is None or str(name) == "tiny":
        return SHIPPED_CHECKPOINT
    if str(name) == "smollm2":
        if not (smollm2_vlm.SHIPPED_PARTS / smollm2_vlm.PARTS_JSON).exists():
            raise FileNotFoundError(
                f"no trained SmolLM2 VLM parts ship in {str(smollm2_vlm.SHIPPED_PARTS)!r} yet: make them with "
                "`physground pretrain-vlm --language-model smollm2 --out DIR` and pass --vlm DIR"
            )
        return smollm2_vlm.assemble(smollm2_vlm.SHIPPED_PARTS)
    if (Path(name) / smollm2_vlm.PARTS_JSON).exists():
        return smollm2_vlm.assemble(name)
    return Path(name)
