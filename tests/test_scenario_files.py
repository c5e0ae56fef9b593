"""The scenario files are sound before anything runs them (JSON-Schema-Test-Suite's habit):
each matches the schema and is plain JSON data, names real SPEC statements, and uses only
words the runner knows; the schema and the runner agree on those words, and every word is
used by some case.  And a broken case fails naming its file and its step.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agentcomm_conformance.resources import SCENARIO_CASES, SCENARIO_SCHEMA
from agentcomm_conformance.scenario_runner import format as scenarios
from agentcomm_conformance.scenario_runner.behave import BEHAVIOURS, parse_behaviour
from agentcomm_conformance.spec import statements

CASES = SCENARIO_CASES.files()
SCHEMA = json.loads(SCENARIO_SCHEMA.path().read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def read(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def schema_errors(data: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(data)
    ]


def test_there_are_cases_and_the_schema_is_a_draft_2020_12_schema() -> None:
    assert len(CASES) >= 15
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_case_matches_the_schema_and_is_plain_json_data(path: Path) -> None:
    data = read(path)
    assert schema_errors(data) == []
    # No dates, no non-string keys, nothing JSON cannot say: it survives a round trip.
    assert json.loads(json.dumps(data)) == data


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_case_names_statements_of_the_spec(path: Path) -> None:
    known = statements()
    assert [i for i in read(path)["requirements"] if i not in known] == []


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_case_loads_as_the_runner_reads_it(path: Path) -> None:
    case = scenarios.load_case(path)
    assert case.id == path.stem and case.steps


def used_words(data: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
    """The behaviours, step kinds and expectation kinds one case uses."""
    behaviours = {parse_behaviour(a["behaviour"])[0] for a in data.get("agents", [])}
    steps = {next(iter(step)) for step in data["steps"]}
    checks = {
        kind
        for step in data["steps"]
        for kind, value in step.items()
        if kind in scenarios.CHECK_STEPS
        for e in value
        for kind in e
        if kind in scenarios.EXPECTATION_KINDS
    }
    return behaviours, steps, checks


def test_every_behaviour_step_and_expectation_is_used_by_some_case() -> None:
    used: list[set[str]] = [set(), set(), set()]
    for path in CASES:
        for found, words in zip(used, used_words(read(path)), strict=True):
            found |= words
    assert used == [set(BEHAVIOURS), set(scenarios.STEP_KINDS), set(scenarios.EXPECTATION_KINDS)]


def test_the_schema_and_the_runner_know_the_same_words() -> None:
    defs = SCHEMA["$defs"]
    plain, with_parameter = defs["behaviour"]["oneOf"]
    assert set(plain["enum"]) | set(with_parameter["properties"]) == set(BEHAVIOURS)
    assert {n for n, (kind, _) in BEHAVIOURS.items() if kind is None} == set(plain["enum"])
    assert set(defs["step"]["properties"]) == scenarios.STEP_KINDS
    branches = defs["expectation"]["oneOf"]
    assert {b["required"][0] for b in branches} == scenarios.EXPECTATION_KINDS
    for branch in branches:
        kind = branch["required"][0]
        required, optional = scenarios.EXPECTATION_FIELDS[kind]
        assert set(branch["properties"]) == {kind} | required | optional, kind
    for kind, (required, optional) in scenarios.STEP_FIELDS.items():
        step = defs["step"]["properties"][kind]
        assert set(step.get("properties", {})) == required | optional, kind
        assert set(step.get("required", [])) == required, kind
    assert set(defs["replyFields"]["properties"]) == scenarios.REPLY_FIELDS[1]
    assert set(defs["hub"]["properties"]) == scenarios.HUB_OPTIONS


BROKEN = {
    "an unknown step": ("steps", 0, {"sleep": 1}),
    "an unknown behaviour": ("agents", 0, {"id": "@w", "behaviour": "panic", "handles": ["x"]}),
    "a misspelt field": (
        "steps",
        0,
        {
            "send": {
                "as": "@a",
                "to": "q",
                "type": "t",
                "payload": 1,
                "name": "m",
                "prority": "high",
            }
        },
    ),
    "an unknown expectation": ("steps", 1, {"expect": [{"mesage": "m", "status": "dead"}]}),
}
VALID: dict[str, Any] = {
    "id": "valid",
    "title": "t",
    "requirements": ["RETRY-003"],
    "agents": [{"id": "@w", "behaviour": "poison", "queues": ["q"], "handles": ["t"]}],
    "steps": [
        {"send": {"as": "@a", "to": "q", "type": "t", "payload": 1, "name": "m"}},
        {"expect": [{"message": "m", "status": "pending"}]},
    ],
}


@pytest.mark.parametrize("flaw", BROKEN)
def test_the_schema_and_the_runner_both_refuse_a_broken_case(flaw: str, tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    field, index, replacement = BROKEN[flaw]
    data[field][index] = replacement
    path = tmp_path / "valid.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    assert schema_errors(data)
    with pytest.raises(scenarios.ScenarioError, match=r"^.*valid\.yaml"):
        scenarios.load_case(path)
    assert scenarios.load_case(write(tmp_path / "ok" / "valid.yaml", VALID)).id == "valid"


def write(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


WRONG_STATUS = """\
id: "wrong_status"
title: "Broken on purpose: a poison message is not completed"
requirements: ["RETRY-003"]
agents:
  - id: "@worker.parser"
    behaviour: "poison"
    queues: ["documents"]
    handles: ["parse_document"]
steps:
  - send: {"as": "@coordinator.backend", "to": "documents", "type": "parse_document",
           "payload": {"document": "corrupt.pdf"}, "name": "job"}
  - wait_until:
      - {"message": "job", "status": "dead"}
  - expect:
      - {"message": "job", "status": "completed"}
"""
UNKNOWN_STEP = """\
id: "unknown_step"
title: "Broken on purpose: a step the runner does not know"
requirements: ["EXP-002"]
steps:
  - sweep: {}
  - sleep: 1
"""


def test_a_broken_case_fails_naming_its_file_and_its_step(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "wrong_status.yaml").write_text(WRONG_STATUS, encoding="utf-8")
    (cases / "unknown_step.yaml").write_text(UNKNOWN_STEP, encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "agentcomm_conformance.plugin",
            "--scenarios",
            "cases",
            "--impl",
            "sqlite:",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "--continue-on-collection-errors",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert (
        "cases/wrong_status.yaml step 3 (expect): message 'job' is dead, expected completed"
    ) in output, output
    assert "cases/unknown_step.yaml step 2: a step is one of" in output, output
    assert "FAIL RETRY-003" in output, output  # the case's statement fails with it
