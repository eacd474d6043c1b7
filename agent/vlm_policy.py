"""The pure end-to-end baseline: a VLM reads the image and the question and answers.

Action distribution (``mode="score"``, default): a softmax over the VLM's log-probabilities of the
task's answer words (``VLM.score_encoded``, on prompts encoded once in ``prepare``). ``mode="generate"``: the VLM writes free text, which the
task parses (``parse_answer``) in the policy's answer format (``envs.answer_formats``: ``free``
reads the whole text; ``tagged``, the paper's protocol, asks for and reads one
``<answer>...</answer>`` block); text that does not follow it earns the task's invalid-answer
reward, and the log-probability of the written text is what PPO and GRPO optimise. A value head reads the last
prompt token's hidden state. LoRA adapters (rank 16 by default) or full fine-tuning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from physground.agent.policies import ActOutput, Inputs, Policy, log_prob_entropy
from physground.envs.answer_formats import answer_format as answer_format_named
from physground.perception.vlm import VLM, lora_target_pattern


class VLMPolicy(Policy):
    """A VLM as a policy.

    Args:
        vlm: The loaded VLM (its model becomes a submodule; LoRA is attached here).
        action_names: The task's answer words.
        lora_rank: LoRA rank; 0 trains every weight of the VLM instead.
        lora_targets: Where the adapters go: "language" (the language model) or "all" (also the
            vision tower and the projector); see ``perception.vlm.LORA_TARGETS``.
        mode: "score" or "generate".
        parse_answer: Text -> action index or None (required for "generate").
        max_new_tokens: Longest generated answer (default: the answer format's).
        task: The task whose words these are (``for_task`` re-targets from it).
        answer_format: How generated answers are asked for and read (``envs.answer_formats``);
            "tagged" needs ``mode="generate"``.
    """

    def __init__(
        self, vlm: VLM, action_names: tuple[str, ...], lora_rank: int = 16, mode: str = "score",
        parse_answer: Callable[[str], int | None] | None = None, max_new_tokens: int | None = None, lora_targets: str = "language", task: str = "",
        answer_format: str = "free",
    ) -> None:
        super().__init__()
        if mode not in ("score", "generate"):
            raise ValueError(f"VLM policy mode must be 'score' or 'generate', got {mode!r}")
        if mode == "generate" and parse_answer is None:
            raise ValueError("generate mode needs the task's parse_answer")
        fmt = answer_format_named(answer_format)
        if fmt.tagged and mode != "generate":
            raise ValueError(f"answer format {answer_format!r} is for generate mode; scored options are the answer words themselves")
        targets = lora_target_pattern(lora_targets)
        if lora_rank:
            vlm.attach_lora(rank=lora_rank, target_modules=targets)
        else:
            for p in vlm.model.parameters():
                p.requires_grad_(True)
        self.vlm = vlm
        self.model = vlm.model  # registers the VLM's parameters with this module
        self.action_names, self.task = tuple(action_names), task
        self.mode, self.parse_answer, self.answer_format = mode, parse_answer, fmt
        self.max_new_tokens = fmt.max_new_tokens if max_new_tokens is None else max_new_tokens
        self.value_head = nn.Linear(vlm.hidden_size, 1)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def with_task(self, action_names: tuple[str, ...], parse_answer: Callable[[str], int | None] | None = None, task: str = "") -> VLMPolicy:
        """The same weights answering other answer words (for transfer evaluation)."""
        clone = object.__new__(VLMPolicy)
        nn.Module.__init__(clone)
        clone.vlm, clone.model, clone.value_head = self.vlm, self.model, self.value_head
        clone.action_names, clone.mode, clone.parse_answer, clone.max_new_tokens = tuple(action_names), self.mode, parse_answer, self.max_new_tokens
        clone.answer_format = self.answer_format
        clone.task = task
        return clone

    def for_task(self, task: str) -> VLMPolicy:
        """The same weights answering physground task ``task``'s question with its answer words."""
        if task == self.task:
            return self
        from physground.envs import SceneConfig, task_spec

        semantics = task_spec(task).env_class(scene=SceneConfig(render_images=False))
        return self.with_task(semantics.action_names, semantics.parse_answer, task=semantics.task_name)

    def export(self, folder: Path) -> list[str]:
        """The LoRA adapters as a standard PEFT adapter folder, ``folder/adapter``
        (``PeftModel.from_pretrained(base_model, folder / "adapter")`` loads it); nothing for full
        fine-tuning (rank 0), whose weights stay in the run's checkpoint."""
        if not self.vlm.has_lora:
            return []
        self.vlm.save_lora(Path(folder) / "adapter")
        return ["adapter"]

    def prepare(self, obs: Any, infos: dict[str, Any] | None = None) -> Inputs:
        if not isinstance(obs, dict) or "image" not in obs or "prompt" not in obs:
            raise ValueError("VLMPolicy needs image + prompt observations (a physground task)")
        images, prompts = np.asarray(obs["image"]), [self.model_prompt(p) for p in obs["prompt"]]
        # The processor runs once here; PPO's epochs and GRPO's groups score the encoded prompts.
        return {"image": images, "prompt": prompts, "encoded": self.vlm.encode_each(list(images), prompts)}

    def model_prompt(self, question: str) -> str:
        """What the VLM reads for the task's ``question``: with the answer format's instruction."""
        return self.answer_format.prompt(question, self.action_names)

    def answer_target(self, action: int) -> str:
        """The text of answer ``action`` in the answer format (SFT's teacher-forced target)."""
        return self.answer_format.target(self.action_names[action])

    def read_answer(self, text: str) -> tuple[int | None, str]:
        """Generated ``text`` read in the answer format: (action index or None, what the
        environment is given: the index's answer, or text its ``parse_answer`` rejects)."""
        return self.answer_format.read(text, self.parse_answer)

    def forward(self, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor]:
        scores, hidden = self.vlm.score_encoded(inputs["encoded"], list(self.action_names), grad=None, return_hidden=True)
        return scores, self.value_head(hidden.float()).squeeze(-1)

    def value(self, inputs: Inputs) -> torch.Tensor:
        return self(inputs)[1]

    # -- generate mode ----------------------------------------------------------------------------

    def _text_log_probs(self, inputs: Inputs, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        scores, hidden = self.vlm.score_encoded(inputs["encoded"], [[t] for t in texts], grad=None, return_hidden=True)
        return scores[:, 0], self.value_head(hidden.float()).squeeze(-1)

    def act(self, inputs: Inputs, deterministic: bool = False) -> ActOutput:
        if self.mode == "score":
            return super().act(inputs, deterministic)
        texts = self.vlm.generate(list(inputs["image"]), inputs["prompt"], max_new_tokens=self.max_new_tokens, do_sample=not deterministic)
        texts = [t if t else " " for t in texts]
        inputs["text"] = texts
        log_p, values = self._text_log_probs(inputs, texts)
        read = [self.read_answer(t) for t in texts]
        actions = torch.tensor([-1 if a is None else a for a, _ in read], device=log_p.device)
        return ActOutput(actions, log_p, -log_p, values, env_actions=np.array([inner if a is None else a for a, inner in read], dtype=object))

    def evaluate(self, inputs: Inputs, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.mode == "score":
            logits, values = self(inputs)
            log_p, entropy = log_prob_entropy(logits, actions)
            return log_p, entropy, values
        log_p, values = self._text_log_probs(inputs, inputs["text"])
        return log_p, -log_p.detach(), values

    def reference_log_probs(self, inputs: Inputs, actions: torch.Tensor) -> torch.Tensor | None:
        """Log-probabilities under the frozen pre-trained VLM (adapters off); None without LoRA."""
        if not self.vlm.has_lora:
            return None
        with torch.no_grad(), self.model.disable_adapter():
            if self.mode == "score":
                logits, _ = self(inputs)
                return log_prob_entropy(logits, actions)[0]
            return self._text_log_probs(inputs, inputs["text"])[0]
