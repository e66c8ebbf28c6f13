"""``shoal members status``: each member's tags, the sensitivities it may see, and its breaker."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.common import ConfigOption, _fail, _guarded, _load
from orchestrator.cli.models import _ensure_local_models

if TYPE_CHECKING:
    from orchestrator.engine import Orchestrator

__all__ = ["register"]

members_app = typer.Typer(help="The panel's members: tags, policy and health.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    members_app.command("status")(members_status)
    app.add_typer(members_app, name="members")


def members_status(
    config: ConfigOption = None,
    probe: Annotated[bool, typer.Option("--probe", help="Send each member one tiny call first.")] = False,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running `shoal serve` (e.g. http://127.0.0.1:8000): its breakers."),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", envvar="SHOAL_API_KEY", help="Key for --url's /metrics.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Each member's tags, the sensitivities it may see, and its circuit breaker (here or a server's)."""
    if url and config is None:
        if probe:
            _fail("--probe calls members from here: pass --config too, or drop --probe", 2)
        _served_roster(url, api_key, as_json)
        return
    cfg = _guarded(_load, config)
    from orchestrator.engine import Orchestrator
    from orchestrator.sovereignty.health import member_status

    orch = Orchestrator(cfg)
    probes: dict[str, Any] = {}
    if probe:
        _guarded(_ensure_local_models, cfg, quiet=as_json)
        probes = _guarded(asyncio.run, _probe_all(orch))
    rows = member_status(orch)
    served = _guarded(_served_health, url, api_key) if url else {}
    for row in rows:
        if row["member"] in probes:
            row["probe"] = probes[row["member"]]
        row.update(served.get(row["member"], {}))
    if as_json:
        typer.echo(json.dumps({"members": rows}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ["member", "model", "tags", "may see", "breaker", *(["probe"] if probe else [])]:
        table.add_column(column)
    for row in rows:
        tags = [
            row["vendor"],
            row["jurisdiction"],
            row["locality"],
            "retains data" if row["retains_data"] else "",
        ]
        cells = [
            row["member"],
            f"{row['provider']}:{row['model']}",
            " ".join(t for t in tags if t),
            ", ".join(row["may_see"]) or "-",
            f"{row['state']} {row['failures']}/{row['calls']} failed",
        ]
        if probe:
            cells.append(row.get("probe", "-"))
        table.add_row(*cells)
    from orchestrator.cli.tables import fitted

    console = Console()
    console.print(fitted(console, table))


_STATES = {0: "closed", 1: "half_open", 2: "open"}


def _served_roster(url: str, api_key: str | None, as_json: bool) -> None:
    """The server's own members (from its /metrics), not the local config's."""
    served = _guarded(_served_health, url, api_key)
    if not served:
        _fail(f"{url}/metrics lists no members; is it a `shoal serve`?", 2)
    rows = [
        {
            "member": name,
            "state": health.get("state", "?"),
            "calls": health.get("calls", 0),
            "failures": health.get("failures", 0),
            "refused": health.get("refused", 0),
        }
        for name, health in served.items()
    ]
    if as_json:
        typer.echo(json.dumps({"url": url, "members": rows}, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    from orchestrator.cli.tables import fitted

    table = Table(title=f"members of {url}", title_justify="left")
    for column in ("member", "breaker", "calls", "failed", "refused"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["member"], row["state"], *(str(row[k]) for k in ("calls", "failures", "refused")))
    console = Console()
    console.print(fitted(console, table))


def _served_health(url: str, api_key: str | None) -> dict[str, dict[str, Any]]:
    """The members' breakers as a running server's ``/metrics`` shows them."""
    import httpx

    from orchestrator.errors import UsageError

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(url.rstrip("/").removesuffix("/v1") + "/metrics", headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot read {url}/metrics ({exc}); is `shoal serve` running there?") from None
    if response.status_code == 401:
        raise UsageError(f"{url}/metrics wants an API key: pass --api-key or set SHOAL_API_KEY")
    if response.status_code != 200:
        raise UsageError(f"{url}/metrics answered {response.status_code}; is it a `shoal serve`?")
    fields = {
        "shoal_member_breaker_state": "state",
        "shoal_member_calls_total": "calls",
        "shoal_member_failures_total": "failures",
        "shoal_member_refused_total": "refused",
    }
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            name = sample.labels.get("member")
            if sample.name not in fields or name is None:
                continue
            number = int(float(sample.value))
            found.setdefault(name, {})[fields[sample.name]] = (
                _STATES.get(number) if sample.name.endswith("state") else number
            )
    return found


async def _probe_all(orch: Orchestrator) -> dict[str, str]:
    from orchestrator.sovereignty.health import probe

    try:
        candidates = await probe(orch, list(orch.config.members.values()))
    finally:
        await orch.aclose()
    return {
        c.member: f"ok {c.latency_s:.2f} s" if c.ok else f"{c.error.type if c.error else 'failed'}"
        for c in candidates
    }
