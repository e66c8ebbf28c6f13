"""The engine's ``with`` blocks: the audit trail's outcome however a request ends, and bound log fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.config import parse_config
from orchestrator.errors import QuorumError
from orchestrator.logs import _fields, bound
from orchestrator.registry import Registry
from orchestrator.sovereignty.gatekeeper import Gatekeeper
from orchestrator.types import Request


def gatekeeper(log: Path) -> Gatekeeper:
    toml = f'[members.a]\nprovider = "scripted"\nmodel = "m"\n[policy]\naudit_log = "{log}"\n'
    return Gatekeeper(parse_config(toml, source="test"), Registry())


@pytest.mark.parametrize(
    ("raised", "outcome"),
    [(None, "ok"), (QuorumError("0 of 1 answered"), "QuorumError"), (ValueError("bug"), "error")],
)
def test_the_audit_line_names_how_the_request_ended(
    tmp_path: Path, raised: Exception | None, outcome: str
) -> None:
    log = tmp_path / "audit.jsonl"
    keeper = gatekeeper(log)
    request = Request.of("What is six times seven?")
    clearance = keeper.clear(request)
    try:
        with keeper.audited(request, clearance) as trail:
            trail.extra["seen"] = True
            if raised is not None:
                raise raised
    except Exception as exc:
        assert exc is raised  # the block's exception goes on, unchanged
    assert trail.outcome == outcome
    (line,) = log.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["outcome"] == outcome and json.loads(line)["request_id"] == request.request_id


def test_bound_fields_hold_inside_the_block_only() -> None:
    before = _fields.get()
    with bound(request_id="r1", member="a"):
        assert _fields.get() == {**before, "request_id": "r1", "member": "a"}
        with pytest.raises(RuntimeError), bound(member="b"):
            assert _fields.get()["member"] == "b"
            raise RuntimeError("inner")
        assert _fields.get()["member"] == "a"
    assert _fields.get() == before
