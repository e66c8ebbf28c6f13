"""``shoal detect``: find secrets and personal data the way the policy's detector does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator.cli.common import _fail, _guarded, _print

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("detect")(detect)


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
