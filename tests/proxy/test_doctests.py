"""The examples in the proxy's and the schema validator's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "orchestrator.proxy.app",
    "orchestrator.proxy.auth",
    "orchestrator.proxy.catalog",
    "orchestrator.proxy.surfaces.base",
    "tests.conformance.openai",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    failures, tried = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert failures == 0 and tried > 0
