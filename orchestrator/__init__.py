"""Shoal: ask a panel of models from different vendors, cross-check their answers, trust the verdict.

>>> from orchestrator import Orchestrator
>>> orch = Orchestrator.from_config("examples/scripted.toml")   # doctest: +SKIP
>>> orch.run_sync("What is six times seven?").answer            # doctest: +SKIP
'42'

``import orchestrator`` stays light: each public name is imported from its module when it
is first used (PEP 562), so ``import orchestrator`` or ``from orchestrator import ShoalError``
does not build the engine's models, and litellm and llama.cpp load only when a member that
needs them is first called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.config import ShoalConfig, load_config
    from orchestrator.engine import Orchestrator
    from orchestrator.errors import (
        AuthenticationError,
        BadRequestError,
        BudgetExceeded,
        CircuitOpen,
        ConfigError,
        EmptyRequestError,
        ModelChecksumError,
        ModelError,
        ModelStartError,
        PolicyError,
        ProviderConnectionError,
        ProviderError,
        ProviderTimeout,
        QuorumError,
        RateLimited,
        ServerError,
        ShoalError,
        UnknownNameError,
        UsageError,
    )
    from orchestrator.types import (
        Candidate,
        Cluster,
        Completion,
        Member,
        Message,
        Request,
        Route,
        Tags,
        Usage,
        Verdict,
    )

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "Candidate",
    "CircuitOpen",
    "Cluster",
    "Completion",
    "ConfigError",
    "EmptyRequestError",
    "Member",
    "Message",
    "ModelChecksumError",
    "ModelError",
    "ModelStartError",
    "Orchestrator",
    "PolicyError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeout",
    "QuorumError",
    "RateLimited",
    "Request",
    "Route",
    "ServerError",
    "ShoalConfig",
    "ShoalError",
    "Tags",
    "UnknownNameError",
    "Usage",
    "UsageError",
    "Verdict",
    "load_config",
]

_TYPES = {"Candidate", "Cluster", "Completion", "Member", "Message"}
_TYPES |= {"Request", "Route", "Tags", "Usage", "Verdict"}
_ELSEWHERE = {"Orchestrator": "engine", "ShoalConfig": "config", "load_config": "config"}

# Where each public name lives (the rest of ``__all__`` are errors); ``__getattr__`` imports it
# from there on first use.
_HOMES: dict[str, str] = {
    name: f"orchestrator.{_ELSEWHERE.get(name) or ('types' if name in _TYPES else 'errors')}"
    for name in __all__
}

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for (then cached here)."""
    home = _HOMES.get(name)
    if home is None:
        if name.startswith("_"):  # dunders looked up by tools (``__wrapped__``), never a submodule
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:  # ``orchestrator.engine`` and the like, after a bare ``import orchestrator``
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
