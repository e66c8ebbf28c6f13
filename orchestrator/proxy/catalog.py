"""The models a server offers: ``shoal/auto``, ``shoal/<strategy>``, and each member by name.

>>> from orchestrator.config import parse_config
>>> config = parse_config('''
... [members.alice]
... provider = "scripted"
... model = "scripted"
... [strategies.majority]
... kind = "vote"
... [defaults]
... strategy = "majority"
... ''', source="doc")
>>> [t.id for t in Catalog.of(config)]
['shoal/auto', 'shoal/majority', 'alice']
>>> Catalog.of(config).get("alice").kind
'member'
>>> sorted(Catalog.of(config).get("shoal/auto").kinds)
['vote']
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from orchestrator.config import ShoalConfig
from orchestrator.errors import UsageError
from orchestrator.registry import Registry

__all__ = ["AUTO", "Catalog", "Target"]

AUTO = "shoal/auto"
PREFIX = "shoal/"


@dataclass(frozen=True, slots=True)
class Target:
    """What a model id stands for: the router's choice, a strategy, or one member."""

    id: str
    kind: Literal["auto", "strategy", "member"]
    name: str | None
    owned_by: str
    kinds: frozenset[str] = field(default_factory=frozenset)  # strategy kinds it may run

    @property
    def member(self) -> str | None:
        return self.name if self.kind == "member" else None

    @property
    def strategy(self) -> str | None:
        return self.name if self.kind == "strategy" else None


class Catalog:
    def __init__(self, targets: list[Target]) -> None:
        self._targets: dict[str, Target] = {}
        for target in targets:
            if target.id in self._targets:
                raise UsageError(
                    f"model id {target.id!r} is offered twice; rename the member or strategy that clashes"
                )
            self._targets[target.id] = target

    @classmethod
    def of(cls, config: ShoalConfig, registry: Registry | None = None) -> Catalog:
        registry = registry or Registry()
        routed = [config.defaults.strategy, *(r.strategy for r in config.routes.values())]
        strategies = list(dict.fromkeys([*config.strategies, *routed]))
        kinds = {name: _kinds(config, registry, name, ()) for name in strategies}
        auto = frozenset().union(*(kinds[name] for name in routed))
        return cls(
            [
                Target(AUTO, "auto", None, "shoal", auto),
                *(Target(PREFIX + name, "strategy", name, "shoal", kinds[name]) for name in strategies),
                *(
                    Target(name, "member", name, member.vendor or member.provider)
                    for name, member in config.members.items()
                ),
            ]
        )

    def get(self, model_id: str) -> Target | None:
        return self._targets.get(model_id)

    def ids(self) -> list[str]:
        return list(self._targets)

    def __iter__(self) -> Iterator[Target]:
        return iter(self._targets.values())


def _kinds(config: ShoalConfig, registry: Registry, name: str, seen: tuple[str, ...]) -> frozenset[str]:
    """The strategy kinds running ``name`` may involve: its own, and those of strategies it runs."""
    section = config.strategy_config(name, registry)
    options = getattr(registry.strategy(section.kind), "Options", None)
    refs = options.model_validate(section.options()).references() if options is not None else []
    nested = [ref for _, kind, ref in refs if kind == "strategy" and ref not in seen]
    return frozenset({section.kind}).union(*(_kinds(config, registry, n, (*seen, name)) for n in nested))
