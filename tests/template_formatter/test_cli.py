"""``gencomp templates which``: the resolved file and every folder searched."""

from __future__ import annotations

import json
from pathlib import Path

from gencomp.cli import main
from gencomp_template_formatter.formatter import DEFAULT_TEMPLATES

GRANITE_ID = "ibm-granite/granite-3.3-8b-instruct"


def test_which_prints_the_granite_instruction_and_the_folders_searched(capsys):
    assert main(["templates", "which", "Instruction", "--model", GRANITE_ID]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert Path(lines[0]) == DEFAULT_TEMPLATES / "prompts" / "granite" / "Instruction.jinja2"
    prompts = DEFAULT_TEMPLATES / "prompts"
    for folder in (prompts / "default", prompts / "granite", prompts / "granite" / "granite3"):
        assert str(folder) in out
    assert "ibmgranitegranite338binstruct" in out


def test_which_resolves_to_default_for_an_unknown_model(capsys):
    assert main(["templates", "which", "Instruction", "--model", "fake-model"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert Path(lines[0]) == DEFAULT_TEMPLATES / "prompts" / "default" / "Instruction.jinja2"
    assert not any(line.strip().endswith("granite") for line in lines)


def test_which_json_reports_template_roots_and_searched_folders(capsys, granite_tree):
    rc = main(["templates", "which", "Widget", "--model", GRANITE_ID, "--template-path", str(granite_tree), "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert Path(data["template"]) == granite_tree / "prompts" / "granite" / "granite3.3" / "Widget.jinja2"
    assert data["root"]["source"] == "template_path"
    assert data["roots"][0] == {"source": "template_path", "path": str(granite_tree), "exists": True}
    assert data["roots"][-1]["source"] == "defaults"
    searched = [Path(s["folder"]) for s in data["searched"]]
    assert granite_tree / "prompts" / "granite" / "granite3.3" in searched
    assert data["names_tried"] == ["Widget.jinja2"]


def test_which_tries_several_names_in_order(capsys):
    assert main(["templates", "which", "LLMaJRequirement,Requirement", "--model", "m", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "Requirement.jinja2"
    assert data["names_tried"] == ["LLMaJRequirement.jinja2", "Requirement.jinja2"]


def test_which_lists_folders_of_template_dirs_plugins(capsys, tmp_path, write_template, register_dirs_plugin):
    write_template(tmp_path, "prompts/default/Message.jinja2", "{{ content }}")
    register_dirs_plugin([tmp_path])
    assert main(["templates", "which", "Message", "--model", "m"]) == 0
    out = capsys.readouterr().out
    assert Path(out.splitlines()[0]) == tmp_path / "prompts" / "default" / "Message.jinja2"
    assert "plugin test-template-dirs" in out


def test_which_searches_a_named_package(capsys, component_package):
    assert main(["templates", "which", "Widget", "--model", "m", "--package", component_package.__name__]) == 0
    out = capsys.readouterr().out
    assert Path(out.splitlines()[0]).parts[-4:] == ("templates", "prompts", "default", "Widget.jinja2")
    assert f"package {component_package.__name__}" in out


def test_which_of_an_unknown_template_fails_and_shows_where_it_looked(capsys):
    assert main(["templates", "which", "NoSuchThing", "--model", "m"]) == 1
    out = capsys.readouterr().out
    assert "no template found for NoSuchThing.jinja2" in out
    assert str(DEFAULT_TEMPLATES / "prompts" / "default") in out


def test_which_requires_a_model(capsys):
    assert main(["templates", "which", "Instruction"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gencomp: error: ") and "--model" in err and len(err.strip().splitlines()) == 1
