"""Config mistakes are errors: an unknown key in any section names the key and, when one is close,
the right one; nothing is silently ignored (``api_key`` on an openai_compat member used to be)."""

from __future__ import annotations

import pytest

from orchestrator.config import parse_config
from orchestrator.errors import ConfigError

A = '[members.a]\nprovider = "scripted"\nmodel = "m"\n'


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        (
            '[members.a]\nprovider = "openai_compat"\nmodel = "m"\napi_base = "http://127.0.0.1:9/v1"\n'
            'api_key = "sk-not-read"\n',
            "members.a.api_key",
            "api_key_env",
        ),
        (
            '[members.a]\nprovider = "litellm"\nmodel = "openai/gpt-4o-mini"\napi_bse = "x"\n',
            "members.a.api_bse",
            "api_base",
        ),
        (
            '[members.a]\nprovider = "openai_compat"\nmodel = "m"\napi_base = "http://127.0.0.1:9/v1"\n'
            'options = { prompt_styl = "chat" }\n',
            "members.a.prompt_styl",
            "prompt_style",
        ),
        (
            '[members.a]\nprovider = "local"\nmodel = "smollm2-135m"\nn_ctxx = 2048\n',
            "members.a.n_ctxx",
            "n_ctx",
        ),
        ('[members.a]\nprovider = "shoal"\nmodel = "vote"\nconfg = "x.toml"\n', "members.a.confg", "config"),
        (A + "answer = ['42']\n", "members.a.answer", "answers"),
        (A + "jurisdicton = 'JP'\n", "members.a.jurisdicton", "jurisdiction"),
        (A + "rules = [{ when = 'x', answr = 'y' }]\n", "members.a.rules.0.answr", "answer"),
        (A + "[sever]\nport = 1\n", "sever", "server"),
        (A + "[defaults]\nstrategi = 'vote'\n", "defaults.strategi", "strategy"),
        (A + "[router]\nclassifer = 'rules'\n", "router.classifer", "classifier"),
        (A + "[server]\napi_key = ['k']\n", "server.api_key", "api_keys"),
        (A + "[breaker]\ncooldown = 3\n", "breaker.cooldown", "cooldown_s"),
        (A + "[policy]\ndetecter = true\n", "policy.detecter", "detector"),
        (A + "[policy]\nlabel = ['public']\n", "policy.label", "labels"),
        (
            A + "[policy.confidential]\nallow = ['locality:local']\nmin_member = 1\n",
            "policy.confidential.min_member",
            "min_members",
        ),
        (
            A + "[[policy.rules]]\nmatch = 'x'\nsensitivity = 'confidential'\nnmae = 'r'\n",
            "policy.rules.0.nmae",
            "name",
        ),
        (A + "[teams.t]\nmembers = ['a']\nfallback = ['a']\n", "teams.t.fallback", "fallbacks"),
        (A + "[routes]\ncode = { strategy = 'vote', teem = 'x' }\n", "routes.code.teem", "team"),
        (A + "[strategies.s]\nkind = 'vote'\nmin_answer = 2\n", "strategies.s.min_answer", "min_answers"),
        (A + "[strategies.s]\nkind = 'judge'\njudge = ['a']\n", "strategies.s.judge", "judges"),
    ],
)
def test_an_unknown_key_is_an_error_naming_it_and_the_close_one(text: str, key: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="shoal.toml")
    message = str(info.value)
    assert message.startswith(f"shoal.toml: {key}: unknown key {key.rsplit('.', 1)[-1]!r}")
    assert f"did you mean {suggestion!r}?" in message
    assert "\n" not in message


def test_an_unknown_key_with_nothing_close_lists_what_is_expected() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(A + "[breaker]\nzzz = 1\n", source="shoal.toml")
    assert "did you mean" not in str(info.value)
    assert "(expected one of: cooldown_s, failures)" in str(info.value)


def test_labels_in_the_policy_are_normalised_and_a_duplicate_level_is_named() -> None:
    config = parse_config(
        A
        + "[policy]\ndetected = ' Confidential '\nlabels = ['Public']\n"
        + "[policy.CONFIDENTIAL]\nallow = ['locality:local']\n",
        source="shoal.toml",
    )
    assert config.policy.detected == "confidential" and config.policy.labels == ["public"]
    assert list(config.policy.levels) == ["confidential"]
    with pytest.raises(ConfigError, match="names the sensitivity 'confidential' twice"):
        parse_config(
            A + "[policy.Confidential]\nallow = ['locality:local']\n[policy.confidential]\nallow = ['*']\n",
            source="shoal.toml",
        )
