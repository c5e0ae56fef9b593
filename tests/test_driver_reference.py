"""The reference driver (``agentcomm driver``) through the suite's client: its hello, hubs
and handles, errors, values JSON cannot carry, the manual clock, and races."""

from __future__ import annotations

import inspect
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

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
from agentcomm_conformance.driver.process import DriverProcess, Transcript
from agentcomm_conformance.targets.driver import DriverHub, DriverTarget
from driver_support import REFERENCE


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
