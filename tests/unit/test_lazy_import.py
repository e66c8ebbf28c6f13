"""``import orchestrator`` imports nothing of the engine until a public name is used (PEP 562).

Each check runs in a fresh interpreter: what this test process has imported already says nothing.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import orchestrator

# Modules a bare ``import orchestrator`` must not import: the engine, its pydantic models, the
# configuration (and its TOML reader), the registry's entry points, logging and the heavy backends.
DEFERRED = (
    "orchestrator.engine",
    "orchestrator.config",
    "orchestrator.types",
    "orchestrator.panel",
    "orchestrator.router",
    "orchestrator.registry",
    "orchestrator.sovereignty.policy",
    "orchestrator.state",
    "pydantic",
    "tomllib",
    "importlib.metadata",
    "structlog",
    "httpx",
    "litellm",
    "xllamacpp",
    "strategies",
    "providers",
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def _assert_left_unloaded(statement: str, modules: tuple[str, ...]) -> None:
    code = (
        f"import sys\n{statement}\n"
        f"loaded = [m for m in {modules!r} if m in sys.modules]\n"
        f"assert not loaded, f'imported by {statement}: {{loaded}}'\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_import_orchestrator_defers_the_engine() -> None:
    _assert_left_unloaded("import orchestrator", DEFERRED)


# What the engine's first import leaves for later: the call cache and response cache (sqlite,
# hashing, JSON) until they are configured, the TOML reader until a config is read, the HTTP
# client, logging's renderer, the strategies and providers until the registry loads them.
ENGINE_DEFERRED = (
    "orchestrator.cache",
    "orchestrator.response_cache",
    "orchestrator.state.redis_backend",
    "tomllib",
    "sqlite3",
    "json",
    "difflib",
    "structlog",
    "httpx",
    "litellm",
    "xllamacpp",
    "strategies",
    "providers",
)


def test_the_engine_import_defers_what_its_first_use_may_not_need() -> None:
    _assert_left_unloaded("from orchestrator import Orchestrator", ENGINE_DEFERRED)


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    code = (
        "import orchestrator\n"
        "for name in orchestrator.__all__:\n"
        "    value = getattr(orchestrator, name)\n"
        "    assert getattr(value, '__name__', name) == name, (name, value)\n"
        "from orchestrator import Orchestrator, ShoalConfig, Verdict, load_config, ShoalError\n"
        "from orchestrator.engine import Orchestrator as Engine\n"
        "from orchestrator.errors import ShoalError as Root\n"
        "assert Orchestrator is Engine and ShoalError is Root\n"
        "assert sorted(orchestrator.__all__) == sorted(set(orchestrator.__all__))\n"
        "assert set(orchestrator.__all__) <= set(dir(orchestrator))\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_errors_alone_do_not_build_the_models() -> None:
    code = "import sys\nfrom orchestrator import ShoalError, ConfigError\n"
    code += "assert 'pydantic' not in sys.modules"
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_a_submodule_is_an_attribute_after_a_bare_import() -> None:
    result = _run("import orchestrator\nassert orchestrator.engine.Orchestrator is orchestrator.Orchestrator")
    assert result.returncode == 0, result.stderr


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        orchestrator.Nope  # noqa: B018
    with pytest.raises(AttributeError, match="__wrapped__"):
        orchestrator.__wrapped__  # noqa: B018
    with pytest.raises(ImportError):
        exec("from orchestrator import Nope", {})
