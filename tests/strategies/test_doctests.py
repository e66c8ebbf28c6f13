"""The examples in the strategies' docstrings run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import strategies
import strategies.equivalence
import strategies.search
import strategies.verifiers

MODULES = sorted(
    {
        f"{package.__name__}.{info.name}"
        for package in (strategies, strategies.equivalence, strategies.search, strategies.verifiers)
        for info in pkgutil.iter_modules(package.__path__)
    }
    | {"providers.scripted"}
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
