"""Scores, hidden states and gradients of VLM.score_options against an earlier revision's code.

    python analysis/vlm-scoring-equal.py 3ebdc5d   # 2-core CPU, the shipped tiny VLM

Loads ``perception/vlm.py`` as it was at the revision (``git show``) beside the current one, wraps the
same model and processor in both, and prints the largest difference and whether the tensors are
bitwise equal, for one- and multi-token options, summed and length-normalised.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT  # noqa: E402
from physground.perception.vlm import VLM  # noqa: E402


def load_revision(revision: str):
    source = subprocess.run(["git", "show", f"{revision}:perception/vlm.py"], capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "vlm_at_revision.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("vlm_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(revision: str) -> None:
    new = VLM.load(SHIPPED_CHECKPOINT)
    old = load_revision(revision).VLM(new.model, new.processor)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (128, 128, 3), dtype=np.uint8) for _ in range(16)]
    prompts = ["Will this tower fall? Answer yes or no.", "Which block falls?"] * 8
    for options in (["yes", "no"], ["red block", "no", "blue"]):
        for normalize in (False, True):
            a_scores, a_hidden = old.score_options(images, prompts, options, length_normalize=normalize, return_hidden=True)
            b_scores, b_hidden = new.score_options(images, prompts, options, length_normalize=normalize, return_hidden=True)
            print(f"options {options}, length-normalised {normalize}: scores max |diff| {(a_scores - b_scores).abs().max().item():.3g}, "
                  f"bitwise {torch.equal(a_scores, b_scores)}; hidden bitwise {torch.equal(a_hidden, b_hidden)}")
    grads = []
    for vlm in (old, new):
        new.model.zero_grad()
        vlm.score_options(images, prompts, ["yes", "no", "red block"], grad=True).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in new.model.parameters() if p.grad is not None]))
    print(f"gradients bitwise {torch.equal(grads[0], grads[1])} (norm {grads[1].norm().item():.6g})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "3ebdc5d")
