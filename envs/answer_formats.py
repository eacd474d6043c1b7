"""How a generating VLM is asked to answer, and how its text is read (the paper's protocol).

``free`` (the default): the question as the task asks it; the task's ``parse_answer`` reads the
whole generated text (its first answer word wins). ``tagged``: the paper's protocol: the question
is followed by an instruction to put the answer between ``<answer>`` and ``</answer>``; only text
with exactly one such block counts, and the task's ``parse_answer`` reads the block's content.
Anything else is an invalid answer, which the environment counts and penalises
(``TaskConfig.invalid_answer_reward``), so that an agent scores only by following the format.

The generated text is data: it is matched against a regular expression and the task's answer
words, never executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

_TAG_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class AnswerFormat:
    """One way of asking for and reading a free-text answer.

    Attributes:
        name: A key of ``ANSWER_FORMATS``.
        tagged: Whether the answer must sit in one ``<answer>...</answer>`` block.
        max_new_tokens: Tokens a generated answer may take (a block needs more than a bare word).
    """

    name: str
    tagged: bool
    max_new_tokens: int

    def prompt(self, question: str, options: Sequence[str]) -> str:
        """The text the VLM reads: ``question``, plus the format instruction naming ``options``
        (none for an open question, such as a count or a colour)."""
        if not self.tagged:
            return question
        if not options:
            return f"{question} Write your answer between <answer> and </answer>."
        words = ", ".join(options[:-1]) + (" or " if len(options) > 1 else "") + options[-1]
        # no example answer: a model copying the example would favour that option
        return f"{question} Write your answer, {words}, between <answer> and </answer>."

    def target(self, option: str) -> str:
        """The text of a correct answer ``option`` in this format (the SFT target)."""
        return f"<answer>{option}</answer>" if self.tagged else option

    def answer_text(self, text: str) -> str | None:
        """The part of generated ``text`` the task's ``parse_answer`` reads; None when ``text``
        does not follow the format (no block, or more than one)."""
        if not self.tagged:
            return text
        blocks = _TAG_BLOCK.findall(text)
        return blocks[0].strip() if len(blocks) == 1 else None


    def read(self, text: str, parse_answer: Callable[[str], int | None]) -> tuple[int | None, str]:
        """Generated ``text`` read in this format by the task's ``parse_answer``: (action index or
        None, what the environment is given for it: the text its ``parse_answer`` reads, empty
        when the format was not followed, so that the env counts it invalid whatever words it holds)."""
        inner = self.answer_text(text)
        if inner is None:
            return None, ""
        return parse_answer(inner), inner


ANSWER_FORMATS = {
    "free": AnswerFormat("free", tagged=False, max_new_tokens=8),
    "tagged": AnswerFormat("tagged", tagged=True, max_new_tokens=24),
}
"""The answer formats by name."""


def answer_format(name: str) -> AnswerFormat:
    """The answer format called ``name``.

    Raises:
        ValueError: An unknown name (naming it and the valid ones).
    """
    if name not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer format {name!r}; valid: {', '.join(ANSWER_FORMATS)}")
    return ANSWER_FORMATS[name]
