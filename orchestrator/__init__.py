"""Shoal: ask a panel of models from different vendors, cross-check their answers, trust the verdict.

>>> from orchestrator import Orchestrator
>>> orch = Orchestrator.from_config("examples/scripted.toml")   # doctest: +SKIP
>>> orch.run_sync("What is six times seven?").answer            # doctest: +SKIP
'42'

``import orchestrator`` stays light: litellm and llama.cpp load only when a
member that needs them is first called.
"""

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

__version__ = "0.1.0"
