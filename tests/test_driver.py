"""The driver protocol end to end: the reference driver through the suite's client, the
client's verdicts on misbehaving drivers, and every message checked against its schema.

``jsonschema`` is not a dependency, so the schemas are checked by ``conforms`` below, a
small validator of exactly the keywords they use (a test keeps them to those keywords).
"""

from __future__ import annotations

import inspect
import io
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

import agentcomm
from agentcomm import (
    AgentCommError,
    DeadlineExceeded,
    Hub,
    InvalidInput,
    ManualClock,
    NotFound,
    Outgoing,
    StaleLease,
    Status,
)
from agentcomm.driver import HUB_OPS, Driver
from agentcomm.wire import RESULT_KINDS
from agentcomm_conformance.driver.process import DriverFailure, DriverProcess, Transcript
from agentcomm_conformance.json_form import FORMS
from agentcomm_conformance.resources import DRIVER_SCHEMAS
from agentcomm_conformance.targets.driver import DriverHub, DriverTarget

SCHEMAS = DRIVER_SCHEMAS.path()
PYTHON = shlex.quote(sys.executable)
REFERENCE = f"{PYTHON} -m agentcomm.cli driver --url 'sqlite:?backoff_base=1' --clock manual"


@pytest.fixture
def target() -> Iterator[DriverTarget]:
    made = DriverTarget(REFERENCE, f"driver:{REFERENCE}", timeout=30)
    yield made
    made.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=time.time())


@pytest.fixture
def locator(target: DriverTarget, tmp_path: Path) -> str:
    return target.new_hub(tmp_path)


# -- the reference driver -------------------------------------------------------------------------
def test_the_reference_driver_says_hello_with_its_protocol_kind_and_capabilities() -> None:
    with DriverProcess.start(REFERENCE, timeout=30, name="probe") as manual:
        hello = manual.hello
    system = REFERENCE.replace("--clock manual", "--clock system")
    with DriverProcess.start(system, timeout=30, name="probe") as real:
        assert "manual_clock" not in real.hello.capabilities
    assert (hello.protocol, hello.name, hello.version, hello.kind) == (
        1,
        "agentcomm-reference",
        agentcomm.__version__,
        "sqlite",
    )
    assert hello.capabilities == {"batch", "claim_next", "manual_clock"}


def test_new_hub_keeps_the_templates_options_and_puts_the_file_in_the_workdir(
    target: DriverTarget, tmp_path: Path
) -> None:
    made = target.new_hub(tmp_path / "fresh")
    assert made == f"sqlite:///{tmp_path}/fresh/hub.db?backoff_base=1"
    assert (tmp_path / "fresh" / "hub.db").is_file()


def test_a_message_sent_through_one_driver_is_claimed_and_completed_through_another(
    target: DriverTarget, locator: str, clock: ManualClock
) -> None:
    alice, bob = target.open(locator, "@alice", clock), target.open(locator, "@bob", clock)
    sent = alice.send("jobs", "task", {"n": 1}, priority="high")
    claim = bob.claim("jobs")
    assert claim is not None and claim.id == sent.id and claim.message.claimed_by == "@bob"
    bob.complete(claim.id, claim.token)
    done = alice.get(sent.id)
    assert (done.status, done.payload, done.from_agent) == (Status.COMPLETED, {"n": 1}, "@alice")
    assert alice.claim("jobs") is None


def test_a_hub_error_comes_back_as_its_own_class_with_its_definite_flag(
    target: DriverTarget, locator: str, clock: ManualClock
) -> None:
    hub = target.open(locator, "@alice", clock)
    sent = hub.send("@alice", "ping", {})
    with pytest.raises(StaleLease) as stale:
        hub.complete(sent.id, "not-the-token")
    with pytest.raises(NotFound) as missing:
        hub.get("999")
    with pytest.raises(DeadlineExceeded) as late:
        hub.wait_reply(sent.id, timeout=1)
    assert (stale.value.code, stale.value.definite) == ("stale_lease", True)
    assert (missing.value.definite, late.value.definite) == (True, False)
    assert "999" in str(missing.value)
    with pytest.raises(InvalidInput, match="42"):  # the hub judges the agent id, as in-process
        target.open(locator, 42, clock)  # type: ignore[arg-type]


def test_unknown_ops_and_bad_arguments_are_refused_definitely_and_the_driver_goes_on(
    target: DriverTarget, locator: str
) -> None:
    hub = target.open(locator, "@alice", None)
    assert isinstance(hub, DriverHub)
    with pytest.raises(AgentCommError) as unknown:
        hub.driver.call("frobnicate")
    with pytest.raises(AgentCommError) as bad:
        hub.driver.call("send", to="jobs", type="task", payload=1, colour="red")
    assert (unknown.value.code, unknown.value.definite) == ("unsupported", True)
    assert (bad.value.code, bad.value.definite) == ("protocol", True)
    assert "colour" in str(bad.value)
    assert hub.stats().counters["sent"] == 0


def test_advance_clock_is_refused_by_a_driver_that_did_not_declare_manual_clock(
    tmp_path: Path,
) -> None:
    system = REFERENCE.replace("--clock manual", "--clock system")
    with DriverProcess.start(system, timeout=30, name="@alice") as driver:
        locator = driver.call("new_hub", workdir=str(tmp_path))["hub"]
        driver.call("open", hub=locator, agent="@alice")
        with pytest.raises(AgentCommError) as refused:
            driver.call("advance_clock", seconds=5)
    assert refused.value.code == "unsupported" and "manual_clock" in str(refused.value)


class Exploding:
    """A hub whose ``stats`` fails in a way no hub error covers."""

    def stats(self) -> None:
        raise RuntimeError("disk on fire")

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("nonjson", "said"),
    [
        ('"x"', "nonjson of 'stats' must be a JSON object"),
        ('{"payload": ["number", "nan"]}', "a number node holds a number or NaN"),
        ('{"payload": ["string", [70000]]}', "UTF-16 code units"),
        ('{"payload": ["set", []]}', "unknown tag"),
        ('{"limit": ["number", 1]}', "both in args and in nonjson"),
    ],
)
def test_a_malformed_tagged_value_is_a_protocol_error(nonjson: str, said: str) -> None:
    driver = Driver("sqlite:", "system", io.StringIO())
    driver.respond(b'{"id": 0, "op": "hello", "args": {"protocol": 1}}\n')
    line = f'{{"id": 1, "op": "stats", "args": {{"limit": 1}}, "nonjson": {nonjson}}}\n'
    answer = json.loads(driver.respond(line.encode()))
    assert answer["error"]["code"] == "protocol" and said in answer["error"]["message"]


def test_a_refused_lone_surrogate_quoted_in_an_error_is_written_as_its_escape() -> None:
    driver = Driver("sqlite:", "system", io.StringIO())
    driver.respond(b'{"id": 0, "op": "hello", "args": {"protocol": 1}}\n')
    line = (
        b'{"id": 1, "op": "open", "args": {"hub": "sqlite:///nowhere.db"}, '
        b'"nonjson": {"agent": ["string", [64, 55296]]}}\n'
    )
    answer = driver.respond(line)
    answer.decode("utf-8")  # valid UTF-8 whatever the message quotes
    assert json.loads(answer)["error"]["code"] == "invalid_input"


def test_an_unexpected_exception_is_an_indefinite_internal_error_and_the_driver_goes_on() -> None:
    log = io.StringIO()
    driver = Driver("sqlite:", "system", log)
    driver.respond(b'{"id": 0, "op": "hello", "args": {"protocol": 1}}\n')
    driver.hub = Exploding()  # type: ignore[assignment]
    failed = json.loads(driver.respond(b'{"id": 1, "op": "stats"}\n'))
    after = json.loads(driver.respond(b'{"id": 2, "op": "frob"}\n'))
    assert failed == {
        "id": 1,
        "ok": False,
        "error": {"code": "internal", "message": "RuntimeError: disk on fire", "definite": False},
    }
    assert "Traceback" in log.getvalue() and after["error"]["code"] == "unsupported"


def test_advancing_the_clock_lets_a_lease_run_out_on_every_handle(
    target: DriverTarget, locator: str, clock: ManualClock
) -> None:
    sender, worker = target.open(locator, "@sender", clock), target.open(locator, "@worker", clock)
    sent = sender.send("jobs", "task", {}, timeout_seconds=30)
    claim = worker.claim("jobs")
    assert claim is not None and claim.lease_expires_at == pytest.approx(clock.now() + 30)
    target.advance([sender, worker], clock, 29)
    assert sender.sweep() == 0  # the sender's clock moved too, not past the lease yet
    target.advance([sender, worker], clock, 2)
    assert sender.sweep() == 1
    with pytest.raises(StaleLease):
        worker.complete(claim.id, claim.token)
    assert (sender.get(sent.id).status, sender.get(sent.id).retry_count) == (Status.PENDING, 1)


def test_time_a_wait_lets_pass_on_one_handle_passes_on_every_handle_of_the_hub(
    target: DriverTarget, locator: str, clock: ManualClock
) -> None:
    asker, worker = target.open(locator, "@asker", clock), target.open(locator, "@worker", clock)
    start = clock.now()
    with pytest.raises(DeadlineExceeded):
        asker.request("@worker", "ask", {}, timeout=5)  # its clock alone sleeps 5 s
    assert worker.claim() is None  # the request expired for the worker too
    assert clock.now() >= start + 5
    assert isinstance(worker, DriverHub) and worker.driver.call("read_clock") == clock.now()


def test_values_json_cannot_carry_reach_the_hub_tagged_and_are_refused_there(
    target: DriverTarget, locator: str
) -> None:
    transcript: Transcript = []
    hub = target.open(locator, "@alice", None)
    assert isinstance(hub, DriverHub)
    hub.driver.transcript = transcript
    for payload in (
        float("nan"),
        {"x": [1, -float("inf")]},
        "lone \ud800 surrogate",
        {"k\udfff": 1},
        {1: "one"},
    ):
        with pytest.raises(InvalidInput):
            hub.send("jobs", "task", payload)
    with pytest.raises(InvalidInput, match="timeout_seconds"):
        hub.send("jobs", "task", {}, timeout_seconds=float("nan"))
    with pytest.raises(InvalidInput):
        hub.send_many([Outgoing("jobs", "task", {"ok": [{1: "a"}]})])
    sent = [m for d, m in transcript if d == "request"]
    assert sent[0]["nonjson"] == {"payload": ["number", "NaN"]} and "payload" not in sent[0]["args"]
    assert sent[2]["nonjson"]["payload"][1][5] == 0xD800  # the lone surrogate, as a code unit
    assert hub.stats().counters["sent"] == 0  # nothing was sent, and the driver goes on


def test_a_value_with_no_json_form_at_all_skips_the_check_instead_of_failing_it(
    target: DriverTarget, locator: str
) -> None:
    hub = target.open(locator, "@alice", None)
    with pytest.raises(pytest.skip.Exception, match="no tagged form for bytes"):
        hub.send("jobs", "task", b"raw bytes")
    assert hub.stats().counters["sent"] == 0


def test_three_drivers_racing_for_30_claims_never_get_the_same_message_twice(
    target: DriverTarget, locator: str
) -> None:
    producer = target.open(locator, "@producer", None)
    sent = producer.send_many([Outgoing("jobs", "task", {"n": i}) for i in range(30)])
    workers = [target.open(locator, f"@worker.{i}", None) for i in range(3)]
    drivers = [cast(DriverHub, w).driver for w in workers]
    taken: list[str] = []
    while drivers:
        requests = [(d, d.submit("claim", source="jobs")) for d in drivers]  # all at once
        won = [(d, claim) for d, r in requests if (claim := d.collect(r)) is not None]
        finishing = [(d, d.submit("complete", message_id=c.id, token=c.token)) for d, c in won]
        assert [d.collect(r) for d, r in finishing] == [None] * len(won)
        taken += [c.id for _, c in won]
        drivers = [d for d, _ in won]
    assert len(taken) == len(set(taken)) == 30
    assert sorted(taken) == sorted(m.id for m in sent)


def test_the_targets_own_race_hands_every_message_to_exactly_one_agent(
    target: DriverTarget, locator: str
) -> None:
    producer = target.open(locator, "@producer", None)
    sent = producer.send_many([Outgoing("jobs", "task", {"n": i}) for i in range(30)])
    done = target.race_claims(locator, "jobs", ["@a", "@b", "@c"])
    claimed = [m for ids in done.values() for m in ids]
    assert sorted(claimed) == sorted(m.id for m in sent)


def test_every_public_hub_method_is_a_driver_op_with_the_same_signature() -> None:
    public = {
        name for name, value in vars(Hub).items() if callable(value) and not name.startswith("_")
    }
    assert public == set(HUB_OPS) | {"close"}
    for name in HUB_OPS:
        assert inspect.signature(getattr(DriverHub, name)) == inspect.signature(getattr(Hub, name))


# -- verdicts on misbehaving drivers --------------------------------------------------------------
PRELUDE = """\
import json, os, sys
HELLO = {"protocol": 1, "implementation": {"name": "fake", "version": "0"},
         "kind": "other", "capabilities": []}
def answer(request_id, result):
    print(json.dumps({"id": request_id, "ok": True, "result": result}), flush=True)
def requests():
    for line in sys.stdin:
        yield json.loads(line)
"""


def fake_driver(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake_driver.py"
    script.write_text(PRELUDE + body)
    return f"{PYTHON} {shlex.quote(str(script))}"


def verdict(command: str, *, timeout: float = 10, then: str | None = None) -> DriverFailure:
    """Start the driver (and send ``then``); return the DriverFailure it must end in."""
    with pytest.raises(DriverFailure) as caught:
        driver = DriverProcess.start(command, timeout=timeout, name="@fake")
        if then is not None:
            driver.call(then)
    failure = caught.value
    assert failure.__cause__ is None and (
        failure.__context__ is None or failure.__suppress_context__
    )
    return failure


def test_a_driver_that_crashes_at_start_is_reported_with_its_exit_code_and_stderr(
    tmp_path: Path,
) -> None:
    command = fake_driver(
        tmp_path, "sys.stderr.write('fake: cannot load libhub.so\\n')\nsys.exit(3)\n"
    )
    message = str(verdict(command))
    assert "driver '@fake'" in message and "exited with code 3" in message
    assert "before answering 'hello' (request 0)" in message
    assert "| fake: cannot load libhub.so" in message and "Traceback" not in message


def test_a_driver_that_never_answers_is_killed_when_its_time_is_up(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = fake_driver(
        tmp_path,
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\nfor line in sys.stdin:\n    pass\n",
    )
    started = time.monotonic()
    message = str(verdict(command, timeout=1))
    assert time.monotonic() - started < 5
    assert "did not answer 'hello' (request 0) within 1 s; it was killed" in message
    with pytest.raises(ProcessLookupError):  # reaped: the process is gone
        os.kill(int(pid_file.read_text()), 0)


def test_a_driver_that_prints_garbage_is_quoted(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "sys.stdin.readline()\n"
        "print('Hello! I am a driver.' + 'x' * 500, flush=True)\n"
        "sys.stdin.readline()\n",
    )
    message = str(verdict(command))
    assert "wrote a line that is not JSON while 'hello' (request 0) was due" in message
    assert "'Hello! I am a driver.xxx" in message and "(521 bytes)" in message
    assert "x" * 201 not in message


@pytest.mark.parametrize(
    "reply",
    [
        "answer(0, {**HELLO, 'protocol': 2})",
        "print(json.dumps({'id': 0, 'ok': False, 'error': {'code': 'protocol', "
        "'message': 'I speak protocol 2 only', 'definite': True}}), flush=True)",
    ],
    ids=["its-own-number", "a-refusal"],
)
def test_a_driver_that_speaks_protocol_2_gets_a_verdict_naming_both_versions(
    tmp_path: Path, reply: str
) -> None:
    command = fake_driver(tmp_path, f"next(requests())\n{reply}\nsys.stdin.readline()\n")
    message = str(verdict(command))
    assert "protocol 2" in message and "protocol 1" in message


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("[0, true]", "wrote a JSON array where a response object was due"),
        ('{"id": 0}', "answered without 'ok' true or false"),
        ('{"id": 0, "ok": true}', "answered ok=true without 'result'"),
        ('{"id": 0, "ok": false, "error": "no"}', "an 'error' that is not an object"),
        ('{"id": 0, "ok": true, "result": null, "log": "hi"}', "fields ['log']"),
    ],
    ids=["array", "no-ok", "no-result", "bad-error", "extra-field"],
)
def test_a_json_line_that_is_not_a_response_is_explained(
    tmp_path: Path, line: str, said: str
) -> None:
    command = fake_driver(
        tmp_path, f"sys.stdin.readline()\nprint({line!r}, flush=True)\nsys.stdin.readline()\n"
    )
    assert said in str(verdict(command))


def test_a_driver_that_exits_mid_line_shows_what_it_had_written(tmp_path: Path) -> None:
    command = fake_driver(tmp_path, 'sys.stdin.readline()\nsys.stdout.write(\'{"id": 0, "ok"\')\n')
    message = str(verdict(command))
    assert (
        "exited with code 0 before answering 'hello' (request 0), after an unfinished "
        'line \'{"id": 0, "ok"\'' in message
    )


def test_a_driver_whose_hello_lacks_a_field_is_told_which(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "next(requests())\n"
        "answer(0, {k: v for k, v in HELLO.items() if k != 'kind'})\n"
        "sys.stdin.readline()\n",
    )
    assert "answered 'hello' without 'kind'" in str(verdict(command))


def test_a_driver_that_answers_with_the_wrong_id_is_caught(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "for request in requests():\n    answer(request['id'] and request['id'] + 41, HELLO)\n",
    )
    message = str(verdict(command, then="stats"))
    assert "answered with id 42 while 'stats' (request 1) was due" in message


def test_a_driver_that_exits_mid_session_is_reported_and_stays_stopped(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "answer(next(requests())['id'], HELLO)\n"
        "sys.stdin.readline()\n"
        "sys.stderr.write('fake: lost the store\\n')\n"
        "sys.exit(4)\n",
    )
    driver = DriverProcess.start(command, timeout=10, name="@fake")
    with pytest.raises(DriverFailure) as caught:
        driver.call("stats")
    message = str(caught.value)
    assert "exited with code 4 before answering 'stats' (request 1)" in message
    assert "| fake: lost the store" in message and not driver.alive
    with pytest.raises(DriverFailure, match="failed earlier"):
        driver.call("stats")
    driver.close()  # nothing left to do, and no error


def test_a_driver_command_that_does_not_exist_cannot_start(tmp_path: Path) -> None:
    failure = verdict(str(tmp_path / "no-such-driver"))
    assert "could not be started" in str(failure) and "No such file" in str(failure)


# -- every message against its schema ------------------------------------------------------------
KNOWN_KEYWORDS = {
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "minLength",
    "uniqueItems",
    "$ref",
    "allOf",
    "anyOf",
}
JSON_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}
KIND_SCHEMAS = {
    "message": "message.json",
    "claim": "claim.json",
    "reply": "reply.json",
    "event": "event.json",
    "agent": "agent-info.json",
    "stats": "stats.json",
}


def load(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in {"integer", "number"}:
        return False
    return isinstance(value, JSON_TYPES[name])


def violations(value: Any, schema: Any, at: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema`` (the keywords of KNOWN_KEYWORDS), as paths."""
    found: list[str] = []
    if "$ref" in schema:
        found += violations(value, load(schema["$ref"]), at)
    for part in schema.get("allOf", []):
        found += violations(value, part, at)
    if "anyOf" in schema and all(violations(value, part, at) for part in schema["anyOf"]):
        found.append(f"{at}: {value!r} matches none of {schema['anyOf']}")
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(is_type(value, n) for n in names):
            return [*found, f"{at}: {value!r} is not {types}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and value < schema.get("minimum", value):
        found.append(f"{at}: {value!r} is below {schema['minimum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        found.append(f"{at}: {value!r} is too short")
    if isinstance(value, list):
        if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) < len(value):
            found.append(f"{at}: items repeat")
        for i, item in enumerate(value):
            found += violations(item, schema.get("items", {}), f"{at}[{i}]")
    if isinstance(value, dict):
        found += [f"{at}: lacks {k!r}" for k in schema.get("required", []) if k not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += violations(item, properties[key], f"{at}.{key}")
            elif extra is False:
                found.append(f"{at}: has no field {key!r}")
            elif isinstance(extra, dict):
                found += violations(item, extra, f"{at}.{key}")
    return found


def conforms(value: Any, name: str) -> None:
    assert violations(value, load(name)) == [], f"{name}: {value}"


def args_conform(request: dict[str, Any]) -> None:
    """A request's args against op-args.json; those sent tagged are only counted present."""
    if request["op"] == "frob":
        return  # the unknown op sent on purpose
    schema = dict(load("op-args.json")["properties"][request["op"]])
    tagged = set(request.get("nonjson", {}))
    schema["required"] = [r for r in schema["required"] if r not in tagged]
    assert violations(request.get("args", {}), schema) == [], request


def keywords(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(*(keywords(s) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key in {"properties"}:
            found |= set().union(*(keywords(v) for v in value.values())) if value else set()
        elif key in {"items", "additionalProperties", "allOf", "anyOf"}:
            found |= keywords(value)
    return found


def test_the_schemas_use_only_keywords_the_structural_check_knows() -> None:
    files = DRIVER_SCHEMAS.files()
    assert len(files) == 15
    for path in files:
        schema = load(path.name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert keywords(schema) <= KNOWN_KEYWORDS, path.name


def test_the_structural_check_rejects_what_the_schemas_forbid() -> None:
    good: dict[str, Any] = {
        "id": 3,
        "ok": False,
        "error": {"code": "stale_lease", "message": "m", "definite": True},
    }
    assert violations(good, load("response-error.json")) == []
    assert violations({**good, "extra": 1}, load("response-error.json")) == [
        "$: has no field 'extra'"
    ]
    assert violations(
        {**good, "error": {**good["error"], "definite": "yes"}}, load("response-error.json")
    ) == ["$.error.definite: 'yes' is not boolean"]
    assert violations({"id": True, "op": "x"}, load("request.json")) == [
        "$.id: True is not integer"
    ]


def test_the_suites_json_form_checks_are_the_record_schemas() -> None:
    """ENV-005's test (agentcomm_conformance.json_form) judges what the schemas say."""
    for kind, name in KIND_SCHEMAS.items():
        properties = load(name)["properties"]
        plain = {
            field: {k: v for k, v in rule.items() if k in {"type", "enum", "$ref"}}
            for field, rule in properties.items()
        }
        assert FORMS[kind] == plain, name
        assert load(name)["required"] == list(properties), name


def test_op_args_lists_every_ops_arguments_and_allows_null_where_the_default_is_none() -> None:
    ops = load("op-args.json")["properties"]
    assert set(ops) == set(HUB_OPS) | {
        "hello",
        "new_hub",
        "open",
        "advance_clock",
        "read_clock",
        "close",
    }
    for name in HUB_OPS:
        parameters = list(inspect.signature(getattr(Hub, name)).parameters.values())[1:]
        schema = ops[name]
        assert list(schema["properties"]) == [p.name for p in parameters], name
        assert schema["required"] == [p.name for p in parameters if p.default is p.empty]
        for p in parameters:
            types = schema["properties"][p.name].get("type", [])
            if p.default is not p.empty:  # SPEC "Null and the defaults"
                assert ("null" in types) == (p.default is None), f"{name}({p.name})"


def session(driver: DriverProcess, tmp_path: Path) -> None:
    """Every op once, results of every kind, and some errors."""
    hub = driver.call("new_hub", workdir=str(tmp_path))["hub"]
    driver.call("open", hub=hub, agent="@alice", now=1_700_000_000.0)
    handle = DriverHub(driver, "@alice")
    alice = cast(Hub, handle)  # Hub's methods, forwarded
    sent = alice.send("@alice", "ask", {"q": 1}, correlation_id="c1", expires_in=60)
    alice.send_many([Outgoing("jobs", "task", i, priority="low") for i in range(3)])
    alice.get(sent.id)
    asked = alice.claim()
    assert asked is not None
    alice.extend(asked.id, asked.token, 10)
    alice.reply(asked.id, asked.token, {"a": 1})
    alice.get_reply(sent.id)
    alice.wait_reply(sent.id, timeout=1)
    claims = alice.claim_many("jobs", limit=3)
    alice.complete(claims[0].id, claims[0].token)
    alice.complete_many([(claims[1].id, claims[1].token)])
    alice.fail(claims[2].id, claims[2].token, "poison", retry=False)
    alice.send("jobs", "task", "back")
    held = alice.claim("jobs")
    assert held is not None
    alice.release(held.id, held.token)
    alice.dead_letters()
    alice.replay(claims[2].id)
    alice.purge_dead()
    alice.subscribe("news")
    alice.publish("news", {"n": 1}, ttl=60)
    alice.events()
    alice.tail_events()
    alice.subscriptions()
    alice.register(capabilities=["ask"], process_id=os.getpid())
    alice.heartbeat(load=1)
    alice.agents()
    handle.advance_clock(400)
    assert driver.call("read_clock") == 1_700_000_400.0
    alice.sweep()
    alice.prune()
    alice.stats()
    alice.unsubscribe("news")
    alice.deregister()
    for refused in (
        lambda: alice.send("@bob", "ask", {"n": float("nan")}),
        lambda: alice.request("@bob", "ask", {}, timeout=1),
        lambda: alice.complete(sent.id, "stale"),
        lambda: driver.call("frob"),
    ):
        with pytest.raises(AgentCommError):
            refused()


def test_every_message_of_a_real_session_matches_its_json_schema(tmp_path: Path) -> None:
    transcript: Transcript = []
    with DriverProcess.start(REFERENCE, timeout=30, name="@alice", transcript=transcript) as driver:
        session(driver, tmp_path)
    ops: dict[int, str] = {}
    kinds_seen: set[str] = set()
    for direction, message in transcript:
        if direction == "request":
            conforms(message, "hello-request.json" if message["op"] == "hello" else "request.json")
            ops[message["id"]] = message["op"]
            args_conform(message)
            continue
        op = ops[message["id"]]
        if not message["ok"]:
            conforms(message, "response-error.json")
            continue
        conforms(message, "hello-response.json" if op == "hello" else "response-ok.json")
        kind, many = RESULT_KINDS.get(op, (None, False))
        result = message["result"]
        if op in HUB_OPS:
            assert violations(result, load("op-results.json")["properties"][op]) == [], op
        if op == "new_hub":
            conforms(result, "new-hub-result.json")
        elif kind is not None and result is not None:
            for record in result if many else [result]:
                conforms(record, KIND_SCHEMAS[kind])
            kinds_seen.add(kind)
    assert kinds_seen == set(KIND_SCHEMAS)
    assert set(ops.values()) == set(HUB_OPS) | {
        "hello",
        "new_hub",
        "open",
        "advance_clock",
        "read_clock",
        "close",
        "frob",
    }
    assert [m["error"]["code"] for d, m in transcript if d == "response" and not m["ok"]] == [
        "invalid_input",
        "deadline_exceeded",
        "stale_lease",
        "unsupported",
    ]
