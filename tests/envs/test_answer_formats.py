"""The answer formats of generated text answers (the paper's ``<answer>...</answer>`` protocol)."""

from __future__ import annotations

import pytest

from physground.envs.answer_formats import ANSWER_FORMATS, answer_format

TAGGED = answer_format("tagged")


def test_the_free_format_passes_question_and_text_through():
    free = answer_format("free")
    assert free.prompt("Will it fall?", ("yes", "no")) == "Will it fall?"
    assert free.answer_text("No, it stays.") == "No, it stays." and free.target("no") == "no"


def test_the_tagged_format_names_every_option_and_no_example_answer():
    prompt = TAGGED.prompt("Which way?", ("left", "stay", "right"))
    assert prompt.startswith("Which way? ") and "left, stay or right" in prompt
    assert "<answer> and </answer>" in prompt and "<answer>left</answer>" not in prompt
    assert TAGGED.prompt("Will it fall?", ("yes", "no")).endswith("yes or no, between <answer> and </answer>.")
    assert TAGGED.target("yes") == "<answer>yes</answer>"
    assert TAGGED.prompt("How many blocks?", ()) == "How many blocks? Write your answer between <answer> and </answer>."


@pytest.mark.parametrize(("text", "inner"), [
    ("<answer>yes</answer>", "yes"),
    ("I think so. <ANSWER> No </Answer>", "No"),
    ("<answer>\nmaybe\n</answer> done", "maybe"),
    ("yes", None),
    ("<answer>yes", None),
    ("<answer>yes</answer><answer>no</answer>", None),
])
def test_the_tagged_format_reads_exactly_one_block(text, inner):
    assert TAGGED.answer_text(text) == inner


def test_an_unknown_format_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown answer format 'xml'; valid: free, tagged"):
        answer_format("xml")
    assert set(ANSWER_FORMATS) == {"free", "tagged"}


def test_reading_gives_the_env_text_it_rejects_when_the_format_is_not_followed():
    parse = {"yes": 0, "no": 1}.get
    assert TAGGED.read("<answer>no</answer>", parse) == (1, "no")
    assert TAGGED.read("no", parse) == (None, "")
    assert TAGGED.read("<answer>perhaps</answer>", parse) == (None, "perhaps")
    assert answer_format("free").read("no", parse) == (1, "no")
