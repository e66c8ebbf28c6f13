"""Configuration: a TOML file plus ``SHOAL_*`` environment variables, validated with pydantic.

A file looks like::

    [members.alice]
    provider = "litellm"
    model = "openai/gpt-4o-mini"

    [teams.cloud]
    members = ["alice", "bob", "carol"]

    [strategies.vote]
    kind = "vote"
    team = "cloud"

    [routes]
    default = "vote"
    code = { strategy = "vote", team = "cloud" }

    [defaults]
    strategy = "vote"

    [server]                 # for ``shoal serve``
    api_keys = ["sk-..."]    # or SHOAL_API_KEYS="k1,k2"; none: loopback only

Keys of a member that are not :class:`~orchestrator.types.Member` fields are
the provider's own (``answers`` for ``scripted``) and are checked against the
provider's ``Options`` model; keys of a strategy other than ``kind``/``team``
are checked against the strategy's ``Options``. Every mistake becomes one
:class:`~orchestrator.errors.ConfigError` line naming the file, the key and
what was expected.
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from orchestrator.errors import ConfigError, UnknownNameError
from orchestrator.registry import Registry
from orchestrator.router import RouteEntry
from orchestrator.sovereignty.breaker import BreakerConfig
from orchestrator.sovereignty.policy import PolicyConfig
from orchestrator.state.settings import CacheConfig, StateConfig
from orchestrator.telemetry import TelemetryConfig
from orchestrator.tuning import LEARNED, check_weights, resolve_includes
from orchestrator.types import Member

if TYPE_CHECKING:
    import tomllib

__all__ = [
    "DEFAULT_TEAM",
    "Defaults",
    "RouterConfig",
    "ServerConfig",
    "ShoalConfig",
    "StrategyConfig",
    "TeamConfig",
    "config_choice",
    "load_config",
    "strategy_options_error",
    "unknown_key",
]

DEFAULT_TEAM = "all"
ENV_PREFIX = "SHOAL_"


class TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: list[str] = Field(min_length=1)
    fallbacks: list[str] = Field(default_factory=list)
    daily_max_calls: int | None = Field(default=None, ge=1)  # reserved per call, across instances
    daily_max_cost_usd: float | None = Field(default=None, ge=0)
    description: str = ""


class StrategyConfig(BaseModel):
    """``kind`` picks the strategy class; every other key is one of its options."""

    model_config = ConfigDict(extra="allow")

    kind: str
    team: str | None = None
    description: str = ""

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: str = "vote"
    team: str | None = None
    timeout_s: float = Field(default=120.0, gt=0)
    deadline_s: float | None = Field(default=600.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    max_concurrency: int = Field(default=8, ge=1)
    log_level: Literal["debug", "info", "warning", "error"] = "warning"
    cache_dir: Path | None = None
    offline: bool = False
    call_cache: Literal["off", "record", "replay"] = "off"
    call_cache_path: Path | None = None


class RouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    classifier: str = "rules"


class ServerConfig(BaseModel):
    """``shoal serve``: who may call it and how much it takes on."""

    model_config = ConfigDict(extra="forbid")

    api_keys: list[SecretStr] = Field(default_factory=list)
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)  # request line + headers: 431 past it
    header_timeout_s: float = Field(default=10.0, gt=0)  # the whole head within: else 408
    body_timeout_s: float = Field(default=30.0, gt=0)  # the whole body within: else 408
    max_concurrent_requests: int = Field(default=256, ge=1)
    heartbeat_s: float = Field(default=5.0, gt=0)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    key_daily_max_cost_usd: float | None = Field(default=None, ge=0)  # per API key per UTC day
    key_daily_max_calls: int | None = Field(default=None, ge=1)
    key_budgets_path: Path | None = None  # default: CACHE_DIR/key_budgets.sqlite
    key_requests_per_minute: int | None = Field(default=None, ge=1)  # per API key, across instances
    # model names clients send (Claude Code sends its own) -> served model ids; "*" catches the rest
    model_aliases: dict[str, str] = Field(default_factory=dict)


class ShoalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    members: dict[str, Member] = Field(min_length=1)
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    strategies: dict[str, StrategyConfig] = Field(default_factory=dict)
    routes: dict[str, RouteEntry] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    router: RouterConfig = Field(default_factory=RouterConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    weights: dict[str, dict[str, float]] = Field(default_factory=dict)
    """Learned member weights per router category (``default`` for the rest); see orchestrator.tuning."""
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)  # traces, off by default
    state: StateConfig = Field(default_factory=StateConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    source: str = Field(default="<built-in default>", exclude=True)

    def cache_dir(self) -> Path:
        if self.defaults.cache_dir is not None:
            return self.defaults.cache_dir.expanduser()
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "shoal"

    def team_members(self, team: str) -> list[Member]:
        """The team's voters: its members, a member with ``samples = k`` as its k seats."""
        if team == DEFAULT_TEAM and team not in self.teams:
            return [seat for member in self.members.values() for seat in member.seats()]
        if team not in self.teams:
            raise UnknownNameError("team", team, [*self.teams, DEFAULT_TEAM])
        return [seat for name in self.teams[team].members for seat in self.members[name].seats()]

    def team_of(self, strategy: StrategyConfig | None) -> str:
        if strategy is not None and strategy.team:
            return strategy.team
        if self.defaults.team:
            return self.defaults.team
        if len(self.teams) == 1:
            return next(iter(self.teams))
        return DEFAULT_TEAM

    def strategy_config(self, name: str, registry: Registry, *, team: str | None = None) -> StrategyConfig:
        """The named strategy section, or an implicit one when ``name`` is a strategy kind.

        An implicit section takes its kind's defaults (``Options.defaults_for``) from the
        team it runs on (``team``, else the default team) and the whole roster: ``-s judge``
        gets judges from outside the answering team, ``-s fusion`` the strongest aggregator.
        """
        if name in self.strategies:
            return self.strategies[name]
        if name in registry.names("strategy"):
            options_model = getattr(registry.strategy(name), "Options", None)
            defaults_for = getattr(options_model, "defaults_for", None)
            if defaults_for is None:
                return StrategyConfig(kind=name)
            members = self.team_members(team or self.team_of(None))
            return StrategyConfig(kind=name, **defaults_for(members, list(self.members.values())))
        raise UnknownNameError("strategy", name, [*self.strategies, *registry.names("strategy")])


def strategy_options_error(name: str, kind: str, exc: ValidationError) -> ConfigError:
    """A strategy's options that do not validate, as one line naming what to configure."""
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "options"
    if first["type"] == "missing":
        message = f"option {key!r} is required; set it under [strategies.{name}] (kind = {kind!r})"
    else:
        message = f"option {key!r}: {first['msg']}"
    return ConfigError(message, source=f"strategy {name!r}")


def config_choice(path: str | Path | None = None) -> tuple[str | None, str]:
    """Which file :func:`load_config` reads (``None``: the built-in panel), and why."""
    if path:
        return str(path), "--config"
    if os.environ.get(ENV_PREFIX + "CONFIG"):
        return os.environ[ENV_PREFIX + "CONFIG"], "$SHOAL_CONFIG"
    if Path("shoal.toml").is_file():
        return "shoal.toml", f"./shoal.toml in {Path.cwd()}"
    return None, "no --config, no $SHOAL_CONFIG, no ./shoal.toml"


def load_config(path: str | Path | None = None, *, registry: Registry | None = None) -> ShoalConfig:
    """Read ``path`` (or ``SHOAL_CONFIG``, or ``./shoal.toml``, or the built-in offline panel)."""
    registry = registry or Registry()
    chosen, _ = config_choice(path)
    if chosen is None:
        from importlib import resources

        text = resources.files("orchestrator").joinpath("default.toml").read_text(encoding="utf-8")
        source = "<built-in default>"
    else:
        source = str(chosen)
        try:
            text = Path(chosen).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("file not found; pass an existing --config file", source=source) from None
        except OSError as exc:
            raise ConfigError(f"cannot read file ({exc.strerror})", source=source) from exc
    return parse_config(text, source=source, registry=registry)


def parse_config(text: str, *, source: str, registry: Registry | None = None) -> ShoalConfig:
    import tomllib  # on the first config read, not at import

    registry = registry or Registry()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_message(exc), source=source) from None
    raw, weight_origins = resolve_includes(raw, source)
    raw = _apply_env(raw)
    raw["members"] = _members_with_names(raw.get("members"), source)
    routes = raw.get("routes")
    if isinstance(routes, dict):
        raw["routes"] = {k: {"strategy": v} if isinstance(v, str) else v for k, v in routes.items()}
    try:
        config = ShoalConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, source) from None
    config.source = source
    _check_learned_weights(config, weight_origins)
    _check_references(config, registry)
    return config


def _check_learned_weights(config: ShoalConfig, origins: dict[str, str]) -> None:
    """The weights tables name known members and categories; ``weights = "learned"`` resolves to them."""
    from orchestrator.router import CATEGORIES

    categories = {*CATEGORIES, *config.routes}
    check_weights(config.weights, set(config.members), categories, origins, config.source)
    for name, section in config.strategies.items():
        extra = section.model_extra or {}
        value = extra.get("weights")
        if value == LEARNED:
            if not config.weights:
                raise ConfigError(
                    'weights = "learned" but the config has no [weights] tables; include the file'
                    " `shoal bench --emit-weights` wrote",
                    source=config.source,
                    key=f"strategies.{name}.weights",
                )
            extra["weights"] = {k: dict(v) for k, v in config.weights.items()}
        elif isinstance(value, dict):
            check_weights(value, set(config.members), categories, {}, f"{config.source}: strategies.{name}")


def _toml_message(exc: tomllib.TOMLDecodeError) -> str:
    message = str(exc)
    if "Cannot declare" in message and "twice" in message:
        return f"{message}: a name is defined twice; rename or remove one of them"
    return f"invalid TOML: {message}"


def _members_with_names(members: Any, source: str) -> Any:
    if not isinstance(members, dict):
        return members
    fields = set(Member.model_fields)
    shaped: dict[str, Any] = {}
    for name, table in members.items():
        if not isinstance(table, dict):
            raise ConfigError("expected a table such as [members.NAME]", source=source, key=f"members.{name}")
        known = {k: v for k, v in table.items() if k in fields and k != "name"}
        own = {k: v for k, v in table.items() if k not in fields}
        known["options"] = {**own, **table.get("options", {})}
        shaped[name] = {"name": name, **known}
    return shaped


_ENV_DEFAULTS = {
    "STRATEGY": "strategy",
    "TEAM": "team",
    "TIMEOUT_S": "timeout_s",
    "DEADLINE_S": "deadline_s",
    "MAX_RETRIES": "max_retries",
    "MAX_CONCURRENCY": "max_concurrency",
    "LOG_LEVEL": "log_level",
    "CACHE_DIR": "cache_dir",
    "OFFLINE": "offline",
    "CALL_CACHE": "call_cache",
    "CALL_CACHE_PATH": "call_cache_path",
}


def _apply_env(raw: dict[str, Any]) -> dict[str, Any]:
    defaults = dict(raw.get("defaults") or {})
    for suffix, key in _ENV_DEFAULTS.items():
        value = os.environ.get(ENV_PREFIX + suffix)
        if value is not None and value != "":
            defaults[key] = value.lower() if key == "log_level" else value
    if defaults:
        raw["defaults"] = defaults
    keys = os.environ.get(ENV_PREFIX + "API_KEYS", "")
    if keys.strip():
        server = raw.get("server")
        server = dict(server) if isinstance(server, dict) else {}
        server["api_keys"] = [k.strip() for k in keys.split(",") if k.strip()]
        raw["server"] = server
    return raw


def _env_source(source: str, key: str) -> str:
    """``source``, naming the ``SHOAL_*`` variable too when one set ``[defaults] key``."""
    env = next(ENV_PREFIX + s for s, k in _ENV_DEFAULTS.items() if k == key)
    return f"{env}={os.environ[env]} (over {source})" if os.environ.get(env) else source


def _config_error(exc: ValidationError, source: str) -> ConfigError:
    errors = exc.errors()
    # A misspelt key also leaves a required one missing: name the misspelling.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] == "defaults" and len(loc) > 1 and loc[1] in _ENV_DEFAULTS.values():
        source = _env_source(source, loc[1])
    if loc == ["members"]:
        return ConfigError(
            "no members: define at least one [members.NAME] table with a provider and a model"
            ' (e.g. provider = "local", model = "smollm2-135m-instruct"; see `shoal models list`)',
            source=source,
            key="members",
        )
    if loc[:2] == ["server", "api_keys"] and os.environ.get(ENV_PREFIX + "API_KEYS"):
        source = f"{source} (or {ENV_PREFIX}API_KEYS)"
    if loc[:1] == ["members"] and len(loc) > 2 and loc[2] == "options":
        loc = [*loc[:2], *loc[3:]]
    if loc[:2] == ["policy", "levels"]:
        loc = ["policy", *loc[2:]]
    key = ".".join(loc)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = unknown_key(str(first["loc"][-1]), _fields_at(ShoalConfig, list(first["loc"][:-1])))
    elif first["type"] == "missing":
        message = "required key is missing"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ConfigError(message + suffix, source=source, key=key)


def unknown_key(key: str, known: Iterable[str]) -> str:
    """``unknown key 'api_key'; did you mean 'api_key_env'? (expected one of: ...)``."""
    names = sorted(set(known))
    import difflib  # only to suggest a name for a mistyped one

    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    expected = f" (expected one of: {', '.join(names)})" if names else ""
    return f"unknown key {key!r}{hint}{expected}"


def _fields_at(model: Any, loc: Sequence[str | int]) -> list[str]:
    """The keys a table at ``loc`` inside ``model`` may have (``[]`` when it is not a model)."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        hidden = _HIDDEN_FIELDS.get(current, ())
        return [name for name in current.model_fields if name not in hidden]
    return []


# Fields that are not written as keys: set by Shoal (a member's name is its table's), or
# spelt otherwise in TOML (the levels of a policy are its [policy.NAME] tables).
_HIDDEN_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    ShoalConfig: ("source",),
    Member: ("name",),
    PolicyConfig: ("levels",),
}


def _step(tp: Any, part: str | int) -> Any:
    """The type one step into ``tp``: a model's field, a dict's value, a list's item."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(part))
        if field is None and tp is PolicyConfig:  # [policy.NAME] tables are levels
            field = tp.model_fields["levels"]
            return _step(field.annotation, part)
        return None if field is None else field.annotation
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _step(arg, part)
            if found is not None:
                return found
    return None


def _check_references(config: ShoalConfig, registry: Registry) -> None:
    source = config.source
    for name, member in config.members.items():
        try:
            provider = registry.provider(member.provider)
        except UnknownNameError as exc:
            raise ConfigError(str(exc), source=source, key=f"members.{name}.provider") from None
        _check_options(
            getattr(provider, "Options", None),
            member.options,
            source,
            f"members.{name}",
            also=_fields_at(Member, []),
        )
    for team_name, team in config.teams.items():
        for i, member_name in enumerate([*team.members, *team.fallbacks]):
            if member_name not in config.members:
                known = ", ".join(sorted(config.members))
                raise ConfigError(
                    f"unknown member {member_name!r} (defined members: {known})",
                    source=source,
                    key=f"teams.{team_name}.{'members' if i < len(team.members) else 'fallbacks'}",
                )
        if len(set(team.members)) != len(team.members):
            raise ConfigError("a member is listed twice", source=source, key=f"teams.{team_name}.members")
    team_names = [*config.teams, DEFAULT_TEAM]
    for name, strategy in config.strategies.items():
        try:
            cls = registry.strategy(strategy.kind)
        except UnknownNameError as exc:
            raise ConfigError(str(exc), source=source, key=f"strategies.{name}.kind") from None
        if strategy.team is not None and strategy.team not in team_names:
            raise ConfigError(
                f"unknown team {strategy.team!r} (defined teams: {', '.join(team_names)})",
                source=source,
                key=f"strategies.{name}.team",
            )
        _check_options(getattr(cls, "Options", None), strategy.options(), source, f"strategies.{name}")
    known_strategies = [*config.strategies, *registry.names("strategy")]
    for name, strategy in config.strategies.items():
        _check_strategy_names(config, registry, name, strategy, known_strategies)
    for category, route in config.routes.items():
        if route.strategy not in known_strategies:
            raise ConfigError(
                f"unknown strategy {route.strategy!r} (known: {', '.join(sorted(set(known_strategies)))})",
                source=source,
                key=f"routes.{category}",
            )
        if route.team is not None and route.team not in team_names:
            raise ConfigError(f"unknown team {route.team!r}", source=source, key=f"routes.{category}.team")
    if config.defaults.strategy not in known_strategies:
        known = ", ".join(sorted(set(known_strategies)))
        raise ConfigError(
            f"unknown strategy {config.defaults.strategy!r} (known: {known})",
            source=_env_source(source, "strategy"),
            key="defaults.strategy",
        )
    if config.defaults.team is not None and config.defaults.team not in team_names:
        raise ConfigError(
            f"unknown team {config.defaults.team!r} (known: {', '.join(team_names)})",
            source=_env_source(source, "team"),
            key="defaults.team",
        )
    for level, rule in config.policy.levels.items():
        for entry in rule.allow:
            if entry.startswith("member:") and entry.removeprefix("member:") not in config.members:
                known = ", ".join(sorted(config.members))
                raise ConfigError(
                    f"{entry!r} names no member (defined members: {known})",
                    source=source,
                    key=f"policy.{level}.allow",
                )


def _check_strategy_names(
    config: ShoalConfig, registry: Registry, name: str, strategy: StrategyConfig, known: list[str]
) -> None:
    """Members and strategies a strategy names in its options (judges, a chairman, cascade stages)."""
    model = getattr(registry.strategy(strategy.kind), "Options", None)
    if model is None or not hasattr(model, "references"):
        return
    for key, kind, ref in model.model_validate(strategy.options()).references():
        pool = config.members if kind == "member" else known
        if ref not in pool:
            raise ConfigError(
                f"unknown {kind} {ref!r} (defined: {', '.join(sorted(set(pool)))})",
                source=config.source,
                key=f"strategies.{name}.{key}",
            )


def _check_options(
    model: type[BaseModel] | None,
    options: dict[str, Any],
    source: str,
    where: str,
    *,
    also: Sequence[str] = (),
) -> None:
    """Validate a member's or strategy's own keys; ``also`` are the table's other keys (a
    member's fields), offered as suggestions for a misspelt top-level key."""
    if model is None:
        return
    try:
        model.model_validate(options)
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also leaves a required one missing: name the misspelling.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        key = ".".join([where, *(str(p) for p in first["loc"])])
        if first["type"] == "extra_forbidden":
            parent = list(first["loc"][:-1])
            known = _fields_at(model, parent) + (list(also) if not parent else [])
            raise ConfigError(unknown_key(str(first["loc"][-1]), known), source=source, key=key) from None
        raise ConfigError(first["msg"], source=source, key=key) from None
