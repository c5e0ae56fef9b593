"""SQL spliced together from strings: ``send`` writes its INSERT with values quoted as
``'...'`` (the design's ``'$VAR'``), unescaped.  A payload with an apostrophe breaks the
statement; ``''`` in a payload comes back as ``'``.  ``execute`` runs one statement only,
so an injected ``DROP TABLE`` cannot reach past the test's own hub."""

from __future__ import annotations

from agentcomm.api import PreparedMessage
from agentcomm.models import Message
from agentcomm.prepared import payloads
from agentcomm.sqlite import statements
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.messages import _insert_params
from agentcomm.sqlite.rows import from_iso, iso
from mutants import Implementation

CATCHES = ("MSG-003", "COMPAT-005")


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (int, float)):
        return repr(value)
    return f"'{value}'"  # the defect: no escaping, no binding


class SplicedSql(SqliteHub):
    def _send(self, sender: str, items: list[PreparedMessage], now: float) -> list[Message]:
        created = iso(now)
        with self.store.write() as conn:
            ids = [
                conn.execute(_spliced(_insert_params(sender, m, created, now))).lastrowid
                for m in items
            ]
        return [
            m.sent(str(i), sender, from_iso(created), now, m.expires_at, payload)
            for i, m, payload in zip(ids, items, payloads(items), strict=True)
        ]


def _spliced(values: tuple[object, ...]) -> str:
    """The hub's INSERT with each ``?`` replaced by its value, quoted as the design does."""
    parts = statements.INSERT_MESSAGE.split("?")
    quoted = (_literal(v) + part for v, part in zip(values, parts[1:], strict=True))
    return parts[0] + "".join(quoted)


def implementation() -> Implementation:
    return Implementation(SplicedSql, __name__)
