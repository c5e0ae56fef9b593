"""The ``agentcomm`` command line: JSON shapes, payload input, and exit codes.

Most tests drive the click group in-process (``CliRunner``); the ones about bytes on
real pipes, signals and ``python -m`` run the command as its own process.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from agentcomm import errors
from agentcomm.api import Hub
from agentcomm.cli import cli, exits
from support import opening

DEADLINE = 10.0
MESSAGE_KEYS = {
    "id",
    "from_agent",
    "to_agent",
    "type",
    "payload",
    "status",
    "priority",
    "created_at",
    "timeout_seconds",
    "retry_count",
    "max_retries",
    "correlation_id",
    "expires_at",
    "available_at",
    "claimed_by",
    "last_error",
    "reply_id",
}
CLAIM_KEYS = MESSAGE_KEYS | {"token", "lease_expires_at"}

Run = Callable[..., Result]


@pytest.fixture
def url(live_url: str) -> str:
    return live_url


@pytest.fixture
def run(url: str) -> Run:
    """``run(*args, agent=..., input=...)``: the CLI on the test's hub, as that agent."""
    # click < 8.2 mixes stderr into stdout unless told not to; later versions never do.
    old_click = "mix_stderr" in inspect.signature(CliRunner).parameters
    split: dict[str, Any] = {"mix_stderr": False} if old_click else {}
    runner = CliRunner(**split)

    def invoke(
        *args: str,
        agent: str | None = None,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        base: tuple[str, ...] | None = None,
    ) -> Result:
        head = ["--url", url] if base is None else list(base)
        head += ["--agent", agent] if agent else []
        return runner.invoke(cli, [*head, *args], input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def hubs(url: str) -> Iterator[Callable[[str | None], Hub]]:
    yield from opening(url)


def out(result: Result, code: int = 0) -> Any:
    """The JSON on stdout, after checking the exit code (stderr shown on mismatch)."""
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


def err(result: Result, code: int) -> dict[str, Any]:
    """The JSON error report on stderr, after checking the exit code."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stderr)
    assert set(report) == {"error", "message", "definite"}
    return report


def agentcomm(
    *args: str, input: bytes | None = None, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.CompletedProcess[bytes]:
    """The command as its own process (``python -m agentcomm.cli``)."""
    command = [sys.executable, "-m", "agentcomm.cli", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    return subprocess.run(
        command,
        input=input,
        capture_output=True,
        env={**clean, **(env or {})},
        timeout=DEADLINE,
        check=False,
        **popen,
    )


# -- help and exit codes ---------------------------------------------------------------------
def test_help_lists_every_exit_code_as_the_docstring_does(run: Run) -> None:
    result = run("--help", base=())
    assert result.exit_code == 0
    for row in exits.table().splitlines():
        assert " ".join(row.split()) in " ".join(result.stdout.split())
    codes = [int(row.split()[0]) for row in exits.table().splitlines()]
    assert codes == list(range(12))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.AgentCommError("x"), 1),
        (errors.NotFound("x"), 4),
        (errors.Conflict("x"), 5),
        (errors.StaleLease("x"), 5),
        (errors.AlreadyFinished("x"), 5),
        (errors.DeadlineExceeded("x"), 6),
        (errors.BackendUnavailable("x"), 7),
        (errors.CorruptStore("x"), 7),
        (errors.InvalidInput("x"), 8),
        (errors.ConfigurationError("x"), 9),
    ],
)
def test_every_agentcomm_error_becomes_its_exit_code_and_a_json_report(
    run: Run, monkeypatch: pytest.MonkeyPatch, error: errors.AgentCommError, code: int
) -> None:
    def fail(self: Hub) -> None:
        raise error

    monkeypatch.setattr(Hub, "stats", fail)
    report = err(run("stats"), code)
    assert report == {"error": error.code, "message": "x", "definite": error.definite}


def test_no_url_exits_9_naming_the_option_and_the_variable(run: Run) -> None:
    report = err(run("stats", base=()), 9)
    assert "--url" in report["message"] and "AGENTCOMM_URL" in report["message"]


def test_no_agent_exits_9_naming_the_option_and_the_variable(run: Run) -> None:
    report = err(run("send", "@b", "t", "{}"), 9)
    assert "--agent" in report["message"] and "AGENTCOMM_AGENT" in report["message"]


def test_an_unknown_option_is_a_usage_error_exit_2(run: Run) -> None:
    assert run("send", "--bogus").exit_code == 2


def test_a_file_that_is_not_a_hub_exits_7(run: Run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    report = err(run("stats", base=("--url", f"sqlite:///{junk}")), 7)
    assert report["error"] == "corrupt_store"


def test_a_payload_that_is_not_json_exits_8(run: Run) -> None:
    report = err(run("send", "@b", "t", "{not json", agent="@a"), 8)
    assert "not valid JSON" in report["message"]


def test_the_url_comes_from_the_environment_when_not_given(run: Run, url: str) -> None:
    sent = out(
        run("send", "@b", "t", "1", base=(), env={"AGENTCOMM_URL": url, "AGENTCOMM_AGENT": "@a"})
    )
    assert sent["from_agent"] == "@a"


# -- init ------------------------------------------------------------------------------------
def test_init_creates_a_hub_and_prints_its_url(run: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    info = out(run("init", base=("--url", url)))
    assert info["url"] == url and info["backend"] == "sqlite"
    assert (tmp_path / "new.db").exists()
    assert out(run("stats", base=("--url", url)))["agents_known"] == 0


def test_a_missing_hub_is_not_created_by_other_commands(run: Run, tmp_path: Path) -> None:
    err(run("stats", base=("--url", f"sqlite:///{tmp_path / 'typo.db'}")), 4)
    assert not (tmp_path / "typo.db").exists()
    [row] = [r for r in exits.table().splitlines() if r.split()[0] == "4"]
    assert "no hub at --url" in row  # the table says what the missing hub gets


# -- messages --------------------------------------------------------------------------------
def test_send_prints_the_queued_message(run: Run) -> None:
    sent = out(
        run(
            "send",
            "@b",
            "greet",
            '{"hello": "world"}',
            "--priority",
            "high",
            "--timeout-seconds",
            "5",
            "--max-retries",
            "1",
            "--correlation-id",
            "req_1",
            "--expires-in",
            "60",
            agent="@a",
        )
    )
    assert set(sent) == MESSAGE_KEYS
    assert sent["status"] == "pending" and sent["priority"] == "high"
    assert (sent["timeout_seconds"], sent["max_retries"], sent["correlation_id"]) == (5, 1, "req_1")
    assert sent["payload"] == {"hello": "world"}


def test_receive_prints_claims_with_their_token_and_lease(run: Run) -> None:
    run("send", "@b", "low", "1", "--priority", "0", agent="@a")
    run("send", "@b", "high", "2", "--priority", "2", agent="@a")
    claims = out(run("receive", "--limit", "5", agent="@b"))
    assert [c["type"] for c in claims] == ["high", "low"]
    assert all(set(c) == CLAIM_KEYS and c["status"] == "processing" for c in claims)


def test_receive_exits_3_when_nothing_arrives_within_wait(run: Run) -> None:
    started = time.monotonic()
    assert out(run("receive", "--wait", "0.2", agent="@b"), 3) == []
    assert time.monotonic() - started >= 0.2


def test_claim_takes_tasks_from_any_available_by_default(run: Run) -> None:
    run("send", "ANY_AVAILABLE", "job", "{}", agent="@coordinator")
    run("send", "other_queue", "job", "{}", agent="@coordinator")
    [task] = out(run("claim", agent="@worker"))
    assert task["to_agent"] == "ANY_AVAILABLE" and task["claimed_by"] == "@worker"
    assert out(run("claim", "other_queue", agent="@worker"))[0]["to_agent"] == "other_queue"
    assert out(run("claim", agent="@worker"), 3) == []


def test_extend_complete_fail_and_release_finish_claims(run: Run) -> None:
    for _ in range(3):
        run("send", "@b", "t", "{}", agent="@a")
    first, second, third = out(run("receive", "--limit", "3", agent="@b"))
    extended = out(run("extend", first["id"], first["token"], "--seconds", "1000", agent="@b"))
    assert extended["lease_expires_at"] > first["lease_expires_at"]
    assert out(run("complete", first["id"], first["token"])) == {
        "id": first["id"],
        "status": "completed",
    }
    failed = out(run("fail", second["id"], second["token"], "--reason", "bad", "--no-retry"))
    assert (failed["status"], failed["last_error"]) == ("dead", "bad")
    released = out(run("release", third["id"], third["token"]))
    assert (released["status"], released["retry_count"]) == ("pending", 0)


def test_finishing_with_next_prints_the_next_claim_of_the_same_source_then_exits_3(
    run: Run,
) -> None:
    for n in range(4):
        run("send", "jobs", "t", str(n), agent="@a")
    [first] = out(run("claim", "jobs", agent="@w"))
    [second] = out(run("complete", first["id"], first["token"], "--next", agent="@w"))
    assert set(second) == CLAIM_KEYS and second["payload"] == 1
    [third] = out(run("reply", second["id"], second["token"], "{}", "--next", agent="@w"))
    [fourth] = out(
        run(
            "fail", third["id"], third["token"], "--reason", "x", "--no-retry", "--next", agent="@w"
        )
    )
    assert (third["payload"], fourth["payload"]) == (2, 3)
    [again] = out(run("release", fourth["id"], fourth["token"], "--next", agent="@w"))
    assert again["id"] == fourth["id"] and again["token"] != fourth["token"]
    assert (
        out(run("complete", again["id"], again["token"], "--next", "--wait", "0.1", agent="@w"), 3)
        == []
    )  # the finish stands; nothing came next
    assert out(run("get", again["id"]))["status"] == "completed"
    assert err(run("complete", first["id"], first["token"], "--wait", "1"), 8)


def test_send_jsonl_queues_every_line_in_one_call_and_prints_ids_in_order(run: Run) -> None:
    lines = (
        "\n".join(
            [
                json.dumps({"to": "@b", "type": "first", "payload": {"n": 1}}),
                "",
                json.dumps(
                    {
                        "payload": [2],
                        "priority": "high",
                        "max_retries": 1,
                        "correlation_id": "req_2",
                        "timeout_seconds": 5,
                        "expires_in": 60,
                    }
                ),
                json.dumps({"type": "third", "payload": None, "to": "jobs"}),
            ]
        )
        + "\n"
    )
    ids = out(
        run("send", "@b", "second", "--priority", "low", "--jsonl", "-", input=lines, agent="@a")
    )
    assert len(ids) == 3 and len(set(ids)) == 3
    got = [out(run("get", i)) for i in ids]
    assert [(m["to_agent"], m["type"], m["payload"], m["priority"]) for m in got] == [
        ("@b", "first", {"n": 1}, "low"),
        ("@b", "second", [2], "high"),
        ("jobs", "third", None, "low"),
    ]
    assert (got[1]["max_retries"], got[1]["correlation_id"], got[1]["timeout_seconds"]) == (
        1,
        "req_2",
        5,
    )


def test_send_jsonl_reads_a_file(run: Run, tmp_path: Path) -> None:
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps({"payload": {"batch_id": i}}) + "\n" for i in range(5)))
    ids = out(run("send", "ANY_AVAILABLE", "process_batch", "--jsonl", str(batch), agent="@c"))
    claims = out(run("claim", "--limit", "10", agent="@w"))
    assert [c["id"] for c in claims] == ids
    assert [c["payload"]["batch_id"] for c in claims] == list(range(5))


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('{"to": "@b", "type": "t"}', "line 2 names no payload"),
        ('{"to": "@b", "payload": 1}', "line 2 names no type"),
        ('{"to": "@b", "type": "t", "payload": 1, "colour": "red"}', "line 2 has unknown keys"),
        ('{"to": "@b", "type": "t", "payload": 1, "priority": "urgent"}', "line 2: priority"),
        ('{"to": "bad target!", "type": "t", "payload": 1}', "line 2:"),
        ("[1, 2]", "line 2 is not a JSON object"),
        ("{not json", "line 2: payload is not valid JSON"),
    ],
)
def test_a_bad_jsonl_line_is_invalid_input_naming_it_and_nothing_is_sent(
    run: Run, line: str, named: str
) -> None:
    good = json.dumps({"to": "@b", "type": "t", "payload": 0})
    report = err(run("send", "--jsonl", "-", input=f"{good}\n{line}\n", agent="@a"), 8)
    assert named in report["message"]
    assert out(run("stats"))["counters"].get("sent", 0) == 0


def test_send_takes_a_payload_or_jsonl_and_needs_to_and_type_otherwise(run: Run) -> None:
    assert run("send", "@b", "t", "{}", "--jsonl", "-", input="", agent="@a").exit_code == 2
    assert run("send", "@b", agent="@a").exit_code == 2
    assert err(run("send", "--jsonl", "-", input="\n", agent="@a"), 8)["message"].startswith(
        "no messages"
    )


def test_complete_finishes_many_pairs_at_once_or_none(run: Run) -> None:
    for _ in range(3):
        run("send", "@b", "t", "{}", agent="@a")
    first, second, third = out(run("receive", "--limit", "3", agent="@b"))
    done = out(run("complete", first["id"], first["token"], second["id"], second["token"]))
    assert done == [
        {"id": first["id"], "status": "completed"},
        {"id": second["id"], "status": "completed"},
    ]
    refused = run("complete", third["id"], third["token"], first["id"], first["token"])
    err(refused, 5)  # the first pair is already finished: the third stays claimed
    assert out(run("get", third["id"]))["status"] == "processing"
    assert run("complete", third["id"]).exit_code == 2  # an ID without its TOKEN


def test_complete_dash_finishes_the_claims_that_claim_printed(run: Run) -> None:
    for n in range(4):
        run("send", "jobs", "t", str(n), agent="@a")
    claims = run("claim", "jobs", "--limit", "4", agent="@w").stdout
    done = out(run("complete", "-", input=claims))
    assert [d["id"] for d in done] == [c["id"] for c in json.loads(claims)]
    one = json.dumps(out(run("claim", "jobs", agent="@w"), 3))  # nothing left: []
    assert err(run("complete", "-", input=one), 8)["message"] == "no claims on stdin"


def test_finishing_a_claim_twice_is_a_conflict_exit_5(run: Run) -> None:
    run("send", "@b", "t", "{}", agent="@a")
    [claim] = out(run("receive", agent="@b"))
    out(run("complete", claim["id"], claim["token"]))
    assert err(run("complete", claim["id"], claim["token"]), 5)["error"] in {
        "stale_lease",
        "already_finished",
    }


def test_an_unknown_message_is_not_found_exit_4(run: Run) -> None:
    assert err(run("get", "999"), 4)["error"] == "not_found"


def test_reply_then_get_reply_returns_the_answer(run: Run) -> None:
    sent = out(run("send", "@b", "validate_token", '{"token": "jwt"}', agent="@a"))
    assert out(run("get-reply", sent["id"]), 3) is None
    [claim] = out(run("receive", agent="@b"))
    answer = out(run("reply", claim["id"], claim["token"], '{"valid": true}', agent="@b"))
    assert (answer["request_id"], answer["status"]) == (sent["id"], "success")
    got = out(run("get-reply", sent["id"], "--wait", "1"))
    assert (got["payload"], got["from_agent"], got["to_agent"]) == ({"valid": True}, "@b", "@a")


def test_reply_with_error_flag_has_status_error(run: Run) -> None:
    run("send", "@b", "t", "{}", agent="@a")
    [claim] = out(run("receive", agent="@b"))
    answer = out(run("reply", claim["id"], claim["token"], '"nope"', "--error", agent="@b"))
    assert answer["status"] == "error" and answer["payload"] == "nope"


def test_request_prints_the_reply(url: str, hubs: Callable[[str | None], Hub]) -> None:
    responder = hubs("@svc")
    env = {"AGENTCOMM_URL": url, "AGENTCOMM_AGENT": "@client"}
    command = [
        sys.executable,
        "-m",
        "agentcomm.cli",
        "request",
        "@svc",
        "ask",
        '{"q": 1}',
        "--timeout",
        str(DEADLINE),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
    ) as proc:
        claim = responder.claim(wait=DEADLINE)
        assert claim is not None and claim.message.payload == {"q": 1}
        responder.reply(claim.id, claim.token, {"a": 2})
        stdout, _ = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0
    assert json.loads(stdout)["payload"] == {"a": 2}


def test_request_without_a_reply_exits_6(run: Run) -> None:
    report = err(run("request", "@nobody", "ask", "{}", "--timeout", "0.2", agent="@a"), 6)
    assert report["error"] == "deadline_exceeded"


# -- payloads --------------------------------------------------------------------------------
def test_the_payload_comes_from_stdin_only_when_it_is_a_dash(run: Run) -> None:
    assert out(run("send", "@b", "t", "-", input='{"via": "dash"}', agent="@a"))["payload"] == {
        "via": "dash"
    }
    assert out(run("publish", "tick", "-", input="[1, 2]", agent="@a"))["payload"] == [1, 2]


@pytest.mark.parametrize(
    "args",
    [
        ("send", "@b", "t"),
        ("request", "@b", "t", "--timeout", "1"),
        ("publish", "tick"),
    ],
    ids=lambda args: args[0],
)
def test_a_missing_payload_is_a_usage_error_and_leaves_stdin_unread(
    url: str, args: tuple[str, ...]
) -> None:
    # The `while read` trap: a loop's own input must not become the payload.
    script = (
        "printf 'first\\nsecond\\n' | while read -r line; do"
        ' agentcomm "$@" || echo "exit $?"; echo "$line"; done'
    )
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-c", script, "loop", "--url", url, "--agent", "@a", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert done.stdout.splitlines() == ["exit 2", "first", "exit 2", "second"]
    assert "as - to read it from stdin" in done.stderr


def test_a_dash_on_a_terminal_is_a_usage_error_not_a_wait(url: str) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        done = agentcomm("--url", url, "--agent", "@a", "send", "@b", "t", "-", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2 and b"stdin is a terminal" in done.stderr


def test_a_large_payload_on_stdin_round_trips(run: Run, url: str) -> None:
    big = {"blob": "x" * (900 * 1024)}
    sent = agentcomm(
        "--url", url, "--agent", "@a", "send", "@b", "bulk", "-", input=json.dumps(big).encode()
    )  # through a real pipe, not a buffer
    assert sent.returncode == 0, sent.stderr
    assert out(run("receive", agent="@b"))[0]["payload"] == big


def test_a_payload_over_the_limit_on_stdin_exits_8(run: Run) -> None:
    report = err(
        run("send", "@b", "t", "-", input=json.dumps("x" * (1024 * 1024 + 10)), agent="@a"), 8
    )
    assert "limit" in report["message"]


def test_awkward_text_round_trips_byte_for_byte_through_real_processes(url: str) -> None:
    text = "quotes ' \" | pipes\nnew\r\nlines\ttabs NUL\u0000 emoji \U0001f680 \u00e9 \\ $(x)"
    env = {"AGENTCOMM_URL": url}
    payload = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
    sent = agentcomm("--agent", "@a", "send", "@b", "t", "-", input=payload, env=env)
    assert sent.returncode == 0, sent.stderr
    got = agentcomm("--agent", "@b", "receive", env={**env, "LC_ALL": "C", "LANG": "C"})
    assert got.returncode == 0, got.stderr
    received = json.loads(got.stdout.decode("utf-8"))[0]["payload"]
    assert received["text"].encode("utf-8") == text.encode("utf-8")
    assert "\U0001f680".encode() in got.stdout  # printed as UTF-8, not \\u escapes


# -- events ----------------------------------------------------------------------------------
def test_subscribe_publish_events_and_unsubscribe(run: Run) -> None:
    assert out(run("subscribe", "user_login", "user_logout", agent="@tracker")) == {
        "agent": "@tracker",
        "subscriptions": ["user_login", "user_logout"],
    }
    event = out(run("publish", "user_login", '{"user_id": "123"}', "--ttl", "60", agent="@auth"))
    assert set(event) == {"id", "event_type", "publisher", "payload", "published_at", "expires_at"}
    [got] = out(run("events", agent="@tracker"))
    assert (got["id"], got["payload"]) == (event["id"], {"user_id": "123"})
    assert out(run("events", "--wait", "0.1", agent="@tracker"), 3) == []
    assert out(run("unsubscribe", "user_logout", agent="@tracker"))["subscriptions"] == [
        "user_login"
    ]


def test_tail_lists_recent_events_without_moving_cursors(run: Run) -> None:
    ids = [out(run("publish", "tick", str(n), agent="@clock"))["id"] for n in range(3)]
    assert [e["id"] for e in out(run("tail", "--limit", "2"))] == ids[1:]
    assert [e["id"] for e in out(run("tail", "--after", ids[0]))] == ids[1:]


def test_tail_follow_prints_lines_until_sigterm_then_exits_0(url: str, run: Run) -> None:
    first = out(run("publish", "tick", "1", agent="@clock"))
    command = [sys.executable, "-m", "agentcomm.cli", "--url", url, "tail", "--follow"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["id"] == first["id"]
        second = out(run("publish", "tick", "2", agent="@clock"))
        assert json.loads(proc.stdout.readline())["id"] == second["id"]
        proc.send_signal(signal.SIGTERM)
        rest, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0 and rest == b"" and b"Traceback" not in stderr


# -- registry --------------------------------------------------------------------------------
def test_register_records_the_calling_script_as_the_process(url: str) -> None:
    done = agentcomm(
        "--url",
        url,
        "--agent",
        "@svc",
        "register",
        "--capability",
        "a",
        "--capability",
        "b",
        "--max-concurrent",
        "3",
        "--ttl",
        "30",
    )
    info = json.loads(done.stdout)
    assert info["process_id"] == os.getpid()  # this test is the "bash loop" that called it
    assert (info["capabilities"], info["max_concurrent"], info["heartbeat_ttl"]) == (
        ["a", "b"],
        3,
        30,
    )


def test_heartbeat_before_register_is_not_found_exit_4(run: Run) -> None:
    assert "register" in err(run("heartbeat", agent="@ghost"), 4)["message"]


def test_heartbeat_deregister_and_agents(run: Run) -> None:
    out(run("register", "--pid", "1234", agent="@svc"))
    assert out(run("heartbeat", "--load", "2", agent="@svc"))["current_load"] == 2
    [entry] = out(run("agents", "--alive"))
    assert entry["agent_id"] == "@svc" and entry["seconds_since_heartbeat"] >= 0
    assert out(run("deregister", agent="@svc")) == {"agent": "@svc", "status": "inactive"}
    assert out(run("agents", "--alive")) == []
    assert [a["status"] for a in out(run("agents"))] == ["inactive"]


# -- running the hub -------------------------------------------------------------------------
def test_dead_letters_can_be_listed_replayed_and_purged(run: Run) -> None:
    ids = [out(run("send", "@b", "t", "{}", agent="@a"))["id"] for _ in range(3)]
    for claim in out(run("receive", "--limit", "3", agent="@b")):
        out(run("fail", claim["id"], claim["token"], "--reason", "poison", "--no-retry"))
    assert [m["id"] for m in out(run("dead-letters", "list"))] == ids
    [replayed] = out(run("dead-letters", "replay", ids[0]))
    assert (replayed["status"], replayed["retry_count"]) == ("pending", 0)
    assert run("dead-letters", "purge").exit_code == 2  # no ids needs --all
    assert out(run("dead-letters", "purge", ids[1])) == {"purged": 1}
    assert out(run("dead-letters", "purge", "--all")) == {"purged": 1}
    assert out(run("dead-letters", "list")) == []


def test_replaying_a_live_message_is_a_conflict_exit_5(run: Run) -> None:
    sent = out(run("send", "@b", "t", "{}", agent="@a"))
    assert err(run("dead-letters", "replay", sent["id"]), 5)["error"] == "conflict"


def test_stats_show_depths_counters_and_agents(run: Run) -> None:
    run("send", "@b", "t", "{}", agent="@a")
    run("send", "ANY_AVAILABLE", "t", "{}", agent="@a")
    run("register", agent="@b")
    stats = out(run("stats"))
    assert stats["depths"]["@b"]["pending"] == stats["depths"]["ANY_AVAILABLE"]["pending"] == 1
    assert stats["counters"]["sent"] == 2
    assert (stats["agents_alive"], stats["agents_known"]) == (1, 1)


def test_sweep_and_purge_print_counts(run: Run) -> None:
    assert out(run("sweep")) == {"changed": 0}
    assert all(isinstance(n, int) for n in out(run("purge")).values())


def test_agent_run_refuses_an_id_that_contradicts_the_agent_option(run: Run) -> None:
    report = err(run("agent", "run", "@one", agent="@two"), 9)
    assert "@one" in report["message"] and "@two" in report["message"]


def test_python_dash_m_runs_the_command_line() -> None:
    done = agentcomm("--help")
    assert done.returncode == 0 and b"Exit codes:" in done.stdout
