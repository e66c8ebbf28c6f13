import pytest

from orchestrator.config import load_config, parse_config
from orchestrator.errors import ConfigError
from tests.helpers import scripted_toml


def parse(text: str):
    return parse_config(text, source="shoal.toml")


def test_members_get_their_table_name_and_provider_keys_become_options() -> None:
    cfg = parse(scripted_toml({"a": {"answers": ["1"], "latency_s": 0.5, "weight": 2.0}}))
    member = cfg.members["a"]
    assert member.name == "a"
    assert member.weight == 2.0
    assert member.options == {"answers": ["1"], "latency_s": 0.5}


def test_builtin_default_is_an_offline_local_panel_of_three(tmp_cwd) -> None:
    cfg = load_config()
    assert cfg.source == "<built-in default>"
    local = cfg.team_members("local")
    assert len(local) >= 3
    assert {m.provider for m in local} == {"local"}
    assert {m.locality for m in local} == {"local"}
    assert len({m.model for m in local}) == 2  # two model families
    assert cfg.defaults.strategy == "vote"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (scripted_toml({"a": {"weight": 0}}), "members.a.weight: Input should be greater than 0"),
        (scripted_toml({"a": {"answerz": ["1"]}}), "members.a.answerz: unknown key 'answerz'"),
        (scripted_toml({"a": {"fail": "explode"}}), "members.a.fail"),
        ('[members.a]\nprovider = "nope"\nmodel = "x"\n', "members.a.provider: unknown provider 'nope'"),
        ('[members.a]\nprovider = "scripted"\n', "members.a.model: required key is missing"),
        (
            scripted_toml({"a": {}}, "[teams.t]\nmembers = ['a', 'b']\n"),
            "teams.t.members: unknown member 'b'",
        ),
        (
            scripted_toml({"a": {}}, "[strategies.s]\nkind = 'poll'\n"),
            "strategies.s.kind: unknown strategy 'poll'",
        ),
        (
            scripted_toml({"a": {}}, "[strategies.s]\nkind = 'vote'\nteam = 'x'\n"),
            "strategies.s.team: unknown team",
        ),
        (scripted_toml({"a": {}}, "[strategies.s]\nkind = 'vote'\nquorum = 2\n"), "unknown key 'quorum'"),
        (scripted_toml({"a": {}}, "[routes]\ncode = 'nope'\n"), "routes.code: unknown strategy 'nope'"),
        (scripted_toml({"a": {}}, "[defaults]\ntimeout_s = -1\n"), "defaults.timeout_s"),
        (scripted_toml({"a": {}}, "[defaults]\nstrategi = 'vote'\n"), "defaults.strategi: unknown key"),
        ("[members]\n", "members: no members: define at least one [members.NAME] table"),
        ("members = 3 = 4", "invalid TOML"),
    ],
)
def test_each_mistake_is_one_line_naming_file_and_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert message.startswith("shoal.toml: ")
    assert fragment.replace("List", "Dictionary") in message or fragment in message
    assert "\n" not in message


def test_a_member_defined_twice_is_named() -> None:
    text = scripted_toml({"a": {}}) + '\n[members.a]\nprovider = "scripted"\nmodel = "m"\n'
    with pytest.raises(ConfigError, match="defined twice"):
        parse(text)


def test_env_overrides_defaults_and_a_bad_value_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("SHOAL_TIMEOUT_S", "7.5")
    assert parse(scripted_toml({"a": {}})).defaults.timeout_s == 7.5
    monkeypatch.setenv("SHOAL_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="SHOAL_TIMEOUT_S"):
        parse(scripted_toml({"a": {}}))


def test_missing_file_names_the_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml: file not found"):
        load_config(tmp_path / "nowhere.toml")


def test_config_in_env_and_cwd_are_found(tmp_cwd, monkeypatch) -> None:
    (tmp_cwd / "shoal.toml").write_text(scripted_toml({"cwd": {}}))
    assert list(load_config().members) == ["cwd"]
    other = tmp_cwd / "other.toml"
    other.write_text(scripted_toml({"env": {}}))
    monkeypatch.setenv("SHOAL_CONFIG", str(other))
    assert list(load_config().members) == ["env"]


def test_route_shorthand_and_implicit_strategy_kinds() -> None:
    cfg = parse(scripted_toml({"a": {}}, "[routes]\ndefault = 'single'\n"))
    assert cfg.routes["default"].strategy == "single"
