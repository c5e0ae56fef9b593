"""A Redis hub's URL naming an ACL user and its password, or a TLS server and its CA."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

import pytest

from agentcomm import BackendUnavailable, Hub, connect
from agentcomm.urls import redact
from agentcomm_conformance.servers import RedisServer, require_openssl
from redis_acl_support import PASSWORDS, hub_url, open_hub, round_trip


@pytest.mark.redis
def test_a_url_naming_an_acl_user_and_its_password_sends_claims_and_completes(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    carol = PASSWORDS["carol"]  # url_for percent-encodes it
    server = start(password=PASSWORDS["admin"], acl_lines=[f"user carol on >{carol} ~* &* +@all"])
    round_trip(open_hub(opened, hub_url(server, "carol", carol), "@carol", create=True))


@pytest.fixture
def tls_server(start: Callable[..., RedisServer]) -> RedisServer:
    require_openssl()
    return start(tls=True)


@pytest.mark.redis
def test_a_rediss_url_trusting_the_servers_ca_sends_claims_and_completes(
    tls_server: RedisServer, opened: list[Hub]
) -> None:
    assert tls_server.ca_file is not None
    ca = urllib.parse.quote(str(tls_server.ca_file))
    round_trip(open_hub(opened, f"{tls_server.url}?ssl_ca_certs={ca}", "@carol", create=True))


@pytest.mark.redis
def test_a_plain_redis_url_to_a_tls_port_is_backend_unavailable_naming_the_url(
    tls_server: RedisServer,
) -> None:
    url = tls_server.url.replace("rediss://", "redis://", 1) + "?reconnect_attempts=1"
    with pytest.raises(BackendUnavailable) as refused:
        connect(url, create=True)
    assert redact(url) in str(refused.value)
