"""``agentcomm bench``: throughput and latency of any hub the conformance suite can target.

* ``subject``: the hub under test (``--impl TARGET`` or a ``--url`` hub) and how the
  benchmark's child processes reach it;
* ``run``: the processes: a throughput phase (1 producer, N workers), then a paced
  latency phase (idle, waiting workers);
* ``goals``: the design document's targets per kind of hub, and the verdicts;
* ``meta``: what a result was measured on (machine, versions, server, commit);
* ``plot``: the latency histogram (matplotlib, imported only when drawing);
* ``report``: the stored files and the short summary on stderr;
* ``ops``: per-operation costs (pytest-benchmark) through the conformance plugin.
"""

from agentcomm_conformance.bench.run import BenchConfig, BenchFailed, run_latency, run_throughput
from agentcomm_conformance.bench.subject import Reach, Subject, open_subject

__all__ = [
    "BenchConfig",
    "BenchFailed",
    "Reach",
    "Subject",
    "open_subject",
    "run_latency",
    "run_throughput",
]
