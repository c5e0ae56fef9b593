"""Verdicts per statement, with their reasons, from test reports; the report files.

A statement is **pass** (its tests ran and passed), **fail** (one failed: the reason is
that test's assertion message, or what the driver said and the tail of its stderr) or
**unknown** (nothing could judge it: the reason says why, e.g. not applicable to the
hub's kind, a capability not declared, not testable through this route, not selected).

When the harness itself could not run the implementation (``Stopped``), nothing was
judged: CAP-001 fails when the implementation could not be started or broke the
handshake, and every other statement is unknown for that reason.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from agentcomm_conformance import __version__
from agentcomm_conformance.spec import Statement

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"
START, CONFIGURATION = "start", "configuration"
"""Why the harness stopped: the implementation failed to start, or --impl is unusable."""
HANDSHAKE = "CAP-001"
NOT_SELECTED = (
    "not run: no test of it was selected (-k, -m, --statement, paths), or the suite has none"
)
DETAIL_LIMIT = 2000


@dataclasses.dataclass
class TestResult:
    nodeid: str
    outcome: str  # passed, failed, skipped
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Stopped:
    """The harness could not run the implementation at all."""

    kind: str  # START or CONFIGURATION
    message: str


@dataclasses.dataclass
class Ledger:
    spec: dict[str, Statement]
    strict: bool = False
    implementation: dict[str, Any] | None = None
    results: dict[str, list[TestResult]] = dataclasses.field(default_factory=dict)
    stray_failures: list[str] = dataclasses.field(default_factory=list)
    stopped: Stopped | None = None

    @property
    def ran_any(self) -> bool:
        return bool(self.results) or self.stopped is not None

    def record(self, report: pytest.TestReport) -> None:
        """Fold one phase's report in; a test's outcome is its worst phase."""
        properties = dict(report.user_properties)
        if properties.get("implementation") and self.implementation is None:
            self.implementation = dict(properties["implementation"])  # type: ignore[call-overload]
        if properties.get("stopped") and self.stopped is None:
            self.stopped = Stopped(**properties["stopped"])  # type: ignore[arg-type]
        ids: list[str] | None = properties.get("spec")  # type: ignore[assignment]
        if ids is None:
            if report.failed:
                self.stray_failures.append(report.nodeid)
            return
        outcome = _outcome(report)
        if outcome is None:
            return
        detail = _detail(report)
        for statement_id in ids:
            tests = self.results.setdefault(statement_id, [])
            known = next((t for t in tests if t.nodeid == report.nodeid), None)
            if known is None:
                tests.append(TestResult(report.nodeid, outcome, detail))
            elif outcome == "failed":
                known.outcome, known.detail = outcome, detail

    @property
    def kind(self) -> str | None:
        return None if self.implementation is None else self.implementation.get("kind")

    def verdict(self, statement_id: str) -> str:
        if self.stopped is not None:
            return FAIL if self.stopped.kind == START and statement_id == HANDSHAKE else UNKNOWN
        if self.kind is not None and not self.spec[statement_id].applies_to(self.kind):
            return UNKNOWN  # a test tagged with an `all` statement too must not pass it
        outcomes = {t.outcome for t in self.results.get(statement_id, [])}
        if "failed" in outcomes:
            return FAIL
        return PASS if "passed" in outcomes else UNKNOWN

    def reason(self, statement_id: str) -> str:
        """Why the verdict is what it is: failures' messages, or why nothing could judge."""
        verdict = self.verdict(statement_id)
        if self.stopped is not None:
            if verdict == FAIL:
                return self.stopped.message
            return f"not run: {_stopped_words(self.stopped)} (see {HANDSHAKE})"
        tests = self.results.get(statement_id, [])
        if verdict == FAIL:
            return "\n".join(dict.fromkeys(t.detail for t in tests if t.outcome == "failed"))
        if verdict == PASS:
            return ""
        if self.kind is not None and not self.spec[statement_id].applies_to(self.kind):
            return f"not applicable to a hub of kind {self.kind!r}"
        skips = [t.detail for t in tests if t.outcome == "skipped"]
        return "; ".join(dict.fromkeys(skips)) if skips else NOT_SELECTED

    def failing(self) -> list[str]:
        """Statements whose failure fails the run (MUST and MAY; SHOULD when strict)."""
        counted = {"MUST", "MAY", "SHOULD"} if self.strict else {"MUST", "MAY"}
        return [
            s.id for s in self.spec.values() if s.level in counted and self.verdict(s.id) == FAIL
        ] + self.stray_failures

    def as_json(self) -> dict[str, Any]:
        rows = [
            {
                "id": s.id,
                "level": s.level,
                "hubs": sorted(s.hubs),
                "title": s.title,
                "verdict": self.verdict(s.id),
                "reason": self.reason(s.id),
                "tests": [dataclasses.asdict(t) for t in self.results.get(s.id, [])],
            }
            for s in self.spec.values()
        ]
        counts = {v: sum(r["verdict"] == v for r in rows) for v in (PASS, FAIL, UNKNOWN)}
        stopped = None if self.stopped is None else dataclasses.asdict(self.stopped)
        return {
            "suite": {"name": "agentcomm-conformance", "version": __version__},
            "implementation": self.implementation,
            "strict": self.strict,
            "passed": not self.failing() and self.stopped is None,
            "stopped": stopped,
            "summary": counts,
            "statements": rows,
        }

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        data = self.as_json()
        (directory / "report.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        (directory / "report.md").write_text(markdown(data), "utf-8")

    def summary_lines(self) -> list[str]:
        data = self.as_json()
        counts = data["summary"]
        lines = [
            f"conformance: {counts[PASS]} pass, {counts[FAIL]} fail, "
            f"{counts[UNKNOWN]} unknown of {len(self.spec)} statements"
        ]
        if self.stopped is not None:
            return [*lines, "", paragraph(self.stopped)]
        lines += [
            f"  FAIL {r['id']} ({r['level']}) {r['title']}"
            for r in data["statements"]
            if r["verdict"] == FAIL
        ]
        return lines


def paragraph(stopped: Stopped) -> str:
    """The one paragraph the terminal shows when the harness could not run anything."""
    if stopped.kind == CONFIGURATION:
        return (
            f"conformance: nothing was run, because --impl cannot be used: "
            f"{stopped.message}\nEvery statement is unknown."
        )
    return (
        f"conformance: nothing was run, because the implementation could not be started "
        f"or broke the handshake:\n{stopped.message}\n{HANDSHAKE} fails; every other "
        "statement is unknown."
    )


def _stopped_words(stopped: Stopped) -> str:
    if stopped.kind == CONFIGURATION:
        return "--impl cannot be used"
    return "the implementation could not be started or broke the handshake"


def markdown(data: dict[str, Any]) -> str:
    impl = data["implementation"] or {}
    counts = data["summary"]
    head = [
        f"# Conformance report: {impl.get('name', '?')} {impl.get('version', '')}".rstrip(),
        "",
        f"- implementation: `{impl.get('impl', '?')}` (kind `{impl.get('kind', '?')}`, "
        f"capabilities: {', '.join(impl.get('capabilities', [])) or 'none'})",
        f"- suite: agentcomm-conformance {data['suite']['version']}"
        f"{' (strict)' if data['strict'] else ''}",
        f"- result: **{'PASSED' if data['passed'] else 'FAILED'}**: {counts[PASS]} pass, "
        f"{counts[FAIL]} fail, {counts[UNKNOWN]} unknown",
        "",
        "| statement | level | hubs | verdict | title |",
        "|---|---|---|---|---|",
    ]
    rows = [
        f"| {r['id']} | {r['level']} | {', '.join(r['hubs'])} | {r['verdict']} | {r['title']} |"
        for r in data["statements"]
    ]
    return "\n".join(head + rows + _failures(data) + _unknowns(data)) + "\n"


def _failures(data: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for r in data["statements"]:
        if r["verdict"] != FAIL:
            continue
        lines += ["", f"### {r['id']} ({r['level']}) {r['title']}", ""]
        failed = [t for t in r["tests"] if t["outcome"] == "failed"]
        for test in failed or [{"nodeid": "(the harness)", "detail": r["reason"]}]:
            lines += [f"- `{test['nodeid']}`", "", *_block(test["detail"]), ""]
    return ["", "## Failures", *lines] if lines else []


def _unknowns(data: dict[str, Any]) -> list[str]:
    lines = [
        f"- **{r['id']}** ({r['level']}; {', '.join(r['hubs'])}): {r['reason']}"
        for r in data["statements"]
        if r["verdict"] == UNKNOWN
    ]
    return ["", "## Unknown", "", *lines] if lines else []


def _block(text: str) -> list[str]:
    """``text`` as an indented code block inside a list item."""
    return ["  ```", *(f"  {line}" for line in text.splitlines() or [""]), "  ```"]


def _outcome(report: pytest.TestReport) -> str | None:
    if report.failed:
        return "failed"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def _detail(report: pytest.TestReport) -> str:
    """The reason a test did not pass: its skip reason, or its failure's message."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if not report.failed:
        return ""
    if isinstance(report.longrepr, str):  # a harness verdict, already in plain words
        return _clip(report.longrepr)
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        where = f"{Path(crash.path).name}:{crash.lineno}"
        phase = "" if report.when == "call" else f" (in {report.when})"
        return _clip(f"{where}{phase}: {crash.message}")
    return _clip(report.longreprtext.strip())


def _clip(text: str) -> str:
    text = "\n".join(
        line for line in text.splitlines() if not line.strip().startswith("Use -v to get")
    )  # pytest's advice about its own output, not a reason
    return text if len(text) <= DETAIL_LIMIT else f"{text[:DETAIL_LIMIT]}... (cut)"
