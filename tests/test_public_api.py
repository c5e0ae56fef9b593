"""The package's public names and ``connect()`` (SPEC ERR-003)."""

from __future__ import annotations

import types
from importlib import metadata
from pathlib import Path

import pytest

import agentcomm
import agentcomm_conformance
from agentcomm import (
    AgentCommError,
    BackendUnavailable,
    ConfigurationError,
    Hub,
    HubSettings,
    InvalidInput,
    ManualClock,
    connect,
)
from agentcomm.urls import redact
from cli_runner import invoke

PUBLIC = {
    "DEFAULT_QUEUE",
    "AgentCommError",
    "AgentInfo",
    "AlreadyFinished",
    "BackendUnavailable",
    "Claim",
    "Clock",
    "ConfigurationError",
    "Conflict",
    "CorruptStore",
    "DeadlineExceeded",
    "Event",
    "Hub",
    "HubSettings",
    "InvalidInput",
    "ManualClock",
    "Message",
    "NotFound",
    "Outgoing",
    "Priority",
    "Reply",
    "ReplyStatus",
    "StaleLease",
    "Stats",
    "Status",
    "SystemClock",
    "__version__",
    "connect",
}
HIDDEN = "s3cr3t-pw"  # the password in the URLs below


def test_all_lists_exactly_the_public_names() -> None:
    assert len(agentcomm.__all__) == len(set(agentcomm.__all__))
    assert set(agentcomm.__all__) == PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(agentcomm, name) is not None


def test_nothing_public_is_left_out_of_all() -> None:
    public = {
        n
        for n, v in vars(agentcomm).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType)
    }
    assert public <= set(agentcomm.__all__)


def test_the_version_is_a_version_string() -> None:
    assert agentcomm.__version__.count(".") == 2


def test_the_metadata_the_command_and_the_suite_give_the_one_version() -> None:
    # pyproject.toml reads agentcomm.__version__ (setuptools' `attr`); a mismatch here means
    # a second place crept back in, or this environment's install is stale.
    assert metadata.version("agentcomm") == agentcomm.__version__
    assert agentcomm_conformance.__version__ == agentcomm.__version__
    printed = invoke(["--version"])
    assert printed.output == f"agentcomm, version {agentcomm.__version__}\n"


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("hub.db", "did you mean 'sqlite:///hub.db'"),
        ("", "no scheme"),
        ("ftp://host/hub.db", "'ftp'"),
        ("mysql://localhost/db", "'mysql'"),
        ("sqlite:///hub.db?bogus=1", "'bogus'"),
        ("sqlite:///hub.db?backoff_base=abc", "backoff_base='abc'"),
        ("sqlite:///hub.db?max_payload_bytes=1.5", "max_payload_bytes='1.5'"),
        ("sqlite:///hub.db?backoff_base=-1", "backoff_base='-1'"),
        ("sqlite:///hub.db?backoff_base=nan", "backoff_base='nan'"),
        ("sqlite:///hub.db?backoff_base=1&backoff_base=2", "repeats"),
        ("sqlite://host/hub.db", "names a host"),
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        pytest.param("sqlite://[oops/hub.db", "URL"),
    ],
)
def test_a_bad_url_raises_configuration_error_naming_the_fault(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, named: str
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as caught:
        connect(url, create=True)
    assert named in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_url_that_is_not_a_string_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        connect(None)  # type: ignore[arg-type]


def test_an_unknown_option_error_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="backoff_base"):
        connect(f"sqlite:///{tmp_path / 'hub.db'}?colour=blue", create=True)


def test_another_backends_option_is_refused_naming_the_backends_it_is_for(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"'prefix' is for .*redis.* not sqlite://"):
        connect(f"sqlite:///{tmp_path / 'hub.db'}?prefix=x", create=True)
    with pytest.raises(ConfigurationError, match="'audit' is for hybrid URLs, not redis://"):
        connect("redis://127.0.0.1:1/0?audit=/tmp/a.db")


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{HIDDEN}@localhost:1/0",
        f"redis://user:{HIDDEN}@localhost:1/0?prefix=x",
        f"rediss://user:{HIDDEN}@localhost:1/0?backoff_base=x",
        f"redis://user:{HIDDEN}@localhost:1/0?backoff_base=1&backoff_base=1",
        f"mysql://user:{HIDDEN}@localhost/db",
        f"sqlite://user:{HIDDEN}@host/hub.db",
        f"redis://:{HIDDEN}@[::1/0",
    ],
)
def test_a_password_in_a_url_never_appears_in_an_error_message(url: str) -> None:
    with pytest.raises(AgentCommError) as caught:
        connect(url, create=True)
    assert HIDDEN not in str(caught.value)
    assert HIDDEN not in repr(caught.value.__cause__ or "")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:pw@host/0?prefix=a", "redis://:***@host/0?prefix=a"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("sqlite:///hub.db", "sqlite:///hub.db"),
    ],
)
def test_redact_hides_only_the_password(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_settings_come_from_the_url_query(hub_url: str, clock: ManualClock) -> None:
    with connect(
        f"{hub_url}&max_payload_bytes=100&default_max_retries=5&heartbeat_ttl=7",
        agent="@a",
        create=True,
        clock=clock,
    ) as hub:
        assert (
            hub.settings.max_payload_bytes,
            hub.settings.default_max_retries,
            hub.settings.heartbeat_ttl,
        ) == (100, 5, 7)
        assert hub.send("@b", "w", {}).max_retries == 5
        assert hub.register().heartbeat_ttl == 7
        with pytest.raises(InvalidInput, match="limit 100 bytes"):
            hub.send("@b", "w", "x" * 100)


def test_the_default_settings_are_the_documented_ones() -> None:
    assert HubSettings() == HubSettings(
        max_payload_bytes=1024 * 1024,
        default_timeout=300,
        default_max_retries=3,
        backoff_base=1,
        backoff_max=300,
        heartbeat_ttl=60,
        retain_finished=86_400,
        retain_events=604_800,
        poll_interval=0.001,
        busy_timeout=10,
    )


def test_connect_opens_a_hub_as_an_agent_or_without_identity(
    hub_url: str, clock: ManualClock
) -> None:
    with (
        connect(hub_url, agent="@me", create=True, clock=clock) as mine,
        connect(hub_url, clock=clock) as anonymous,
    ):
        assert isinstance(mine, Hub) and isinstance(anonymous, Hub)
        assert (mine.agent_id, anonymous.agent_id) == ("@me", None)
        sent = mine.send("@you", "w", {})
        assert anonymous.get(sent.id) == sent
    with pytest.raises(BackendUnavailable):
        mine.stats()
