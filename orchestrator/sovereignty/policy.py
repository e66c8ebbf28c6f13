"""Sensitivity policy: which members may see which requests.

A request's sensitivity comes from the caller (``tags.sensitivity``, normalised; a label
the config does not name is an error), from config rules that match its text, and from
the built-in :mod:`~orchestrator.sovereignty.detector`, which marks a request holding
secrets or personal data ``confidential``. Rules and detector read every field the
request forwards (:func:`forwarded_texts`), not only the messages' text. A policy names, per
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

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestrator.errors import PolicyError, UnknownSensitivityError
from orchestrator.logs import get_logger
from orchestrator.sovereignty.detector import Finding, detect
from orchestrator.types import Member, Request

__all__ = [
    "NOT_FORWARDED",
    "Admission",
    "Clearance",
    "Forwarded",
    "Policy",
    "PolicyConfig",
    "SensitivityPolicy",
    "SensitivityRule",
    "audit_wanted",
    "forwarded_texts",
    "normalise_label",
    "write_audit",
]

log = get_logger("shoal.audit")

TAG_KEYS = ("vendor", "jurisdiction", "locality", "retains_data", "provider", "member")
_LOCALITIES = ("local", "on_prem", "cloud")


def normalise_label(label: str) -> str:
    """A sensitivity label as compared: case-folded, whitespace trimmed and collapsed."""
    return " ".join(label.split()).casefold()


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

    @field_validator("sensitivity")
    @classmethod
    def _label(cls, value: str) -> str:
        return _label_of(value)

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
    labels: list[str] = Field(default_factory=list)  # labels open to all that callers may still send
    rules: list[SensitivityRule] = Field(default_factory=list)
    levels: dict[str, SensitivityPolicy] = Field(default_factory=dict)

    @field_validator("detected", "default")
    @classmethod
    def _one_label(cls, value: str | None) -> str | None:
        return None if value is None else _label_of(value)

    @field_validator("labels")
    @classmethod
    def _declared(cls, value: list[str]) -> list[str]:
        return [_label_of(label) for label in value]

    @field_validator("levels")
    @classmethod
    def _level_names(cls, value: dict[str, SensitivityPolicy]) -> dict[str, SensitivityPolicy]:
        levels: dict[str, SensitivityPolicy] = {}
        for name, rule in value.items():
            label = _label_of(name)
            if label in levels:
                raise ValueError(f"[policy.{name}] names the sensitivity {label!r} twice; keep one table")
            levels[label] = rule
        return levels

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


def _label_of(value: str) -> str:
    label = normalise_label(value)
    if not label or "," in label:
        raise ValueError(f"{value!r} is not a sensitivity label (a non-empty name without commas)")
    return label


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
    """A detector finding in one forwarded field: ``field`` is its path (``messages[0].content``,
    ``params.tools[0].function.description``), ``message`` the message's index if it is in one."""

    message: int | None
    finding: Finding
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        f = self.finding
        return {"message": self.message, "field": self.field, "kind": f.kind, "start": f.start, "end": f.end}


# Fields of a Request that never leave Shoal; every other field is read by the policy.
NOT_FORWARDED = frozenset({"tags", "request_id"})


@dataclass(frozen=True, slots=True)
class Forwarded:
    """One piece of text a request sends to its members: where it is, and the text."""

    path: str
    text: str
    message: int | None = None


def forwarded_texts(request: Request) -> Iterator[Forwarded]:
    """Every string a member can receive from ``request``, with its path.

    This is where the policy sees each field: every message field that is kept (see
    :class:`~orchestrator.types.Message`: content, name, tool calls' ids, names and
    arguments, tool_call_id), every param at any depth (``tools[].function`` names,
    descriptions and parameter schemas, ``tool_choice``, ``stop``, ``response_format`` and
    its schema, ``logit_bias``, whatever a library caller passes), and numbers as their
    digits. Inside params a value is read with its key (``password: ...``), so a secret
    held by a key that names it is seen as an assignment, and a key is read on its own
    when its value is a table or a list. Fields are found from the model, so a field
    added to :class:`~orchestrator.types.Request` is read here too unless
    :data:`NOT_FORWARDED` names it.
    """
    for name in _fields_of(type(request)):
        if name in NOT_FORWARDED:
            continue
        value = getattr(request, name)
        if name == "messages":
            for i, message in enumerate(value):
                for key in _fields_of(type(message)):
                    # a message's keys are the fixed names of Message's fields (and its role one of
                    # five words): only the values are read, as ``model_dump(exclude_none=True)``
                    # gives them (a tool call or a content part as its own fields)
                    field_value = getattr(message, key)
                    if key == "role" or field_value is None:
                        continue
                    if type(field_value) is str:  # what _leaves makes of a string, without its walk
                        yield Forwarded(f"messages[{i}].{key}", field_value, i)
                    else:
                        yield from _leaves(f"messages[{i}].{key}", _plain(field_value), i, keys=False)
        else:
            yield from _leaves(name, _plain(value), None, keys=True)


_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _fields_of(cls: type[BaseModel]) -> tuple[str, ...]:
    """A model's field names, in order (read from the class once: they do not change)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(cls.model_fields)
    return names


def _leaves(path: str, value: Any, message: int | None, *, keys: bool) -> Iterator[Forwarded]:
    if isinstance(value, dict):
        for key, item in value.items():
            if keys and _scalar(item):
                yield Forwarded(f"{path}.{key}", f"{key}: {item}", message)
                continue
            if keys:
                yield Forwarded(f"{path}{{{key}}}", str(key), message)
            yield from _leaves(f"{path}.{key}", item, message, keys=keys)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            yield from _leaves(f"{path}[{i}]", item, message, keys=keys)
    elif isinstance(value, BaseModel):
        yield from _leaves(path, value.model_dump(exclude_none=True), message, keys=keys)
    elif _scalar(value):
        yield Forwarded(path, str(value), message)  # numbers and anything else go upstream as text


def _scalar(value: Any) -> bool:
    return value is not None and not isinstance(
        value, bool | dict | list | tuple | set | frozenset | BaseModel
    )


_SHORTEST_FINDING = 6  # "a@b.jp": no kind the detector finds is shorter


def _findings(texts: Iterable[Forwarded]) -> list[Located]:
    """What the detector finds in each text (a text seen twice, such as a repeated schema, once)."""
    found: list[Located] = []
    seen: dict[str, list[Finding]] = {}
    for piece in texts:
        if len(piece.text) < _SHORTEST_FINDING:
            continue
        if piece.text not in seen:
            seen[piece.text] = detect(piece.text)
        found.extend(Located(piece.message, f, piece.path) for f in seen[piece.text])
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


class Policy:
    """Decides sensitivities and who may see them; one per orchestrator, immutable."""

    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = config or PolicyConfig()
        self._rules = [(rule, re.compile(rule.match)) for rule in self.config.rules]
        config = self.config
        named = {*config.levels, *(r.sensitivity for r in config.rules), config.detected, *config.labels}
        self._known = sorted(named | ({config.default} if config.default else set()))

    @property
    def known_labels(self) -> list[str]:
        """Every sensitivity this policy names: its levels, rules, detected, default and labels."""
        return self._known

    def labels(self, text: str | None, *, where: str = "sensitivity") -> list[str]:
        """The labels of ``text`` (``"a, b"``: both), normalised; an unknown one fails closed.

        Case and whitespace do not matter (``" Confidential "`` is ``confidential``); a label
        no policy, rule or ``[policy] labels`` names raises
        :class:`~orchestrator.errors.UnknownSensitivityError` rather than being open to all.
        """
        found: list[str] = []
        known = self.known_labels
        for raw in (text or "").split(","):
            label = normalise_label(raw)
            if not label:
                continue
            if label not in known:
                raise UnknownSensitivityError(label, known, where=where)
            if label not in found:
                found.append(label)
        return found

    def clear(self, request: Request) -> Clearance:
        """The sensitivities of ``request`` and why; reads every forwarded text, keeps kinds and spans.

        Raises :class:`~orchestrator.errors.UnknownSensitivityError` for a label the policy
        does not know, before anything is sent.
        """
        levels: dict[str, list[str]] = {}
        for level in self.labels(request.tags.sensitivity, where="tags.sensitivity"):
            levels.setdefault(level, []).append("caller")
        texts = list(forwarded_texts(request))
        for i, (rule, pattern) in enumerate(self._rules):
            if any(pattern.search(piece.text) for piece in texts):
                levels.setdefault(rule.sensitivity, []).append(f"rule:{rule.name or i}")
        found: list[Located] = []
        if self.config.detector:
            found = _findings(texts)
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
        rules = self.config.levels
        tags: set[str] | None = None  # only a level with a policy needs the member's tags
        for level in levels:
            rule = rules.get(level)
            if rule is None:
                continue
            if tags is None:
                tags = _tags_of(member)
            if not tags.intersection(rule.allow):
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


def audit_wanted(path: Path | None) -> bool:
    """Whether a request's audit record goes anywhere: the audit file, or an enabled info event."""
    return path is not None or log.enabled("info")


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
            import json  # an audit file is configured

            out.write(json.dumps(record, ensure_ascii=False) + "\n")
