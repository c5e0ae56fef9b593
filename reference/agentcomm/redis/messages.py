"""Messages and their leases in the Redis hub: send and read them, claim (waiting on this
handle's box), extend, the finishing steps (complete, reply, fail, release, each with the
next claim it may make in the same script), and dead letters (list, replay, purge)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from agentcomm import validation as v
from agentcomm.api import Next, PreparedMessage, Then
from agentcomm.errors import NotFound
from agentcomm.models import Claim, Message, Reply, ReplyStatus, Status
from agentcomm.prepared import payloads
from agentcomm.redis import records
from agentcomm.redis.base import _is_message_id, _message_id, stamp
from agentcomm.redis.waiting import Waiting


class Messages(Waiting):
    """The Redis hub's message and lease primitives."""

    # -- messages ------------------------------------------------------------------------------
    def _send(self, sender: str, items: list[PreparedMessage], now: float) -> list[Message]:
        fields: list[object] = [sender, len(items)]
        for m in items:
            fields += [
                m.to,
                m.type,
                m.payload_json,
                int(m.priority),
                m.timeout_seconds,
                m.max_retries,
                m.correlation_id or "",
                "" if m.expires_at is None else stamp(m.expires_at),
            ]
        ids = self._run("send", *fields, now=now)
        sent_at = float(stamp(now))
        return [
            _sent(str(i), sender, m, sent_at, payload)
            for i, m, payload in zip(ids, items, payloads(items), strict=True)
        ]

    def _get(self, message_id: str) -> Message:
        key = self.keys.key("message", id=_message_id(message_id))
        found = self._read(lambda: self.client.hgetall(key))
        if not found:
            raise NotFound(f"unknown message id {message_id!r}")
        return records.message(message_id, found)

    def _get_reply(self, request_id: str) -> Reply | None:
        flat = self._run("get_reply", _message_id(request_id), reads_only=True)
        return records.reply(records.as_dict(flat)) if flat else None

    # -- claiming ------------------------------------------------------------------------------
    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        token = _new_token()
        return self._found(_claims(self._run("claim", agent, token, limit, target, "", 0), token))

    def _claim_waiting(self, agent: str, target: str, limit: int, wait: float) -> list[Claim]:
        """Claim, or register as a waiter and block on this handle's box in the same round
        trip (common.lua claim_or_wait): a send hands a message straight to the box."""
        if not self._blocking:
            return super()._claim_waiting(agent, target, limit, wait)
        deadline = self.clock.now() + wait
        if not self._idle and (claims := self._claim(agent, target, limit)):
            return claims  # busy: a plain look finds work, and needs no box
        while (block := self._block_for(deadline - self.clock.now())) > 0:
            token = _new_token()
            box = self._box(agent)
            found, handed = self._run_blocking(
                block, box, "claim", agent, token, limit, target, box, _ms(block)
            )
            if claims := self._found(_claims(found, token)) + _handed(handed, token):
                return claims
        return self._found(self._claim(agent, target, limit))

    def _extend(self, message_id: str, token: str, seconds: float | None) -> Claim:
        flat = self._run(
            "extend", _message_id(message_id), token, "" if seconds is None else seconds
        )
        return _claim(message_id, records.as_dict(flat), token)

    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        flat = [part for m, t in pairs for part in (_message_id(m), t)]
        _, claimed = self._finish("complete", then, len(pairs), *flat)
        return claimed

    def _reply(
        self,
        sender: str,
        message_id: str,
        token: str,
        payload_json: str,
        status: ReplyStatus,
        then: Then | None,
    ) -> tuple[Reply, Next | None]:
        now = self.clock.now()
        (reply_id, requester, cid), claimed = self._finish(
            "reply",
            then,
            _message_id(message_id),
            token,
            sender,
            payload_json,
            status.value,
            now=now,
        )
        answer = Reply(
            reply_id,
            message_id,
            sender,
            requester,
            v.decode_payload(payload_json),
            status,
            float(stamp(now)),
            cid or None,
        )
        return answer, claimed

    def _fail(
        self, message_id: str, token: str, reason: str, retry: bool, then: Then | None
    ) -> tuple[Message, Next | None]:
        flat, claimed = self._finish(
            "fail", then, _message_id(message_id), token, reason, "1" if retry else "0"
        )
        return records.message(message_id, records.as_dict(flat)), claimed

    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        flat, claimed = self._finish("release", then, _message_id(message_id), token)
        return records.message(message_id, records.as_dict(flat)), claimed

    def _finish(
        self, name: str, then: Then | None, *args: Any, now: float | None = None
    ) -> tuple[Any, Next | None]:
        """Run a finishing function, asking for the next claim when ``then`` says so
        (common.lua THEN_ARGS), and starting the wait for it in the same round trip when
        the caller will wait; its result, and what it claimed next."""
        if then is None:
            result, _ = self._run(name, 0, "", "", "", 0, *args, now=now)
            return result, None
        token = _new_token()
        block = self._block_for(then.wait) if self._blocking and self._idle else 0.0
        if block <= 0:  # no wait, or a busy handle: its next claim is likely there
            result, (target, found) = self._run(
                name, then.limit, then.agent, token, "", 0, *args, now=now
            )
            return result, Next(target, self._found(_claims(found, token)))
        started, box = self.clock.now(), self._box(then.agent)
        (result, (target, found)), handed = self._run_blocking(
            block, box, name, then.limit, then.agent, token, box, _ms(block), *args, now=now
        )
        claims = self._found(_claims(found, token)) + _handed(handed, token)
        return result, Next(target, claims, waited=self.clock.now() - started)

    # -- dead letters --------------------------------------------------------------------------
    def _dead_letters(self, limit: int) -> list[Message]:
        ids = self._run("dead_letters", limit)  # adopts the design's items on the way
        return [m for m in self._messages(ids) if m.status is Status.DEAD]

    def _replay(self, message_id: str) -> Message:
        flat = self._run("replay", _message_id(message_id))
        return records.message(message_id, records.as_dict(flat))

    def _purge_dead(self, message_ids: list[str] | None) -> int:
        if message_ids is None:
            return int(self._run("purge_dead", "1"))
        ours = [m for m in message_ids if _is_message_id(m)]
        return int(self._run("purge_dead", "0", *ours)) if ours else 0

    def _messages(self, ids: Sequence[str]) -> list[Message]:
        def read() -> list[dict[str, str]]:
            pipe = self.client.pipeline(transaction=False)
            for message_id in ids:
                pipe.hgetall(self.keys.key("message", id=message_id))
            return pipe.execute()

        found = self._read(read) if ids else []
        return [records.message(i, h) for i, h in zip(ids, found, strict=True) if h]


def _new_token() -> str:
    return os.urandom(16).hex()  # as secrets.token_hex, without importing secrets


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _handed(item: str | None, token: str) -> list[Claim]:
    """The claims a send handed to a waiter's box (JSON of {id, flat record} pairs),
    leased under the waiter's token; none for the empty item a claim leaves itself."""
    return _claims(json.loads(item), token) if item else []


def _claim(message_id: str, h: dict[str, str], token: str) -> Claim:
    return Claim._unchecked(
        {
            "message": records.message(message_id, h),
            "token": token,
            "lease_expires_at": float(h["lease_expires_at"]),
        }
    )


def _claims(found: list[tuple[str, list[str]]], token: str) -> list[Claim]:
    """The claims of a script's ``{id, flat record}`` list, all under ``token``."""
    return [_claim(message_id, records.as_dict(flat), token) for message_id, flat in found]


def _sent(
    message_id: str, sender: str, m: PreparedMessage, sent_at: float, payload: Any
) -> Message:
    expires_at = None if m.expires_at is None else float(stamp(m.expires_at))
    return m.sent(message_id, sender, sent_at, sent_at, expires_at, payload)
