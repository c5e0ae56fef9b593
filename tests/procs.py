"""Agent roles run as separate OS processes by the multi-process tests.

``python tests/procs.py ROLE URL AGENT [ARGS...]``; each role prints what the test
needs on stdout, one JSON value per line, flushed, so the test can wait on it.
"""

from __future__ import annotations

import json
import sys
import time

from agentcomm import connect


def worker(url: str, agent: str, queue: str) -> None:
    """Claim and complete until a 'stop' task; print the ids this worker completed."""
    done: list[str] = []
    with connect(url, agent=agent) as hub:
        print(json.dumps("ready"), flush=True)
        while True:
            claim = hub.claim(queue, wait=1.0)
            if claim is None:
                continue
            hub.complete(claim.id, claim.token)
            if claim.message.type == "stop":
                break
            done.append(claim.id)
    print(json.dumps(done), flush=True)


def hang(url: str, agent: str, queue: str) -> None:
    """Claim one message, say which, then hang holding it until killed."""
    with connect(url, agent=agent) as hub:
        claim = None
        while claim is None:
            claim = hub.claim(queue, wait=1.0)
        print(json.dumps(claim.id), flush=True)
        time.sleep(3600)


def send(url: str, agent: str, to: str, payload_json: str) -> None:
    """Send one message whose payload is the given JSON text; print its id."""
    with connect(url, agent=agent) as hub:
        print(json.dumps(hub.send(to, "text", json.loads(payload_json)).id), flush=True)


def receive(url: str, agent: str) -> None:
    """Claim one message from the own inbox, complete it, print its payload."""
    with connect(url, agent=agent) as hub:
        claim = hub.claim(wait=10.0)
        assert claim is not None, "nothing arrived"
        hub.complete(claim.id, claim.token)
        print(json.dumps(claim.message.payload), flush=True)


def request(url: str, agent: str, to: str) -> None:
    """Send a request and exit at once, without waiting: print its id."""
    with connect(url, agent=agent) as hub:
        message = hub.send(to, "validate_token", {"token": "abc123"}, correlation_id="req_001")
        print(json.dumps(message.id), flush=True)


def answer(url: str, agent: str) -> None:
    """Answer one request from the own inbox."""
    with connect(url, agent=agent) as hub:
        claim = hub.claim(wait=10.0)
        assert claim is not None, "no request arrived"
        hub.reply(claim.id, claim.token, {"valid": True, "for": claim.message.payload})
        print(json.dumps(claim.id), flush=True)


def wait_reply(url: str, agent: str, request_id: str) -> None:
    with connect(url, agent=agent) as hub:
        print(json.dumps(hub.wait_reply(request_id, timeout=10.0).payload), flush=True)


def subscribe(url: str, agent: str, *event_types: str) -> None:
    with connect(url, agent=agent) as hub:
        for kind in event_types:
            hub.subscribe(kind)
    print(json.dumps("subscribed"), flush=True)


def publish(url: str, agent: str, event_type: str, count: str) -> None:
    with connect(url, agent=agent) as hub:
        for i in range(int(count)):
            hub.publish(event_type, {"n": i})
    print(json.dumps(int(count)), flush=True)


def read_events(url: str, agent: str) -> None:
    """Read every unread event of the subscriptions; print them as [type, n] pairs."""
    seen: list[list[object]] = []
    with connect(url, agent=agent) as hub:
        while batch := hub.events(limit=7):
            seen.extend([e.event_type, e.payload["n"]] for e in batch)
    print(json.dumps(seen), flush=True)


ROLES = {
    f.__name__: f
    for f in (
        worker,
        hang,
        send,
        receive,
        request,
        answer,
        wait_reply,
        subscribe,
        publish,
        read_events,
    )
}

if __name__ == "__main__":
    ROLES[sys.argv[1]](*sys.argv[2:])
