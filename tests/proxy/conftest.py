"""Fixtures: a ``shoal serve`` of scripted members (and one fake upstream) shared by a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import scripted_toml
from tests.proxy.servers import FakeUpstream, Served, running, start_serve

PANEL = {
    "alice": {"answers": ["42"]},
    "bob": {"answers": ["42"]},
    "carol": {"answers": ["41"]},
    "talker": {"answers": ["The answer is forty two"]},
    "slowpoke": {"answers": ["late"], "latency_s": 30.0},
    "sleepy": {"answers": ["42"], "latency_s": 0.6},
    "broken": {"fail": "server_error", "max_retries": 0},
    "jammed": {"fail": "rate_limit", "retry_after_s": 7.0, "max_retries": 0},
}

SERVED_EXTRA = """
[members.relay]
provider = "openai_compat"
model = "upstream-model"
api_base = "{upstream}"
max_retries = 0
params = {{ temperature = 0.3 }}

[members.relay2]
provider = "openai_compat"
model = "upstream-model"
api_base = "{upstream}"
max_retries = 0

[teams.panel]
members = ["alice", "bob", "carol"]

[teams.relays]
members = ["relay", "relay2"]

[teams.down]
members = ["broken", "jammed"]

[teams.slow]
members = ["alice", "sleepy"]

[teams.stuck]
members = ["alice", "slowpoke"]

[strategies.vote]
kind = "vote"
team = "panel"

[strategies.down]
kind = "vote"
team = "down"

[strategies.patient]
kind = "vote"
team = "slow"

[strategies.stuck]
kind = "vote"
team = "stuck"

[strategies.relays]
kind = "vote"
team = "relays"

[strategies.fused]
kind = "fusion"
team = "panel"
aggregator = "talker"

[defaults]
strategy = "vote"
team = "panel"
max_retries = 0

[server]
heartbeat_s = 0.2
shutdown_grace_s = 2
"""


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with running(fake.app()) as port:
        fake.port = port
        yield fake


@pytest.fixture
def fresh_upstream(upstream: FakeUpstream) -> FakeUpstream:
    upstream.reset()
    return upstream


def write_panel(path: Path, upstream: FakeUpstream, server: str = "") -> Path:
    extra = SERVED_EXTRA.format(upstream=upstream.base_url)
    if server:
        extra = extra.replace("[server]\n", "[server]\n" + server)
    path.write_text(scripted_toml({k: dict(v) for k, v in PANEL.items()}, extra), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream) -> Iterator[Served]:
    """``shoal serve`` over the scripted panel, no auth, on a free loopback port."""
    workdir = tmp_path_factory.mktemp("serve")
    server = start_serve(write_panel(workdir / "shoal.toml", upstream), workdir)
    yield server
    server.stop()
