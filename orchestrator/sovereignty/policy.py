"""Sensitivity policy: which members may see which requests.

A request's sensitivity comes from the caller (``tags.sensitivity``), from config rules
that match its text, and from the built-in :mod:`~orchestrator.sovereignty.detector`, which marks a
request holding secrets or personal data ``confidential``. A policy names, per
sensitivity, the member tags allowed to see it; a member qualifies when any of its tags
matches an entry (a sensitivity without a policy is open to all)::

    [policy]
    detector = true                   # mark requests holding secrets as `detected`
    detected = "confidential"
    audit_log = "shoal-audit.jsonl"   # one JSON line per request (never its content)

    [policy.confidential]
    allow = ["locality:local", "locality:on_prem", "jurisdiction:JP"]

    [[policy.rules]]
    name = "falcon"
    match = "(?i)project falcon"
    sensitivity = "confidential"

:meth:`Policy.clear` decides a request's sensitivity (a :class:`Clearance`);
:meth:`Clearance.admit` turns a team into the members that may see it, with fallbacks
taking excluded members' seats, or raises :class:`~orchestrator.errors.PolicyError`
naming which rule removed whom before anything is sent. The panel checks every call
against the same clearance (:meth:`Clearance.check`), so a judge or an aggregator
outside the policy is refused too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.errors import PolicyError
from orchestrator.logs import get_logger
from orchestrator.sovereignty.detector import Finding, detect
from orchestrator.types import Member, Request

__all__ = [
    "Admission",
    "Clearance",
    "Policy",
    "PolicyConfig",
    "SensitivityPolicy",
    "SensitivityRule",
    "write_audit",
]

log = get_logger("shoal.audit")

TAG_KEYS = ("vendor", "jurisdiction", "locality", "retains_data", "provider", "member")
_LOCALITIES = ("local", "on_prem", "cloud")


def _check_entry(entry: str) -> str:
    if entry == "*":
        return entry
    key, sep, value = entry.partition(":")
    if not sep or not value:
        raise ValueError(f"{entry!r} is not KEY:VALUE; write e.g. 'locality:local' or 'jurisdiction:JP'")
    if key not in TAG_KEYS:
        raise ValueError(f"unknown tag {key!r} in {entry!r} (expected one of: {', '.join(TAG_KEYS)})")
    if key == "locality" and value not in _LOCALITIES:
        raise ValueError(f"locality must be one of {', '.join(_LOCALITIES)}, not {value!r}")
    if key == "retains_data" and value not in ("true", "false"):
        raise ValueError(f"retains_data must be true or false, not {value!r}")
    return f"jurisdiction:{value.upper()}" if key == "jurisdiction" else entry


class SensitivityPolicy(BaseModel):
    """``[policy.NAME]``: who may see requests of sensitivity NAME."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] = Field(min_length=1)
    min_members: int = Field(default=1, ge=1)
    description: str = ""

    @field_validator("allow")
    @classmethod
    def _entries(cls, value: list[str]) -> list[str]:
        return [_check_entry(entry) for entry in value]


class SensitivityRule(BaseModel):
    """``[[policy.rules]]``: requests whose text matches ``match`` get ``sensitivity``."""

    model_config = ConfigDict(extra="forbid")

    match: str
    sensitivity: str = Field(min_length=1)
    name: str | None = None

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return value


class PolicyConfig(BaseModel):
    """The ``[policy]`` table: settings, rules, and one ``[policy.NAME]`` table per sensitivity."""

    model_config = ConfigDict(extra="forbid")

    detector: bool = True
    detected: str = Field(default="confidential", min_length=1)
    default: str | None = None
    audit_log: Path | None = None
    rules: list[SensitivityRule] = Field(default_factory=list)
    levels: dict[str, SensitivityPolicy] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _collect_levels(cls, data: Any) -> Any:
        """Tables under ``[policy]`` other than the settings are sensitivities."""
        if not isinstance(data, dict):
            return data
        settings = {k: v for k, v in data.items() if k in cls.model_fields or not isinstance(v, dict)}
        levels = {k: v for k, v in data.items() if k not in cls.model_fields and isinstance(v, dict)}
        if levels:
            settings["levels"] = {**dict(data.get("levels") or {}), **levels}
        return settings


def _tags_of(member: Member) -> set[str]:
    tags = {
        f"locality:{member.locality}",
        f"retains_data:{'true' if member.retains_data else 'false'}",
        f"provider:{member.provider}",
        f"member:{member.name}",
        "*",
    }
    if member.sample_of:  # a sample seat is its member to the policy: a rule naming the member covers it
        tags.add(f"member:{member.sample_of}")
    if member.vendor:
        tags.add(f"vendor:{member.vendor}")
    if member.jurisdiction:
        tags.add(f"jurisdiction:{member.jurisdiction}")
    return tags


def describe_member(member: Member) -> str:
    parts = [f"vendor {member.vendor}" if member.vendor else "", f"locality {member.locality}"]
    if member.jurisdiction:
        parts.append(f"jurisdiction {member.jurisdiction}")
    return ", ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Located:
    """A detector finding in message ``message`` of the request."""

    message: int
    finding: Finding

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {"message": self.message, "kind": f.kind, "start": f.start, "end": f.end}


class Policy:
    """Decides sensitivities and who may see them; one per orchestrator, immutable."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self._rules = [(rule, re.compile(rule.match)) for rule in self.config.rules]

    def clear(self, request: Request) -> Clearance:
        """The sensitivities of ``request`` and why; reads the text, keeps only kinds and spans."""
        levels: dict[str, list[str]] = {}
        for level in (request.tags.sensitivity or "").split(","):  # "a,b": both apply
            if level.strip():
                levels.setdefault(level.strip(), []).append("caller")
        texts = [m.text() for m in request.messages]
        for i, (rule, pattern) in enumerate(self._rules):
            if any(pattern.search(text) for text in texts):
                levels.setdefault(rule.sensitivity, []).append(f"rule:{rule.name or i}")
        found: list[Located] = []
        if self.config.detector:
            found = [Located(i, f) for i, text in enumerate(texts) for f in detect(text)]
            if found:
                kinds = sorted({located.finding.kind for located in found})
                levels.setdefault(self.config.detected, []).append(f"detector:{','.join(kinds)}")
        if not levels and self.config.default:
            levels[self.config.default] = ["default"]
        return Clearance(self, {k: tuple(v) for k, v in levels.items()}, tuple(found))

    def rule_for(self, level: str) -> SensitivityPolicy | None:
        return self.config.levels.get(level)

    def allowed(self, member: Member, levels: Iterable[str]) -> str | None:
        """``None`` if ``member`` may see requests of every level, else the rule that refuses it."""
        tags = _tags_of(member)
        for level in levels:
            rule = self.rule_for(level)
            if rule is not None and not tags.intersection(rule.allow):
                return f"policy.{level} (allow: {', '.join(rule.allow)})"
        return None


@dataclass
class Admission:
    """The members a request may use: the team (fallbacks in excluded seats) and spare fallbacks."""

    members: list[Member]
    spares: list[Member]
    excluded: dict[str, str] = field(default_factory=dict)


@dataclass
class Clearance:
    """A request's sensitivities, the reasons for each, and what the detector found."""

    policy: Policy
    levels: dict[str, tuple[str, ...]]
    findings: tuple[Located, ...] = ()
    excluded: dict[str, str] = field(default_factory=dict)

    @property
    def sensitivity(self) -> list[str]:
        return sorted(self.levels)

    @property
    def restricted(self) -> bool:
        return any(self.policy.rule_for(level) is not None for level in self.levels)

    def refusal(self, member: Member) -> str | None:
        return self.policy.allowed(member, self.levels)

    def check(self, members: Sequence[Member]) -> None:
        """Raise :class:`PolicyError` before any call if one of ``members`` may not see this request."""
        for member in members:
            why = self.refusal(member)
            if why is not None:
                self.excluded.setdefault(member.name, why)
                raise PolicyError(
                    f"member {member.name!r} ({describe_member(member)}) may not see a "
                    f"{'+'.join(self.sensitivity)} request: {why}; nothing was sent to it"
                )

    def admit(
        self,
        team: Sequence[Member],
        fallbacks: Sequence[Member] = (),
        *,
        needed: int = 1,
        named: dict[str, Member] | None = None,
        what: str = "team",
    ) -> Admission:
        """Drop the members this request may not reach; fallbacks take their seats.

        ``named`` are members a strategy names in its options (judge, aggregator, ...):
        any of them being excluded fails the request, since the strategy cannot run
        without it. Raises :class:`PolicyError` naming each rule and whom it removed.
        """
        for role, member in (named or {}).items():
            why = self.refusal(member)
            if why is not None:
                self.excluded[member.name] = why
                raise PolicyError(
                    f"{role} {member.name!r} ({describe_member(member)}) may not see a "
                    f"{'+'.join(self.sensitivity)} request: {why}; choose another {role.rsplit('.', 1)[-1]} "
                    "or change the policy; nothing was sent"
                )
        kept = [m for m in team if self._keep(m)]
        seats = len(team) - len(kept)
        spares = [m for m in fallbacks if m.name not in {k.name for k in kept} and self._keep(m)]
        members = kept + spares[:seats]
        spares = spares[seats:]
        minimum = max([needed] + [r.min_members for lv in self.levels if (r := self.policy.rule_for(lv))])
        if len(members) < minimum:
            removed = "; ".join(
                f"{why} removed {', '.join(names)}" for why, names in _by_rule(self.excluded).items()
            )
            raise PolicyError(
                f"{len(members)} member{'s' if len(members) != 1 else ''} of {what} left for a "
                f"{'+'.join(self.sensitivity)} request, {minimum} needed: {removed or 'no member is allowed'}"
                "; add allowed members or fallbacks to the team, or change the policy; nothing was sent"
            )
        return Admission(members=members, spares=spares, excluded=dict(self.excluded))

    def _keep(self, member: Member) -> bool:
        why = self.refusal(member)
        if why is not None:
            self.excluded[member.name] = why
        return why is None


def _by_rule(excluded: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, why in excluded.items():
        grouped.setdefault(why, []).append(name)
    return grouped


def audit_record(
    request: Request,
    clearance: Clearance,
    *,
    seen_by: Sequence[str],
    strategy: str | None,
    team: str | None,
    outcome: Literal["ok"] | str,
) -> dict[str, Any]:
    """What the audit log keeps of one request: never its content."""
    return {
        "ts": round(time.time(), 3),
        "request_id": request.request_id,
        "sensitivity": clearance.sensitivity,
        "reasons": {level: list(why) for level, why in sorted(clearance.levels.items())},
        "findings": [f.as_dict() for f in clearance.findings],
        "strategy": strategy,
        "team": team,
        "seen_by": sorted(set(seen_by)),
        "excluded": dict(sorted(clearance.excluded.items())),
        "outcome": outcome,
    }


def write_audit(record: dict[str, Any], path: Path | None) -> None:
    """One ``request_audit`` log event, and one JSON line appended to ``path`` when set."""
    log.info(
        "request_audit",
        request_id=record["request_id"],
        sensitivity=",".join(record["sensitivity"]) or "-",
        seen_by=",".join(record["seen_by"]),
        outcome=record["outcome"],
    )
    if path is not None:
        path = path.expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
