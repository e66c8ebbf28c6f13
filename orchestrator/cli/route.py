"""``shoal route``: the category, scores and route (strategy, team, members) a request gets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator.cli.common import ConfigOption, _fail, _guarded, _load, _print

if TYPE_CHECKING:
    from orchestrator.engine import Orchestrator

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("route")(route)


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
