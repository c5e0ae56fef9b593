"""The design's agent loop as one process; ``agentcomm agent run`` is a thin wrapper.

The design's bash loop registers, heartbeats, reads its inbox, dispatches on the message
type, replies, reads its events, sleeps 30 s, and marks itself inactive on SIGTERM.  The
runner keeps that shape with three changes a shell loop cannot easily make:

* it *claims* messages (a lease and a token), so a message being handled when the agent
  dies comes back to another agent instead of being lost, and it extends the lease while
  a slow handler runs;
* handlers are programs (``TYPE=CMD``) split with shlex and run without a shell, the
  payload on stdin: nothing from a message is ever executed or put on a command line;
* it waits on the hub (a short claim wait) instead of sleeping, so it answers at once and
  still stops within two seconds of SIGTERM.

One thread, no locks: signal handlers only set a flag that the loop reads between steps.

The package, one module per concern: ``runner`` (the loop), ``child`` (a handler as a
child process) and ``control`` (stopping, pausing, periodic chores, the ready file).
"""

from __future__ import annotations

from agentcomm.agent.child import EX_DATAERR, Finished, parse_handler, run_child
from agentcomm.agent.control import StopFlag, pause, signal_ready, stop_on_signals
from agentcomm.agent.runner import AgentConfig, AgentRunner, Summary

__all__ = [
    "EX_DATAERR",
    "AgentConfig",
    "AgentRunner",
    "Finished",
    "StopFlag",
    "Summary",
    "parse_handler",
    "pause",
    "run_child",
    "signal_ready",
    "stop_on_signals",
]
