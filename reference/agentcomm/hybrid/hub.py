"""The hybrid hub (SPEC COMPAT-009, COMPAT-010): the Redis hub, plus an audit trail.

Messages, claims, replies and events travel over Redis exactly as with ``RedisHub``.
Each script also notes what it touched in the Redis stream ``audit`` (an outbox), in
the same atomic step.  After every script that may write, the hub records those objects'
current state in the SQLite audit file and only then deletes the entries, so:

* the change is in the audit file before the operation returns;
* a crash between the Redis change and the audit write loses nothing: the entries wait
  in the stream, and the next operation of any hybrid handle, or the next open, or
  ``reconcile()``, records them;
* an audit write that fails raises ``BackendUnavailable`` with ``definite=False``: the
  Redis change has happened, and stays queued for the audit.

Several handles, in several processes, may record the same entries at once.  Each reads
Redis's state while it holds the audit file's write lock, so handles commit in the
order they read, and an older copy of an object never overwrites a newer one; message
rows are guarded by revision as well.  Every handle of one Redis prefix must name the
same audit file: a handle with another file would record, and delete, the entries
meant for it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from agentcomm.clock import Clock
from agentcomm.errors import AgentCommError, BackendUnavailable, ConfigurationError, NotFound
from agentcomm.hybrid import audit, outbox
from agentcomm.hybrid.audit import AuditFile
from agentcomm.redis.hub import RedisHub
from agentcomm.urls import HubURL


class HybridHub(RedisHub):
    """A Redis hub whose every change is also recorded in a SQLite audit file.

    Its capabilities are the Redis hub's: the audit adds no behaviour to the contract.
    """

    audited = True
    audit: AuditFile

    def __init__(
        self,
        where: HubURL,
        *,
        agent: str | None = None,
        clock: Clock | None = None,
        create: bool = False,
    ) -> None:
        path = audit_path(where, create)  # before connecting: a bad URL opens nothing
        super().__init__(where, agent=agent, clock=clock, create=create)
        try:
            self.audit = AuditFile(path, busy_timeout=self.settings.busy_timeout, create=create)
            self.reconcile()  # what a crashed handle left unrecorded
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Idempotent, and safe on a hub whose opening failed before its audit file."""
        found: AuditFile | None = getattr(self, "audit", None)
        if found is not None:
            found.close()
        super().close()

    def reconcile(self) -> int:
        """Record every change still waiting in the audit stream; return how many entries.

        Runs after every write and when a hub is opened; call it to settle the audit
        file after a crash, or after audit writes failed, without any other operation.
        """
        recorded, after = 0, None
        while True:
            batch = self._read_batch(after)
            if batch.entry_ids:
                self._record(batch)
                recorded, after = recorded + len(batch.entry_ids), batch.last
            if len(batch.entry_ids) < outbox.BATCH:  # the end, as of this read
                return recorded

    def _read_batch(self, after: str | None) -> outbox.Batch:
        batch: outbox.Batch = self._read(lambda: outbox.read_batch(self.client, self.keys, after))
        return batch

    # -- the hook ------------------------------------------------------------------------
    def _run(
        self, name: str, *args: Any, now: float | None = None, reads_only: bool = False
    ) -> Any:
        result = super()._run(name, *args, now=now, reads_only=reads_only)
        if not reads_only:
            self._audit_after(name)
        return result

    def _audit_after(self, operation: str) -> None:
        try:
            self.reconcile()
        except AgentCommError as exc:
            raise BackendUnavailable(
                f"hybrid hub {self.where.redacted}: {operation} took effect in Redis but "
                f"could not be recorded in the audit file {self.audit.path!r} ({exc}); it "
                "stays queued and is recorded by the next operation or reconcile()",
                definite=False,
            ) from exc

    def _record(self, batch: outbox.Batch) -> None:
        """One batch: read its objects under the audit's write lock, commit, then forget."""
        with self.audit.store.write() as conn:
            state = self._read(lambda: outbox.fetch(self.client, self.keys, batch.refs))
            audit.record(conn, state, self.clock.now())
        # A failure here leaves recorded entries in the stream, which only costs a second,
        # idempotent recording later: nothing is lost, so the operation does not fail.
        with contextlib.suppress(BackendUnavailable):
            self.conn.call(lambda: outbox.forget(self.client, self.keys, batch.entry_ids))


def audit_path(where: HubURL, create: bool) -> str:
    """The audit file a hybrid URL names; it must exist unless the hub is being created."""
    path = where.options.get("audit", "")
    if not path:
        raise ConfigurationError(
            f"hybrid hub URL {where.redacted!r} names no audit file: add "
            "?audit=/path/to/audit.db (SPEC COMPAT-009)"
        )
    if not create and not os.path.exists(path):
        raise NotFound(
            f"no audit file {path!r} for hybrid hub {where.redacted}: create the "
            "hub with `agentcomm init` or connect(url, create=True)"
        )
    return path
