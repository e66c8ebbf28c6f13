"""Answer equivalence by answer type: each module turns an answer into a :class:`Key`
and says whether two keys mean the same answer.

A :class:`Matcher` is built for one question (a choice matcher reads the options
listed in it; a number matcher reads whether it asks for a percentage) and then
keys each answer once. ``same`` is symmetric, and two equal canonical keys are
always the same answer; a matcher may also call two different keys the same
(``0.33`` and ``1/3``, two paraphrases of one sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Key", "Matcher"]


@dataclass(frozen=True, slots=True)
class Key:
    """What an answer says, for one answer type.

    ``canonical`` is the printable normal form (``"1/2"``, ``"B"``, ``"yes"``);
    ``extracted`` is false when the answer held nothing of the type and
    ``canonical`` is just its normalised text; ``value`` carries what a
    non-exact comparison needs (a number, an embedding, a test signature).
    """

    canonical: str
    extracted: bool = True
    value: Any = None


class Matcher(Protocol):
    """Keys answers of one type and compares the keys."""

    kind: str
    blocking: bool  # keying runs code or a model: call it off the event loop

    # A blocking matcher may also set ``inline_chars``: a batch of answers shorter than that in
    # total is keyed on the loop, where it costs less than the hop to a worker thread.

    def key(self, text: str) -> Key: ...

    def same(self, a: Key, b: Key) -> bool: ...
