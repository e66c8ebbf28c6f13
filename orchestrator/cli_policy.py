"""``shoal route``, ``shoal detect`` and ``shoal members status``: see how Shoal will treat a request.

Registered on the main ``shoal`` app by :mod:`orchestrator.cli`; heavy imports stay
inside the commands.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli_common import ConfigOption, _fail, _guarded, _load

if TYPE_CHECKING:
    from orchestrator.engine import Orchestrator

__all__ = ["register"]

members_app = typer.Typer(help="The panel's members: tags, policy and health.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("route")(route)
    app.command("detect")(detect)
    app.add_typer(members_app, name="members")


def route(
    text: Annotated[str | None, typer.Argument(help="The request to classify.")] = None,
    config: ConfigOption = None,
    classifier: Annotated[
        str | None, typer.Option("--classifier", help="rules or embeddings (default: the config's).")
    ] = None,
    sensitivity: Annotated[
        str | None, typer.Option("--sensitivity", help="As the caller would set it.")
    ] = None,
    evaluate: Annotated[
        bool, typer.Option("--eval", help="Score the classifier on a labelled set instead (see --data).")
    ] = False,
    data: Annotated[
        Path | None, typer.Option("--data", help="JSONL of {text, category} (default: Shoal's own eval set).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the category, the scores, and the route (strategy, team, members) a request gets."""
    cfg = _guarded(_load, config)
    if classifier is not None:
        cfg.router.classifier = classifier
    from orchestrator.engine import Orchestrator

    orch = _guarded(Orchestrator, cfg)
    if evaluate:
        _print(_guarded(_route_accuracy, orch, data), as_json)
        return
    if not text or not text.strip():
        _fail('nothing to route; pass a request, e.g. shoal route "What is 6 x 7?"', 2)
    _print(_guarded(_route_one, orch, text, sensitivity), as_json)


def _route_one(orch: Orchestrator, text: str, sensitivity: str | None) -> dict[str, Any]:
    from orchestrator.types import Request, Tags

    request = Request.of(text, tags=Tags(sensitivity=sensitivity))
    chosen = orch.route(request)
    clearance = orch.gatekeeper.clear(request)
    admission = orch.gatekeeper.admit(clearance, chosen)
    return {
        "classifier": getattr(orch.router.classifier, "name", orch.config.router.classifier),
        "category": chosen.category,
        "scores": {k: round(v, 4) for k, v in sorted(chosen.scores.items(), key=lambda kv: -kv[1])},
        "reason": chosen.reason,
        "strategy": chosen.strategy,
        "team": chosen.team,
        "sensitivity": clearance.sensitivity,
        "sensitivity_reasons": {k: list(v) for k, v in clearance.levels.items()},
        "findings": [f.as_dict() for f in clearance.findings],
        "members": [m.name for m in admission.members],
        "fallbacks": [m.name for m in admission.spares],
        "excluded": admission.excluded,
    }


def _route_accuracy(orch: Orchestrator, data: Path | None) -> dict[str, Any]:
    from orchestrator.embed_router import load_labelled

    rows = load_labelled(data, name="router_eval.jsonl")
    classifier = orch.router.classifier
    right: dict[str, list[int]] = {}
    for row in rows:
        hit = int(classifier.classify(row["text"]).category == row["category"])
        for key in ("all", f"lang:{row.get('lang', '?')}", f"category:{row['category']}"):
            right.setdefault(key, []).append(hit)
    return {
        "classifier": getattr(classifier, "name", orch.config.router.classifier),
        "data": str(data) if data else "built-in router_eval.jsonl",
        "accuracy": {k: round(sum(v) / len(v), 4) for k, v in right.items()},
        "n": {k: len(v) for k, v in right.items()},
    }


def detect(
    text: Annotated[str | None, typer.Argument(help="Text to scan (findings only, never values).")] = None,
    evaluate: Annotated[
        bool, typer.Option("--eval", help="Precision and recall on a labelled set instead (see --data).")
    ] = False,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="JSONL of {text, kinds} (default: Shoal's own two labelled sets)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Find secrets and personal data the way the policy's detector does."""
    from orchestrator.sovereignty.detector import detect as find

    if evaluate:
        _print(_guarded(_detector_scores, data), as_json)
        return
    if text is None:
        _fail('nothing to scan; pass a text, e.g. shoal detect "mail me at a@b.jp"', 2)
    findings = [{"kind": f.kind, "start": f.start, "end": f.end} for f in find(text)]
    _print({"confidential": bool(findings), "findings": findings}, as_json)


def _detector_scores(paths: list[Path] | None) -> dict[str, Any]:
    from importlib import resources

    from orchestrator.sovereignty.detector import evaluate

    if paths:
        sources = {str(p): p.read_text(encoding="utf-8") for p in paths}
    else:
        root = resources.files("orchestrator").joinpath("data")
        sources = {
            name: root.joinpath(f"{name}.jsonl").read_text(encoding="utf-8")
            for name in ("detector_labelled", "detector_heldout")
        }
    out: dict[str, Any] = {}
    for name, text in sources.items():
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        scores = evaluate(rows)
        out[name] = {
            kind: {
                "precision": round(s.precision, 4),
                "recall": round(s.recall, 4),
                "tp": s.true_pos,
                "fp": s.false_pos,
                "fn": s.false_neg,
                "tn": s.true_neg,
            }
            for kind, s in scores.items()
        }
    return out


@members_app.command("status")
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
    cfg = _guarded(_load, config)
    from orchestrator.engine import Orchestrator
    from orchestrator.sovereignty.health import member_status

    orch = Orchestrator(cfg)
    probes: dict[str, Any] = {}
    if probe:
        from orchestrator.cli import _ensure_local_models

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
        table.add_column(column, no_wrap=column == "member", overflow="fold")
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
    Console().print(table)


_STATES = {0: "closed", 1: "half_open", 2: "open"}


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
    found: dict[str, dict[str, Any]] = {}
    for line in response.text.splitlines():
        metric, _, rest = line.partition('{member="')
        if metric not in fields or '"} ' not in rest:
            continue
        name, _, value = rest.partition('"} ')
        number = int(float(value))
        found.setdefault(name, {})[fields[metric]] = (
            _STATES.get(number) if metric.endswith("state") else number
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


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            typer.echo(f"{key}:")
            for inner, scores in value.items():
                typer.echo(f"  {inner}: {json.dumps(scores, ensure_ascii=False)}")
        else:
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
            typer.echo(f"{key}: {shown}")
