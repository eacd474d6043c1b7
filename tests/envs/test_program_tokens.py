"""Programs as symbol sequences: round trips, and the grammar state machine never admits an invalid program."""

from __future__ import annotations

import json
import random

import pytest

from physground.envs import TASKS
from physground.envs.program_tokens import END, VOCABULARY, GrammarState, delinearise, linearise, symbol_words
from physground.envs.programs import ProgramError, dumps
from physground.envs.questions import question_pairs


@pytest.mark.parametrize("task", list(TASKS))
def test_every_question_of_every_task_round_trips(task):
    for split in ("train", "heldout", "paraphrase"):
        for pair in question_pairs(task, split):
            symbols = linearise(pair.program)
            assert symbols[-1] == END and set(symbols) <= set(VOCABULARY)
            assert dumps(delinearise(symbols)) == dumps(pair.program)


def test_the_gold_sequence_is_allowed_at_every_step():
    pair = question_pairs("TowerBuild", "train")[0]
    state = GrammarState()
    for symbol in linearise(pair.program):
        assert symbol in state.allowed()
        state.advance(symbol)
    assert state.done


def _closing(choices: set[str]) -> str:
    """The symbol that opens the fewest values (so that a random walk ends)."""
    from physground.envs.programs import OPS

    def arity(s: str) -> int:
        return len(OPS[s[3:]].fields) if s.startswith("op:") else 0

    return min(sorted(choices), key=arity)


def test_random_walks_through_the_grammar_end_in_valid_programs():
    rng = random.Random(0)
    heads = set()
    for _ in range(300):
        state, n = GrammarState(), 0
        while not state.done:
            choices = state.allowed()
            state.advance(rng.choice(sorted(choices)) if n < 40 else _closing(choices))
            n += 1
        program = state.program()  # validates
        heads.add(program["head"])
        if program["head"] == "choose":
            assert "$option" in json.dumps(program["do"])
    assert heads == {"yes_no", "choose"}


def test_what_a_sequence_cannot_spell_is_refused_naming_it():
    program = question_pairs("TowerStability", "train")[0].program
    with pytest.raises(ProgramError, match=r"program.horizon: 2.5 s has no symbol"):
        linearise({**program, "horizon": 2.5})
    choose = question_pairs("Push", "train")[0].program
    with pytest.raises(ProgramError, match=r"only contiguous runs of strengths .*\[1, 3\]"):
        linearise({**choose, "options": {"kind": "strengths", "values": [1, 3]}})
    symbols = linearise(program)
    with pytest.raises(ProgramError, match=r"symbol 1 'op:fell' is not allowed there"):
        delinearise([symbols[0], "op:fell", *symbols[2:]])
    with pytest.raises(ProgramError, match="ends before the program does"):
        delinearise(symbols[:4])


def test_a_choose_head_puts_its_option_into_the_matching_intervention():
    state = GrammarState()
    for s in ("head:choose", "optset:strengths", "int:1", "int:7"):
        state.advance(s)
    assert state.allowed() == {"op:push"}  # the only intervention with a strength
    state.advance("op:push")
    state.advance("op:objects")
    assert state.allowed() == {"$option"}
    with pytest.raises(ProgramError):
        state.advance("int:3")


def test_symbol_words_name_the_values_a_prompt_can_state():
    assert symbol_words("int:3") == ("3", "+3") and symbol_words("int:-2") == ("-2",) and symbol_words("int:0") == ("0",)
    assert symbol_words("fixture:platform") == ("platform",) and symbol_words("op:fell") == ()
