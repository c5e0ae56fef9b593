"""The design document's own Redis scripts, run with bash, ``redis-cli`` and ``jq`` against a
Redis hub with the design's key names (an empty prefix) on a private server: each works, or
is one of the README's "not supported" rows (section "The design's own scripts on a Redis
hub"), as these tests check.

The functions below are copied from the design (``/work/shared/seed``), unchanged but for
the port: ``redis-cli`` is a function that names the private server's port first, so a
script that names none (``handle_failed_message``) reaches it too, never the machine's
shared server.  ``send_message`` lacks its background subscriber: that loop (``while read
-r type channel response``) reads redis-cli's output, which prints one field per line,
three fields to a line, so it prints an empty response; the tests subscribe themselves.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from agentcomm import DEFAULT_QUEUE, Hub, Outgoing, connect
from agentcomm.redis.maintenance import SCAN_PER_SWEEP
from agentcomm_conformance.servers import RedisServer
from support import spawn

README = Path(__file__).resolve().parent.parent / "README.md"

DESIGN = r"""
redis-cli() { command redis-cli -h 127.0.0.1 -p "$PORT" "$@"; }
AGENT_ID="${AGENT_ID:-@backend.nodejs}"
REDIS_HOST="127.0.0.1"
REDIS_PORT="$PORT"

send_message() {
    local to_agent="$1"
    local msg_type="$2"
    local payload="$3"
    local msg_id="msg_$(date +%s%N)"

    local message=$(jq -n \
        --arg id "$msg_id" \
        --arg from "$AGENT_ID" \
        --arg type "$msg_type" \
        --arg payload "$payload" \
        --arg timestamp "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        '{id: $id, from: $from, type: $type, payload: $payload, timestamp: $timestamp}')

    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" LPUSH "agent:${to_agent}:inbox" "$message"
    echo "$msg_id"
}

publish_event() {
    local event_type="$1"
    local payload="$2"

    local event_data=$(jq -n \
        --arg type "$event_type" \
        --arg publisher "$AGENT_ID" \
        --arg payload "$payload" \
        --arg timestamp "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        '{type: $type, publisher: $publisher, payload: $payload, timestamp: $timestamp}')

    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" PUBLISH "event:${event_type}" "$event_data"
}

publish_task() {
    local priority="$1"
    local task_data="$2"

    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" LPUSH "tasks:${priority}" "$task_data"
}

handle_failed_message() {
    local message="$1"
    local failure_reason="$2"

    local dead_letter=$(jq -n \
        --arg original "$message" \
        --arg reason "$failure_reason" \
        --arg timestamp "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        '{original: $original, reason: $reason, failed_at: $timestamp}')

    redis-cli LPUSH "dead_letter_queue" "$dead_letter"
}
"""


@pytest.fixture
def design_hub(start: Callable[..., RedisServer]) -> Iterator[tuple[RedisServer, str]]:
    """A hub with the design's key names on a private server, and its URL."""
    for tool in ("bash", "redis-cli", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the design's scripts need {tool}")
    server = start()
    url = f"{server.url}?persistence=ignore"
    connect(url, create=True).close()
    yield server, url


def design(server: RedisServer, script: str, agent: str = "@backend.nodejs") -> str:
    """Run ``script`` after the design's functions; its stdout."""
    bash = shutil.which("bash") or "bash"
    done = subprocess.run(
        [bash, "-c", DESIGN + script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "PORT": str(server.port), "AGENT_ID": agent},
        check=True,
        timeout=30,
    )
    return done.stdout


def listen(server: RedisServer, command: str, channel: str) -> subprocess.Popen[str]:
    """``redis-cli SUBSCRIBE`` (or PSUBSCRIBE) in the background, once it is subscribed."""
    cli = shutil.which("redis-cli") or "redis-cli"
    process = spawn(
        [cli, "-p", str(server.port), command, channel], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    confirmation = [process.stdout.readline().strip() for _ in range(3)]
    assert confirmation[0] == command.lower(), confirmation
    return process


def next_message(lines: IO[str] | None, kind: str) -> list[str]:
    """The fields redis-cli prints for the next ``message`` or ``pmessage``."""
    assert lines is not None
    while (line := lines.readline().strip()) != kind:
        assert line or lines.readable(), "the subscription ended"
    return [lines.readline().strip() for _ in range(3 if kind == "pmessage" else 2)]


def row(operation: str) -> str:
    """The README's row for one of the design's scripts."""
    found = [
        line
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("| ") and operation in line.split("|")[1]
    ]
    assert found, f"the README does not say what {operation} does on an agentcomm hub"
    return found[0]


@pytest.mark.redis
def test_send_message_is_adopted_and_its_reply_heard_on_the_designs_channel(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    server, url = design_hub
    msg_id = design(
        server,
        """
send_message "@service.auth" "validate_token" '{"token": "abc123"}'""",
    ).split()[-1]
    listener = listen(server, "SUBSCRIBE", f"response:@backend.nodejs:{msg_id}")
    opened.append(auth := connect(url, agent="@service.auth"))
    claim = auth.claim()
    assert claim is not None
    assert (claim.message.from_agent, claim.message.type, claim.message.payload) == (
        "@backend.nodejs",
        "validate_token",
        '{"token": "abc123"}',
    )
    auth.reply(claim.id, claim.token, {"valid": True, "user": "john_doe"})
    channel, data = next_message(listener.stdout, "message")
    listener.kill()
    assert channel == f"response:@backend.nodejs:{msg_id}"
    heard = json.loads(data)
    assert (heard["status"], heard["payload"], heard["correlation_id"]) == (
        "success",
        {"valid": True, "user": "john_doe"},
        msg_id,
    )
    assert row("send_message").count("works")


@pytest.mark.redis
def test_publish_task_is_claimed_from_the_default_queue(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    server, url = design_hub
    design(
        server,
        """
publish_task "high_priority" '{"batch_id":"1","data":"dataset_1"}'
publish_task "low_priority" 'half a task'""",
    )
    opened.append(worker := connect(url, agent="@worker.batch.001"))
    claim = worker.claim(DEFAULT_QUEUE)
    assert claim is not None
    assert (claim.message.type, claim.message.payload, claim.message.priority.name) == (
        "task",
        "dataset_1",
        "HIGH",
    )
    assert worker.claim(DEFAULT_QUEUE) is None  # the unreadable one is a dead letter
    assert worker.stats().depths[DEFAULT_QUEUE].get("dead") == 1
    assert "works" in row("publish_task") and "unreadable" in row("anything else LPUSHed")


@pytest.mark.redis
def test_handle_failed_message_is_listed_among_the_dead_letters(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    server, url = design_hub
    original = json.dumps(
        {"id": "msg_1", "from": "@backend.nodejs", "type": "validate_token", "payload": "x"}
    )
    design(
        server,
        f"""
handle_failed_message '{original}' 'auth service down'""",
    )
    opened.append(operator := connect(url))
    (dead,) = operator.dead_letters()
    assert (dead.from_agent, dead.type, dead.payload, dead.last_error, dead.to_agent) == (
        "@backend.nodejs",
        "validate_token",
        "x",
        "auth service down",
        "unaddressed",
    )
    assert "works" in row("handle_failed_message")


@pytest.mark.redis
def test_events_reach_the_designs_psubscribe_but_its_publish_reaches_no_subscriber(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    server, url = design_hub
    opened.append(tracker := connect(url, agent="@analytics.tracker"))
    tracker.subscribe("user_login")
    listener = listen(server, "PSUBSCRIBE", "event:*")
    opened.append(auth := connect(url, agent="@service.auth"))
    auth.publish("user_login", {"user_id": "123"})
    _, channel, data = next_message(listener.stdout, "pmessage")
    assert (channel, json.loads(data)["payload"]) == ("event:user_login", {"user_id": "123"})
    listener.kill()
    design(
        server,
        """
publish_event "user_login" '{"user_id": "456"}'""",
        "@service.auth",
    )
    assert [e.payload for e in tracker.events()] == [{"user_id": "123"}]  # not the design's
    assert "not supported" in row("publish_event") and "works" in row("PSUBSCRIBE")


@pytest.mark.redis
def test_the_designs_brpop_reader_gets_an_id_and_sweep_puts_the_message_back(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    server, url = design_hub
    opened.append(backend := connect(url, agent="@backend.nodejs"))
    sent = backend.send("@service.auth", "validate_token", {"token": "abc123"})
    taken = design(
        server,
        """
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" BRPOP "agent:@service.auth:inbox" 30""",
    )
    assert taken.split() == ["agent:@service.auth:inbox", sent.id]  # an id, not the JSON
    opened.append(operator := connect(url))
    assert operator.sweep() == 1
    opened.append(auth := connect(url, agent="@service.auth"))
    claim = auth.claim()
    assert claim is not None and claim.id == sent.id
    assert "sweep" in row("BRPOP agent:<id>:inbox")


@pytest.mark.redis
def test_the_designs_heartbeat_key_is_written_by_agentcomm_but_registers_nobody(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    server, url = design_hub
    opened.append(auth := connect(url, agent="@service.auth"))
    auth.register(capabilities=["api", "auth"], process_id=1234)
    beat = design(
        server,
        """
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" GET "agent:@service.auth:heartbeat"
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" SETEX "agent:@backend.nodejs:heartbeat" 60 \
    '{"status":"active","pid":42}' > /dev/null""",
    )
    assert json.loads(beat)["pid"] == 1234
    assert [a.agent_id for a in auth.agents()] == ["@service.auth"]
    assert "not supported" in row("SETEX agent:<id>:heartbeat")


@pytest.mark.redis
def test_sweep_finds_a_taken_message_within_a_few_sweeps_however_many_came_before(
    design_hub: tuple[RedisServer, str], opened: list[Hub]
) -> None:
    """Each sweep looks at SCAN_PER_SWEEP ids from where the last one stopped, and a pass
    starts again at the lowest unfinished id: one taken among 5,000 is found within three
    sweeps."""
    server, url = design_hub
    opened.append(backend := connect(url, agent="@backend.nodejs"))
    sent = backend.send_many([Outgoing("@service.auth", "work", {"n": n}) for n in range(5000)])
    opened.append(operator := connect(url))
    found = [operator.sweep() for _ in range(2 * 5000 // SCAN_PER_SWEEP + 2)]
    assert found == [0] * len(found)  # nothing was taken: the passes went through them all
    taken = design(
        server,
        """
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" RPOP "agent:@service.auth:inbox" """,
    ).strip()
    assert taken == sent[0].id
    swept = [operator.sweep() for _ in range(-(-5000 // SCAN_PER_SWEEP))]
    assert sum(swept) == 1
    assert "outside agentcomm" in (backend.get(taken).last_error or "")
