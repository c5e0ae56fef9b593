"""The Redis hub's own indexes of what waits: a finished message leaves them.

``expiring`` (messages with a deadline, for ``sweep``) and ``processing:<target>`` (live
leases) are kept by the hub's functions, one message at a time or a batch per command
(common.lua ``finish_all``).  An id left behind changes no answer at once, but ``sweep``
would spend its bounded steps on it (``tests/test_maintenance_steps.py``), so the
reference hub keeps them exact.  The spec's own sets (COMPAT-007) are the suite's.
"""

from __future__ import annotations

from pathlib import Path

from agentcomm import Outgoing, connect
from agentcomm.redis.hub import RedisHub
from agentcomm.urls import fresh_url
from agentcomm_conformance.servers import RedisServer


def test_finished_messages_leave_the_deadline_and_lease_indexes(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    url = fresh_url(redis_server.url, tmp_path)
    with connect(url, agent="@boss", create=True) as boss, connect(url, agent="@w") as worker:
        assert isinstance(worker, RedisHub)
        index = worker.client
        expiring = worker.keys.expiring
        processing = worker.keys.key("processing", target="jobs")
        boss.send_many([Outgoing("jobs", "work", n, expires_in=600) for n in range(6)])
        alone = worker.claim("jobs")
        assert alone is not None
        batch = worker.claim_many("jobs", limit=5)
        assert (index.zcard(expiring), index.zcard(processing)) == (6, 6)

        worker.complete(alone.id, alone.token)
        assert index.zscore(expiring, alone.id) is None
        assert index.zscore(processing, alone.id) is None
        worker.complete_many([(c.id, c.token) for c in batch])
        assert index.zcard(expiring) == 0
        assert index.exists(processing) == 0
