"""The question parser: folds that provably leave tasks out, decoding that only writes valid programs,
training with Lightning, and checkpoints that refuse what does not fit."""

from __future__ import annotations

import json
import shutil

import pytest

from physground.envs.phrasings import reference_parse
from physground.envs.programs import dumps, validate
from physground.envs.questions import question_pairs
from physground.perception.parser import Parser, prompt_words, word_matches
from physground.perception.parser_training import SHIPPED_PARSERS, ParserSettings, fold, fold_names, related_tasks, train_parser, training_pairs
from physground.perception.tiny_vlm import SHIPPED_CHECKPOINT
from physground.perception.vlm import VLM


def test_leave_one_task_out_folds_exclude_the_task_s_templates_and_programs():
    assert set(related_tasks("BlockRemoval")) == {"BlockRemoval", "ColourRemoval"}  # "the red block" is a prompt of both
    assert related_tasks("RollOff") == ("RollOff",)
    for name in fold_names():
        f = fold(name)
        if not name.startswith("without-"):
            continue
        left_out_programs = {dumps(p.program) for t in f.left_out for s in ("train", "heldout", "paraphrase") for p in question_pairs(t, s)}
        pairs = training_pairs(f)
        assert pairs and name[len("without-"):] in f.left_out and not set(f.train_tasks) & set(f.left_out)
        for p in pairs:
            assert p.task not in f.left_out and dumps(p.program) not in left_out_programs
            assert not any(r.task in f.left_out for r in reference_parse(p.prompt)), p.prompt
    with pytest.raises(ValueError, match="unknown parser fold 'without-Nothing'"):
        fold("without-Nothing")


def test_the_pointer_sees_the_values_a_prompt_names():
    words = [w for w, _, _ in prompt_words("If the red block is dropped at position +3, will it land on top?")]
    assert words[:3] == ["if", "the", "red"] and "+3" in words
    from physground.envs.program_tokens import SYMBOL_ID

    m = word_matches("Drop the red block at position +3.")
    assert m[2, SYMBOL_ID["colour:red"]] and m[-1, SYMBOL_ID["int:3"]] and not m[-1, SYMBOL_ID["int:-3"]]


@pytest.fixture(scope="module")
def vlm():
    return VLM.load(SHIPPED_CHECKPOINT)


def test_the_shipped_parser_reads_its_training_questions_and_always_writes_a_valid_program(vlm):
    parser = Parser.load(SHIPPED_PARSERS / "base", vlm, SHIPPED_CHECKPOINT)
    canonical = [question_pairs(t, "train")[0] for t in ("TowerStability", "BlockRemoval", "RollOff", "Catch")]
    parses = parser.parse([p.prompt for p in canonical])
    assert [dumps(q.program) for q in parses] == [dumps(p.program) for p in canonical]
    for q in parser.parse(["banana banana banana", "", "Where should 77 go: +40 or -40?"]):
        validate(q.program)
        assert 0 < q.confidence <= q.mean_probability <= 1


def test_parser_checkpoints_refuse_what_does_not_fit(vlm, tmp_path):
    with pytest.raises(FileNotFoundError, match="no parser in"):
        Parser.load(tmp_path, vlm)
    folder = tmp_path / "p"
    shutil.copytree(SHIPPED_PARSERS / "base", folder, ignore=shutil.ignore_patterns("logs"))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "vocabulary": config["vocabulary"][:-1]}))
    with pytest.raises(ValueError, match="another version of the query language"):
        Parser.load(folder, vlm)
    (folder / "config.json").write_text(json.dumps({**config, "network": {**config["network"], "word_dim": 1728}}))
    with pytest.raises(ValueError, match="reads 1728-wide word features; its language model gives 512"):
        Parser.load(folder, vlm)
    (folder / "config.json").write_text(json.dumps({**config, "language_model": {**config["language_model"], "sha256": "0" * 64}}))
    with pytest.raises(ValueError, match="trained on the language model with weights 000000000000"):
        Parser.load(folder, vlm, SHIPPED_CHECKPOINT)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        Parser.load(folder, vlm)


def test_train_parser_trains_with_lightning_measures_and_saves(tmp_path):
    out = tmp_path / "parser"
    summary = train_parser(ParserSettings(out=str(out), fold="without-Catch", steps=4, hidden=16, batch_size=64, eval_tasks=("Catch", "RollOff")))
    assert (out / "parser.safetensors").is_file() and (out / "README.md").read_text().startswith("# physground question parser, fold `without-Catch`")
    assert list(summary["fold"]["left_out"]) == ["Catch"] and "Catch" not in summary["training_prompts_by_task"]
    evaluation = summary["evaluation"]
    assert evaluation["role"]["Catch"] == "left-out" and set(evaluation["tasks"]) == {"Catch", "RollOff"}
    assert evaluation["summary"]["left-out"]["n"] == sum(len(question_pairs("Catch", s)) for s in ("train", "heldout", "paraphrase"))
    assert list((out / "logs").rglob("events.out.tfevents*"))
    with pytest.raises(ValueError, match="parser steps must be a positive integer, got 0"):
        ParserSettings(out="x", steps=0)
