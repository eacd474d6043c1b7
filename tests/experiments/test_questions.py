"""Users' own questions: `physground parse`, `envs --templates`, `eval-agent --prompt`."""

from __future__ import annotations

import csv
import json

import pytest

from physground.envs.programs import coloured, tower
from physground.experiments.cli import main


@pytest.fixture(scope="module")
def zero_shot_run(tmp_path_factory, llava_dir):
    out = tmp_path_factory.mktemp("zs") / "run"
    assert main(["train-agent", "--agent", "vlm-zero-shot", "--task", "TowerStability", "--vlm", str(llava_dir), "--image-size", "32", "--out", str(out)]) == 0
    return out


def test_parse_prints_the_program_of_a_templated_question(capsys):
    assert main(["parse", "If the blue block is removed, will the tower fall?", "--compact"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["tasks"] == ["ColourRemoval"]
    assert found["program"]["do"] == {"op": "remove", "target": coloured("blue")} and found["program"]["ask"] == {"op": "fell", "of": tower()}
    assert main(["parse", "  is the TOWER stable? ", "--compact"]) == 0  # case and spacing do not matter
    assert json.loads(capsys.readouterr().out)["program"]["ask"]["op"] == "not"


def test_parse_refuses_a_question_no_template_reads(capsys):
    assert main(["parse", "What is the meaning of this?"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no template of any task reads 'What is the meaning of this?'" in err and "\n" not in err


def test_envs_lists_templates_by_split_and_a_program(capsys):
    assert main(["envs", "--task", "RollOff", "--templates"]) == 0
    out = capsys.readouterr().out
    assert '"op": "off"' in out and "heldout" in out and "paraphrase" in out and "flipped Will the ball stay on the platform?" in out
    assert "physground/RollOff-v1" in out and "8/4/5" in out


def _rows(path):
    return list(csv.DictReader(path.open()))


def test_eval_agent_scores_a_flipped_question_against_the_inverted_answers(zero_shot_run, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    prompt = "Will this block tower stay standing?"
    assert main(["eval-agent", "--run", str(zero_shot_run), "--task", "TowerStability", "--prompt", prompt, "--episodes", "6", "--predictions", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = _rows(out)
    assert list(rows[0]) == ["seed", "prompt", "agent_answer", "task_answer", "question_answer", "correct"] and len(rows) == 6
    assert summary["program"] == "the reference grammar" and summary["episodes"] == 6
    for r in rows:
        assert r["prompt"] == prompt and {r["task_answer"], r["question_answer"]} == {"yes", "no"}, "a flipped question inverts the answer"
        assert r["correct"] == str(int(r["agent_answer"] == r["question_answer"]))
    assert summary["accuracy"] == pytest.approx(sum(int(r["correct"]) for r in rows) / 6)


def test_eval_agent_takes_a_program_file_and_refuses_bad_ones(zero_shot_run, tmp_path, capsys):
    program = {"head": "yes_no", "do": {"op": "none"}, "ask": {"op": "fell", "of": tower()}, "horizon": 3.0}
    (tmp_path / "p.json").write_text(json.dumps(program))
    out = tmp_path / "pred.csv"
    argv = ["eval-agent", "--run", str(zero_shot_run), "--task", "TowerStability", "--prompt", "Is it going down?", "--episodes", "3", "--predictions", str(out)]
    assert main(argv + ["--program", str(tmp_path / "p.json")]) == 0
    assert all(r["question_answer"] == r["task_answer"] for r in _rows(out))
    capsys.readouterr()
    out.unlink()
    assert main(argv) == 0  # no template reads it: the answer columns stay empty
    assert all(r["question_answer"] == "" and r["correct"] == "" for r in _rows(out)) and "accuracy" not in capsys.readouterr().out
    out.unlink()
    (tmp_path / "bad.json").write_text(json.dumps({**program, "ask": {"op": "fel", "of": tower()}}))
    (tmp_path / "choose.json").write_text(json.dumps({
        "head": "choose", "options": {"kind": "moves", "values": ["left", "stay", "right"]},
        "do": {"op": "move", "target": {"op": "fixture", "name": "basket"}, "direction": "$option"}, "goal": {"op": "fell", "of": tower()}, "horizon": 1.0,
    }))
    for name, message in (("bad.json", "program.ask: unknown primitive 'fel'"), ("choose.json", "are not TowerStability's actions (yes, no)")):
        assert main(argv + ["--program", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err and not out.exists(), name
    assert main(argv[:-2]) == 2 and "--prompt needs --task" in capsys.readouterr().err
