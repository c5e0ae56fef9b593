"""Verdicts per statement, from test reports, and the report files (Markdown and JSON)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from agentcomm_conformance import __version__
from agentcomm_conformance.spec import Statement

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclasses.dataclass
class TestResult:
    nodeid: str
    outcome: str  # passed, failed, skipped
    detail: str = ""


@dataclasses.dataclass
class Ledger:
    spec: dict[str, Statement]
    strict: bool = False
    implementation: dict[str, Any] | None = None
    results: dict[str, list[TestResult]] = dataclasses.field(default_factory=dict)
    stray_failures: list[str] = dataclasses.field(default_factory=list)

    @property
    def ran_any(self) -> bool:
        return bool(self.results)

    def record(self, report: pytest.TestReport) -> None:
        """Fold one phase's report in; a test's outcome is its worst phase."""
        ids: list[str] | None = next(
            (list(v) for k, v in report.user_properties if k == "spec"), None)  # type: ignore[call-overload]
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

    def verdict(self, statement_id: str) -> str:
        outcomes = {t.outcome for t in self.results.get(statement_id, [])}
        if "failed" in outcomes:
            return FAIL
        return PASS if "passed" in outcomes else UNKNOWN

    def failing(self) -> list[str]:
        """Statements whose failure fails the run (MUST and MAY; SHOULD when strict)."""
        counted = {"MUST", "MAY", "SHOULD"} if self.strict else {"MUST", "MAY"}
        return [s.id for s in self.spec.values()
                if s.level in counted and self.verdict(s.id) == FAIL] + self.stray_failures

    def as_json(self) -> dict[str, Any]:
        rows = [{**dataclasses.asdict(s), "hubs": sorted(s.hubs), "verdict": self.verdict(s.id),
                 "tests": [dataclasses.asdict(t) for t in self.results.get(s.id, [])]}
                for s in self.spec.values()]
        counts = {v: sum(r["verdict"] == v for r in rows) for v in (PASS, FAIL, UNKNOWN)}
        return {"suite": {"name": "agentcomm-conformance", "version": __version__},
                "implementation": self.implementation, "strict": self.strict,
                "passed": not self.failing(), "summary": counts, "statements": rows}

    def write(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        data = self.as_json()
        (directory / "report.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        (directory / "report.md").write_text(markdown(data), "utf-8")

    def summary_lines(self) -> list[str]:
        data = self.as_json()
        counts = data["summary"]
        lines = [f"conformance: {counts[PASS]} pass, {counts[FAIL]} fail, "
                 f"{counts[UNKNOWN]} unknown of {len(self.spec)} statements"]
        lines += [f"  FAIL {r['id']} ({r['level']}) {r['title']}"
                  for r in data["statements"] if r["verdict"] == FAIL]
        return lines


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
    rows = [f"| {r['id']} | {r['level']} | {', '.join(r['hubs'])} | {r['verdict']} | "
            f"{r['title']} |" for r in data["statements"]]
    failures = [f"- **{r['id']}** `{t['nodeid']}`: {t['detail']}"
                for r in data["statements"] for t in r["tests"] if t["outcome"] == "failed"]
    tail = ["", "## Failures", "", *failures] if failures else []
    return "\n".join(head + rows + tail) + "\n"


def _outcome(report: pytest.TestReport) -> str | None:
    if report.failed:
        return "failed"
    if report.skipped:
        return "skipped"
    return "passed" if report.when == "call" else None


def _detail(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    if report.failed:
        return (report.longreprtext.strip().splitlines() or [""])[-1][:300]
    return ""
