"""Verifiers score an answer in [0, 1] and say why; a tree search (``treesearch``) steers by them.

A verifier is a small plugin found like a strategy, through the entry-point
group ``shoal.verifiers`` (the built-ins: ``tests``, ``judge``, ``agreement``);
a third-party package registers its own the same way. It is a class with an
``Options`` model (its settings, from the strategy's ``verifier`` table), and:

- ``calls_per_answer``: model calls one score costs (reserved with the answer's call);
- ``stable``: False when a score depends on the other answers (it is rescored at the end);
- ``prepare(view)``: checks before the search starts (tests present, judges allowed);
- ``async score(candidate, view) -> Score``: the score and feedback for one answer.

The feedback is shown to a member asked to refine the answer, so a verifier
says there only what that member may see (the strategy clears it with the
request's policy first).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from orchestrator.errors import ConfigError, UnknownNameError
from strategies.verifiers.base import Score, SearchView, Verifier

__all__ = ["GROUP", "Score", "SearchView", "Verifier", "load_verifier", "verifier_names"]

GROUP = "shoal.verifiers"


def verifier_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load_verifier(spec: str | dict[str, Any]) -> Verifier:
    """The verifier ``spec`` names: ``"tests"`` or ``{kind = "judge", judges = ["strong"]}``."""
    options = dict(spec) if isinstance(spec, dict) else {"kind": spec}
    kind = options.pop("kind", None)
    if not isinstance(kind, str):
        raise ConfigError(
            "a verifier table needs kind = one of " + ", ".join(verifier_names()), key="verifier"
        )
    point = next((ep for ep in entry_points(group=GROUP) if ep.name == kind), None)
    if point is None:
        raise UnknownNameError("verifier", kind, verifier_names())
    cls = point.load()
    try:
        return cls(cls.Options.model_validate(options))  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise ConfigError(f"verifier {kind!r}: {exc}", key="verifier") from exc
