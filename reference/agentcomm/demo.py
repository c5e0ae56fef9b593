"""The design's three use cases, end to end, with real agent processes: ``agentcomm demo``.

Seven ``agentcomm agent run`` processes share a fresh SQLite hub; handlers are small
Python scripts written next to it.  Each use case is checked from the outside (hub
state and the handlers' own logs), never by trusting a process's word for it:

1. token validation: @backend.nodejs requests validate_token of @service.auth;
2. event broadcasting: @service.auth publishes user_login, three subscribers each
   handle it exactly once;
3. batch distribution: @coordinator.backend queues 100 process_batch tasks on
   ANY_AVAILABLE, three workers compete, and each task is completed exactly once.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from agentcomm.errors import ConfigurationError
from agentcomm.models import DEFAULT_QUEUE, Outgoing, Status
from agentcomm.urls import ENV_AGENT, ENV_URL, connect

AUTH = "@service.auth"
BACKEND = "@backend.nodejs"
SUBSCRIBERS = ("@analytics.tracker", "@audit.compliance", "@service.communication")
COORDINATOR = "@coordinator.backend"
WORKERS = ("@worker.batch.001", "@worker.batch.002", "@worker.batch.003")
TASKS = 100
BROADCAST = "event broadcasting"
DEADLINE = 15.0
"""Seconds any one step may take before the demo calls it failed."""

SCRIPTS = {
    "validate_token.py": """\
import json, sys
request = json.load(sys.stdin)
valid = str(request.get("token", "")).startswith("jwt")
print(json.dumps({"valid": valid, "user": "john_doe" if valid else None}))
""",
    "record_event.py": """\
import json, os, sys
event = json.load(sys.stdin)
line = {"agent": os.environ["AGENTCOMM_AGENT"], "event_id": os.environ["AGENTCOMM_EVENT_ID"],
        "payload": event}
with open(sys.argv[1], "a", encoding="utf-8") as log:
    log.write(json.dumps(line) + "\\n")
""",
    "process_batch.py": """\
import json, os, sys
task = json.load(sys.stdin)
worker = os.environ["AGENTCOMM_AGENT"]
with open(sys.argv[1], "a", encoding="utf-8") as log:
    log.write(json.dumps({"batch_id": task["batch_id"], "worker": worker}) + "\\n")
print(json.dumps({"batch_id": task["batch_id"], "worker": worker, "status": "processed"}))
""",
}


@dataclasses.dataclass
class Case:
    name: str
    ok: bool
    detail: str
    data: dict[str, Any] = dataclasses.field(default_factory=dict)


class Fleet:
    """The agent processes, each ``python -m agentcomm.cli agent run``, logs in ``workdir``."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url, self.workdir = url, workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = _child_env()

    def start(self, agent: str, *options: str) -> None:
        command = [
            sys.executable,
            "-m",
            "agentcomm.cli",
            "--url",
            self.url,
            "agent",
            "run",
            agent,
            *options,
        ]
        with (
            open(self.workdir / f"{agent[1:]}.log", "wb") as log,
            open(self.workdir / f"{agent[1:]}.out", "wb") as out,
        ):
            self.procs[agent] = subprocess.Popen(command, stdout=out, stderr=log, env=self.env)

    def handler(self, script: str, *args: str) -> str:
        """A TYPE=CMD command line; quoted, because paths may hold spaces."""
        path = self.workdir / script
        return shlex.join([sys.executable, "-I", "-S", str(path), *args])

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every agent and wait; returns exit codes (None: had to be killed)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return {agent: _reap(proc) for agent, proc in self.procs.items()}

    def summary(self, agent: str) -> dict[str, Any]:
        text = (self.workdir / f"{agent[1:]}.out").read_text("utf-8").strip()
        return json.loads(text) if text else {}


def run_demo(
    workdir: Path | None = None, *, keep: bool = False, report: IO[str] | None = None
) -> dict[str, Any]:
    """Run the three use cases; returns the JSON summary (``ok`` tells the verdict)."""
    report = report or sys.stderr
    temporary = workdir is None
    where = Path(tempfile.mkdtemp(prefix="agentcomm-demo-")) if workdir is None else workdir
    where.mkdir(parents=True, exist_ok=True)
    if (where / "hub.db").exists():  # "fresh" means fresh: never reuse, never delete
        raise ConfigurationError(f"{where} already holds a hub.db: give the demo an empty --dir")
    started = time.monotonic()
    cases = _run_cases(where.resolve())
    result = {
        "ok": all(c.ok for c in cases),
        "dir": str(where),
        "kept": True,
        "seconds": round(time.monotonic() - started, 2),
        "cases": [dataclasses.asdict(c) for c in cases],
    }
    if temporary and not keep and result["ok"]:  # a failure keeps its logs for reading
        shutil.rmtree(where, ignore_errors=True)
        result["kept"] = False
    _report(result, cases, report)
    return result


def _run_cases(workdir: Path) -> list[Case]:
    url = f"sqlite:///{workdir / 'hub.db'}"
    for name, text in SCRIPTS.items():
        (workdir / name).write_text(text, encoding="utf-8")
    connect(url, create=True).close()
    fleet = Fleet(url, workdir)
    cases: list[Case] = []
    try:
        _start_agents(fleet)
        cases.append(_wait_alive(url, fleet))
        if cases[0].ok:
            cases += [
                _token_validation(url),
                _event_broadcast(url, workdir),
                _batch_distribution(url, workdir),
            ]
    finally:
        codes = fleet.stop()
    cases = [_events_exactly_once(c, workdir) if c.name == BROADCAST else c for c in cases]
    return [*cases, _clean_stop(url, fleet, codes)]


def _start_agents(fleet: Fleet) -> None:
    fleet.start(AUTH, "--handler", "validate_token=" + fleet.handler("validate_token.py"))
    for agent in SUBSCRIBERS:
        log = str(fleet.workdir / f"events-{agent[1:]}.jsonl")
        fleet.start(agent, "--on-event", "user_login=" + fleet.handler("record_event.py", log))
    for agent in WORKERS:
        log = str(fleet.workdir / f"batches-{agent[1:]}.jsonl")
        fleet.start(
            agent,
            "--queue",
            DEFAULT_QUEUE,
            "--handler",
            "process_batch=" + fleet.handler("process_batch.py", log),
        )


def _wait_alive(url: str, fleet: Fleet) -> Case:
    wanted = set(fleet.procs)
    with connect(url) as hub:

        def alive() -> set[str]:
            return {a.agent_id for a in hub.agents(alive_only=True)} & wanted

        ok = _until(lambda: alive() == wanted or _any_exited(fleet))
        found = alive()
    missing = sorted(wanted - found)
    return Case(
        "agents started",
        ok and not missing,
        f"{len(found)}/{len(wanted)} agents registered and alive"
        + (f"; missing {', '.join(missing)} (see their .log files)" if missing else ""),
    )


def _token_validation(url: str) -> Case:
    """Use case 1, through the command line exactly as a bash agent would call it."""
    good = _cli(
        url,
        BACKEND,
        "request",
        AUTH,
        "validate_token",
        '{"token": "jwt123", "endpoint": "/api/users"}',
        "--timeout",
        str(DEADLINE),
    )
    bad = _cli(
        url,
        BACKEND,
        "request",
        AUTH,
        "validate_token",
        '{"token": "forged", "endpoint": "/api/users"}',
        "--timeout",
        str(DEADLINE),
    )
    answers = [r.get("payload") or {} for r in (good, bad)]
    ok = answers[0].get("valid") is True and answers[1].get("valid") is False
    return Case(
        "token validation",
        ok,
        f"{BACKEND} -> {AUTH} validate_token: jwt123"
        f" valid={json.dumps(answers[0].get('valid'))},"
        f" forged valid={json.dumps(answers[1].get('valid'))}",
        {"replies": [good, bad]},
    )


def _event_broadcast(url: str, workdir: Path) -> Case:
    """Use case 2: publish once; every subscriber's handler must log it."""
    payload = '{"user_id": "123", "session": "sess456", "ip": "192.168.1.1"}'
    event = _cli(url, AUTH, "publish", "user_login", payload)
    event_id = str(event.get("id"))
    ok = _until(lambda: all(_event_count(workdir, a, event_id) >= 1 for a in SUBSCRIBERS))
    got = {a: _event_count(workdir, a, event_id) for a in SUBSCRIBERS}
    return Case(
        BROADCAST,
        ok,
        f"user_login {event_id} reached "
        f"{sum(n >= 1 for n in got.values())}/{len(SUBSCRIBERS)} subscribers",
        {"event_id": event_id, "deliveries": got},
    )


def _events_exactly_once(case: Case, workdir: Path) -> Case:
    """Recount once every agent has stopped: a late duplicate would show up now."""
    event_id = case.data.get("event_id", "")
    got = {a: _event_count(workdir, a, event_id) for a in SUBSCRIBERS}
    once = all(n == 1 for n in got.values())
    detail = case.detail + (", each exactly once" if once else f"; deliveries {got}")
    return Case(case.name, case.ok and once, detail, {**case.data, "deliveries": got})


def _batch_distribution(url: str, workdir: Path) -> Case:
    """Use case 3: 100 tasks on ANY_AVAILABLE; each completed once, by some worker."""
    with connect(url, agent=COORDINATOR) as hub:
        tasks = [
            Outgoing(
                DEFAULT_QUEUE,
                "process_batch",
                {"batch_id": f"batch_{i:03d}", "data": f"dataset_{i}"},
            )
            for i in range(1, TASKS + 1)
        ]
        sent = [m.id for m in hub.send_many(tasks)]
        _until(lambda: all(hub.get(m).status.finished for m in sent))
        statuses = collections.Counter(hub.get(m).status for m in sent)
    runs = _batch_runs(workdir)
    per_batch = collections.Counter(run["batch_id"] for run in runs)
    per_worker = collections.Counter(run["worker"] for run in runs)
    once = len(per_batch) == TASKS and set(per_batch.values()) == {1}
    ok = statuses[Status.COMPLETED] == TASKS and once
    shares = " ".join(f"{w.rsplit('.', 1)[-1]}={per_worker[w]}" for w in WORKERS)
    return Case(
        "batch distribution",
        ok,
        f"{statuses[Status.COMPLETED]}/{TASKS} tasks completed, "
        f"{sum(per_batch.values())} handler runs; per worker: {shares}",
        {"per_worker": dict(per_worker), "statuses": {s.value: n for s, n in statuses.items()}},
    )


def _clean_stop(url: str, fleet: Fleet, codes: dict[str, int | None]) -> Case:
    with connect(url) as hub:
        active = sorted(a.agent_id for a in hub.agents() if a.status == "active")
    clean = sorted(a for a, code in codes.items() if code == 0)
    summaries = {a: fleet.summary(a) for a in clean}
    ok = len(clean) == len(codes) and not active
    return Case(
        "clean shutdown",
        ok,
        f"{len(clean)}/{len(codes)} agents stopped on SIGTERM with exit 0; "
        f"still active: {', '.join(active) or 'none'}",
        {"summaries": summaries},
    )


# -- helpers ---------------------------------------------------------------------------------
def _cli(url: str, agent: str, *args: str) -> dict[str, Any]:
    """Run one ``agentcomm`` command as ``agent``; its JSON output, or {} on failure."""
    command = [sys.executable, "-m", "agentcomm.cli", "--url", url, "--agent", agent, *args]
    done = subprocess.run(
        command, capture_output=True, env=_child_env(), timeout=2 * DEADLINE, check=False
    )
    try:
        found = json.loads(done.stdout) if done.returncode == 0 else {}
    except ValueError:
        found = {}
    return found if isinstance(found, dict) else {}


def _child_env() -> dict[str, str]:
    """This environment, with agentcomm importable and no stray identity or hub."""
    env = {k: val for k, val in os.environ.items() if k not in (ENV_AGENT, ENV_URL)}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _until(condition: Callable[[], bool], deadline: float = DEADLINE) -> bool:
    """Poll ``condition`` until it holds or ``deadline`` seconds pass."""
    until = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > until:
            return False
        time.sleep(0.05)
    return True


def _any_exited(fleet: Fleet) -> bool:
    return any(proc.poll() is not None for proc in fleet.procs.values())


def _reap(proc: subprocess.Popen[bytes]) -> int | None:
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _event_count(workdir: Path, agent: str, event_id: str) -> int:
    lines = _jsonl(workdir / f"events-{agent[1:]}.jsonl")
    return sum(1 for line in lines if line.get("event_id") == event_id)


def _batch_runs(workdir: Path) -> list[dict[str, Any]]:
    return [run for agent in WORKERS for run in _jsonl(workdir / f"batches-{agent[1:]}.jsonl")]


def _report(result: dict[str, Any], cases: list[Case], out: IO[str]) -> None:
    verdict = "all use cases passed" if result["ok"] else "FAILED"
    out.write(f"agentcomm demo: {verdict} in {result['seconds']} s\n")
    for case in cases:
        out.write(f"  [{'ok' if case.ok else 'FAIL'}] {case.name}: {case.detail}\n")
    if result["kept"]:
        out.write(f"  hub, handler scripts and agent logs: {result['dir']}\n")
    out.flush()
