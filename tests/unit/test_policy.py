"""Sensitivity policy: config, clearance, admission with fallbacks, and the guarantee under every strategy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator
from orchestrator.errors import ConfigError, PolicyError, QuorumError, ShoalError
from orchestrator.registry import Registry
from orchestrator.sovereignty.policy import Policy, PolicyConfig
from orchestrator.types import Member, Request, Tags
from tests.helpers import Counted, scripted_config, scripted_toml

API_KEY_QUESTION = "Why does sk-proj-bYrEqmSM9wCZ7Uw9xfogoEmvnEN5N1aE6PwZPf1Qh6yY fail? What is 6 x 7?"

MEMBERS: dict[str, dict[str, Any]] = {
    "gpt": {"answers": ["42"], "vendor": "openai", "jurisdiction": "US", "locality": "cloud"},
    "local-a": {"answers": ["42"], "locality": "local"},
    "local-b": {"answers": ["42"], "locality": "local"},
    "spare": {"answers": ["42"], "locality": "on_prem"},
}

POLICY = """
[teams.main]
members = ["gpt", "local-a", "local-b"]
fallbacks = ["spare"]

[defaults]
team = "main"

[policy.confidential]
allow = ["locality:local", "locality:on_prem", "jurisdiction:JP"]
"""


def test_policy_tables_parse_with_settings_rules_and_levels() -> None:
    config = scripted_config(
        {"a": {"locality": "local"}},
        """
        [policy]
        detected = "secret"
        default = "internal"

        [[policy.rules]]
        match = "(?i)falcon"
        sensitivity = "secret"

        [policy.secret]
        allow = ["locality:local", "jurisdiction:jp"]
        min_members = 1
        """,
    )
    policy = config.policy
    assert policy.detected == "secret" and policy.default == "internal"
    assert policy.levels["secret"].allow == ["locality:local", "jurisdiction:JP"]
    assert policy.rules[0].sensitivity == "secret"


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        (
            '[policy.confidential]\nallow = ["country:JP"]',
            "policy.confidential.allow",
            "unknown tag 'country'",
        ),
        ('[policy.confidential]\nallow = ["locality:moon"]', "policy.confidential.allow", "locality must be"),
        ('[policy.confidential]\nallow = ["local"]', "policy.confidential.allow", "KEY:VALUE"),
        ("[policy.confidential]\nallow = []", "policy.confidential.allow", "at least 1"),
        ('[policy.confidential]\nallow = ["member:nobody"]', "policy.confidential.allow", "names no member"),
        ('[policy.confidential]\nalow = ["locality:local"]', "policy.confidential.alow", "unknown key"),
        (
            '[[policy.rules]]\nmatch = "(unclosed"\nsensitivity = "x"',
            "policy.rules.0.match",
            "regular expression",
        ),
        ("[policy]\ndetector = 3", "policy.detector", "boolean"),
    ],
)
def test_policy_mistakes_name_the_key(table: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(scripted_toml({"a": {}}, table), source="p.toml")
    assert f"p.toml: {key}:" in str(info.value)
    assert words in str(info.value)


def member(name: str, **tags: Any) -> Member:
    return Member(name=name, provider="scripted", model="m", **tags)


def test_clearance_collects_caller_rules_detector_and_default() -> None:
    policy = Policy(
        PolicyConfig.model_validate(
            {
                "default": "internal",
                "labels": ["restricted"],
                "rules": [{"name": "falcon", "match": "(?i)falcon", "sensitivity": "secret"}],
            }
        )
    )
    plain = policy.clear(Request.of("hello"))
    assert plain.levels == {"internal": ("default",)}
    told = policy.clear(
        Request.of("Project Falcon, mail ken@example.jp", tags=Tags(sensitivity="restricted"))
    )
    assert told.levels == {
        "restricted": ("caller",),
        "secret": ("rule:falcon",),
        "confidential": ("detector:email",),
    }
    assert [f.as_dict() for f in told.findings] == [
        {"message": 0, "field": "messages[0].content", "kind": "email", "start": 21, "end": 35}
    ]
    quiet = Policy(PolicyConfig(detector=False)).clear(Request.of("mail ken@example.jp"))
    assert quiet.levels == {}


def test_a_system_message_is_scanned_too() -> None:
    request = Request.of(
        [{"role": "system", "content": "db password: Hn7kd92xq"}, {"role": "user", "content": "hi"}]
    )
    clearance = Policy().clear(request)
    assert clearance.sensitivity == ["confidential"]
    assert clearance.findings[0].message == 0


def test_admit_seats_fallbacks_and_names_the_rule_that_removed_whom() -> None:
    policy = Policy(PolicyConfig.model_validate({"confidential": {"allow": ["locality:local"]}}))
    clearance = policy.clear(Request.of("q", tags=Tags(sensitivity="confidential")))
    team = [member("gpt"), member("a", locality="local"), member("b", locality="local")]
    admitted = clearance.admit(team, [member("cloud-spare"), member("c", locality="local")])
    assert [m.name for m in admitted.members] == ["a", "b", "c"]
    assert admitted.excluded == {
        "gpt": "policy.confidential (allow: locality:local)",
        "cloud-spare": "policy.confidential (allow: locality:local)",
    }
    with pytest.raises(PolicyError) as info:
        policy.clear(Request.of("q", tags=Tags(sensitivity="confidential"))).admit(team, needed=3)
    message = str(info.value)
    assert "2 members of team left for a confidential request, 3 needed" in message
    assert "policy.confidential (allow: locality:local) removed gpt" in message
    assert "nothing was sent" in message


def test_a_declared_sensitivity_without_a_policy_is_open_to_all() -> None:
    clearance = Policy(PolicyConfig(labels=["whatever"])).clear(
        Request.of("q", tags=Tags(sensitivity="whatever"))
    )
    assert [m.name for m in clearance.admit([member("gpt"), member("x")]).members] == ["gpt", "x"]


def test_confidential_request_uses_only_allowed_members_and_fallback_keeps_size() -> None:
    counted = Counted()
    verdict = counted.orchestrator(MEMBERS, POLICY).run_sync(
        "What is six times seven?", tags={"sensitivity": "confidential"}
    )
    assert verdict.answer == "42"
    assert sorted(c.member for c in verdict.candidates) == ["local-a", "local-b", "spare"]
    assert verdict.sensitivity == ["confidential"]
    assert counted.calls == {"local-a": 1, "local-b": 1, "spare": 1}


def test_an_api_key_makes_a_request_confidential_unasked() -> None:
    counted = Counted()
    verdict = counted.orchestrator(MEMBERS, POLICY).run_sync(API_KEY_QUESTION)
    assert verdict.sensitivity == ["confidential"]
    assert "gpt" not in {c.member for c in verdict.candidates}
    assert counted.calls == {"local-a": 1, "local-b": 1, "spare": 1}


def test_too_few_members_fails_before_anything_is_sent() -> None:
    extra = (
        POLICY.replace('fallbacks = ["spare"]', "") + "\n[strategies.vote]\nkind = 'vote'\nmin_answers = 3\n"
    )
    counted = Counted()
    orch = counted.orchestrator(MEMBERS, extra)
    assert orch.run_sync("q").answer == "42"  # open to all when not confidential
    with pytest.raises(PolicyError) as info:
        orch.run_sync("q", tags={"sensitivity": "confidential"})
    assert "2 members of team 'main' left for a confidential request, 3 needed" in str(info.value)
    assert "removed gpt" in str(info.value)
    assert sum(counted.calls.values()) == 3  # the first request's only


def test_a_strategy_naming_an_excluded_member_fails_before_anything_is_sent() -> None:
    extra = POLICY + '\n[strategies.pinned]\nkind = "single"\nmember = "gpt"\n'
    counted = Counted()
    orch = counted.orchestrator(MEMBERS, extra)
    with pytest.raises(PolicyError) as info:
        orch.run_sync("q", strategy="pinned", tags={"sensitivity": "confidential"})
    assert "strategies.pinned.member 'gpt'" in str(info.value)
    assert "nothing was sent" in str(info.value)
    assert sum(counted.calls.values()) == 0
    assert orch.run_sync("q", strategy="pinned").candidates[0].member == "gpt"
    assert counted.calls == {"gpt": 1}


async def test_the_panel_refuses_an_excluded_member_named_at_run_time() -> None:
    """A strategy that picks a member the engine could not see in its options is stopped at the panel."""

    class Sneaky:
        name = "sneaky"

        def __init__(self, name: str = "sneaky", options: dict[str, Any] | None = None) -> None:
            pass

        async def run(self, request: Request, ctx: Any) -> Any:
            outsider = Member(name="gpt", provider="scripted", model="m", locality="cloud")
            await ctx.panel.call(outsider, request.wire_messages())

    counted = Counted()
    counted.registry.register("strategy", "sneaky", Sneaky)
    async with counted.orchestrator(MEMBERS, POLICY) as orch:
        with pytest.raises(PolicyError, match=r"member 'gpt' .* may not see a confidential request"):
            await orch.run("q", strategy="sneaky", tags={"sensitivity": "confidential"})
    assert counted.calls == {}


def test_audit_log_has_one_line_per_request_without_content(tmp_path: Path) -> None:
    log = tmp_path / "audit" / "shoal.jsonl"
    extra = POLICY + f'\n[policy]\naudit_log = "{log}"\n'
    orch = Orchestrator(scripted_config(MEMBERS, extra))
    orch.run_sync("What is six times seven?")
    orch.run_sync(API_KEY_QUESTION)
    with pytest.raises(PolicyError):
        Orchestrator(
            scripted_config(
                MEMBERS,
                extra.replace('fallbacks = ["spare"]', "")
                + "[strategies.vote]\nkind = 'vote'\nmin_answers = 3\n",
            )
        ).run_sync("q", tags={"sensitivity": "confidential"})
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first["sensitivity"] == [] and first["seen_by"] == ["gpt", "local-a", "local-b"]
    assert first["outcome"] == "ok"
    assert second["sensitivity"] == ["confidential"]
    assert second["reasons"] == {"confidential": ["detector:api_key"]}
    start = API_KEY_QUESTION.index("sk-")
    end = API_KEY_QUESTION.index(" fail")
    assert second["findings"] == [
        {"message": 0, "field": "messages[0].content", "kind": "api_key", "start": start, "end": end}
    ]
    assert second["seen_by"] == ["local-a", "local-b", "spare"]
    assert second["excluded"] == {
        "gpt": "policy.confidential (allow: locality:local, locality:on_prem, jurisdiction:JP)"
    }
    assert third["outcome"] == "PolicyError" and third["seen_by"] == []
    assert "sk-proj" not in log.read_text(encoding="utf-8")
    assert "six times" not in log.read_text(encoding="utf-8")


# -- the guarantee, over many generated requests, policies and strategies ------------------

LOCALITIES = ["local", "on_prem", "cloud"]
JURISDICTIONS = ["US", "JP", "DE", None]
VENDORS = ["openai", "anthropic", "google", "acme"]
ENTRIES = [
    "locality:local",
    "locality:on_prem",
    "locality:cloud",
    "jurisdiction:JP",
    "jurisdiction:DE",
    "vendor:acme",
    "vendor:openai",
    "retains_data:false",
]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(3, 6))
    members = {
        f"m{i}": {
            "answers": [draw(st.sampled_from(["42", "41"]))],  # disagreement: judges get asked
            "locality": draw(st.sampled_from(LOCALITIES)),
            "vendor": draw(st.sampled_from(VENDORS)),
            "retains_data": draw(st.booleans()),
            **({"jurisdiction": j} if (j := draw(st.sampled_from(JURISDICTIONS))) else {}),
        }
        for i in range(n)
    }
    team_size = draw(st.integers(1, n))
    levels = {
        level: draw(st.lists(st.sampled_from(ENTRIES), min_size=1, max_size=3, unique=True))
        for level in ("confidential", "secret")
        if draw(st.booleans())
    }
    sensitivity = draw(st.sampled_from([None, "confidential", "secret", "public"]))
    with_key = draw(st.booleans())
    seen = {sensitivity} - {None} | ({"confidential"} if with_key else set())
    allowed = [name for name, m in members.items() if _oracle(m, name, levels, seen)]
    # Half the time the named judge/aggregator/chairman is one the policy allows, so restricted
    # requests also run to the end through every role, not only fail at the door.
    pick_allowed = allowed and draw(st.booleans())
    return {
        "members": members,
        "team": list(members)[:team_size],
        "fallbacks": list(members)[team_size:],
        "levels": levels,
        "sensitivity": sensitivity,
        "with_key": with_key,
        "strategy": draw(st.sampled_from(sorted(Registry().names("strategy")))),
        "named": draw(st.sampled_from(allowed if pick_allowed else list(members))),
        "min_answers": draw(st.integers(1, 2)),
    }


# Per strategy kind, the options that make it call members by name (judges, aggregators, chairmen)
# or run other strategies; {named} is a member drawn at random.
KIND_OPTIONS = {
    "single": 'member = "{named}"',
    "vote": "",
    "judge": 'judges = ["{named}"]',
    "fusion": 'aggregator = "{named}"\nlayers = 2',
    "debate": "rounds = 1",
    "council": 'chairman = "{named}"',
    "cascade": 'first = "inner"\nthen = "inner_judge"\nescalate_below = 1.0',
    "treesearch": 'budget = 2\nbatch = 2\nseed = 1\nverifier = "agreement"',
}
INNER = (
    '[strategies.inner]\nkind = "vote"\nteam = "t"\n'
    '[strategies.inner_judge]\nkind = "judge"\nteam = "t"\njudges = ["{named}"]\n'
)


def _strategy_table(kind: str, named: str, min_answers: int) -> str:
    assert kind in KIND_OPTIONS, f"add the options of the new strategy kind {kind!r} to KIND_OPTIONS"
    lines = [f'[strategies.s]\nkind = "{kind}"\nteam = "t"', KIND_OPTIONS[kind].format(named=named)]
    lines.append(f"min_answers = {min_answers}")
    return "\n".join(lines) + "\n" + INNER.format(named=named)


def _oracle(member: dict[str, Any], name: str, levels: dict[str, list[str]], seen: set[str]) -> bool:
    """Independent of orchestrator.sovereignty.policy: may this member see a request of these levels?"""
    tags = {
        f"locality:{member['locality']}",
        f"vendor:{member['vendor']}",
        f"retains_data:{str(member['retains_data']).lower()}",
        f"member:{name}",
    }
    if member.get("jurisdiction"):
        tags.add(f"jurisdiction:{member['jurisdiction']}")
    return all(tags & set(levels[level]) for level in seen if level in levels)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_a_request_never_reaches_a_member_outside_its_policy(case: dict[str, Any]) -> None:
    policy = '[policy]\nlabels = ["secret", "public"]\n' + "".join(
        f"[policy.{level}]\nallow = {json.dumps(entries)}\n" for level, entries in case["levels"].items()
    )
    extra = (
        f"[teams.t]\nmembers = {json.dumps(case['team'])}\nfallbacks = {json.dumps(case['fallbacks'])}\n"
        + _strategy_table(case["strategy"], case["named"], case["min_answers"])
        + policy
    )
    counted = Counted()
    orch = counted.orchestrator({k: dict(v) for k, v in case["members"].items()}, extra)
    question = API_KEY_QUESTION if case["with_key"] else "What is six times seven?"
    expected_levels = {case["sensitivity"]} - {None} | ({"confidential"} if case["with_key"] else set())
    try:
        verdict = orch.run_sync(question, strategy="s", tags={"sensitivity": case["sensitivity"]})
    except PolicyError:
        event("refused by the policy")
        assert sum(counted.calls.values()) == 0, "a policy refusal must come before any call"
        return
    except (QuorumError, ShoalError) as exc:
        event(f"failed: {type(exc).__name__}")
        verdict = None
    calls = counted.calls
    for name, n in calls.items():
        if n:
            assert _oracle(case["members"][name], name, case["levels"], expected_levels), (name, case)
    if verdict is not None:
        event(f"{case['strategy']} answered, restricted: {bool(set(case['levels']) & expected_levels)}")
        for role in sorted({c.role for c in verdict.candidates}):
            event(f"role called: {role}")
        assert set(verdict.sensitivity) == expected_levels
        assert {c.member for c in verdict.candidates if c.attempts} <= {n for n, k in calls.items() if k}


def test_a_nested_orchestrator_gets_the_sensitivity_and_applies_its_own_policy(tmp_path: Path) -> None:
    audit = tmp_path / "inner-audit.jsonl"
    inner = tmp_path / "inner.toml"
    inner.write_text(
        scripted_toml(
            {
                "far": {"answers": ["42"], "locality": "cloud"},
                "near": {"answers": ["42"], "locality": "local"},
            },
            f'[policy]\naudit_log = "{audit}"\n[policy.confidential]\nallow = ["locality:local"]\n',
        ),
        encoding="utf-8",
    )
    outer = scripted_config(
        {"here": {"answers": ["42"], "locality": "local"}},
        f'[members.nested]\nprovider = "shoal"\nmodel = "vote"\nlocality = "on_prem"\nconfig = "{inner}"\n'
        '[policy.confidential]\nallow = ["locality:local", "locality:on_prem"]\n',
    )
    verdict = Orchestrator(outer).run_sync("q", tags={"sensitivity": "confidential"})
    assert sorted(c.member for c in verdict.candidates) == ["here", "nested"] and verdict.answer == "42"
    (record,) = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert record["sensitivity"] == ["confidential"] and record["reasons"] == {"confidential": ["caller"]}
    assert record["seen_by"] == ["near"] and "far" in record["excluded"]


def test_the_caller_may_name_several_sensitivities() -> None:
    policy = Policy(PolicyConfig(labels=["export"]))
    clearance = policy.clear(Request.of("q", tags=Tags(sensitivity="confidential, export")))
    assert clearance.levels == {"confidential": ("caller",), "export": ("caller",)}
