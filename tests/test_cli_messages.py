"""The ``agentcomm`` message commands: send (one, or a JSON-lines batch), receive and
claim, finishing claims, replies and requests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcomm.api import Hub
from cli_support import CLAIM_KEYS, DEADLINE, MESSAGE_KEYS, Run, err, out
from cli_support import hubs as hubs  # fixtures, imported by name
from cli_support import run as run
from cli_support import url as url


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
