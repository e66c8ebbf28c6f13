"""Simulated members: right with probability ``p``, wrong together with correlation ``rho``.

A simulated member answers a question whose gold answer it is told through the
call's labels (``gold``, and ``answer_type``, ``n_choices``, ``item`` when
known; ``shoal bench`` sets them for every item). It is right with probability
``p``; its errors are correlated with those of the other simulated members of
the same ``seed`` with pairwise correlation ``rho`` (exact for members of equal
``p``). So a forecast of what a vote of *n* members would buy costs no call.

How: for each item (and sample index) the panel shares one common draw; each
member follows the common draw with probability ``sqrt(rho)`` and otherwise
draws its own. A member errs when its draw falls below ``1 - p``, and picks its
wrong answer from the same draw, so members that share an error share the
wrong answer too. Two members both follow the common draw with probability
``rho``, which makes the correlation of their error indicators ``rho``. Draws
are hashes of (seed, member, item, sample): runs are reproducible.

>>> sim = Simulation("a", SimulateOptions(p=1.0))
>>> sim.answer([], {"gold": "42", "answer_type": "number"}, 0)
'The answer is 42.'
>>> wrong = Simulation("b", SimulateOptions(p=0.0, distractors=1))
>>> wrong.answer([], {"gold": "B", "answer_type": "choice"}, 0)
'The answer is A.'
"""

from __future__ import annotations

import hashlib
import json
import math
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GOLD_LABELS", "SimulateOptions", "Simulation"]

GOLD_LABELS = ("gold", "answer_type", "n_choices", "item")
"""The request labels a simulated member reads: gold answer, its type, number of choices, item id."""

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


class SimulateOptions(BaseModel):
    """``simulate = { p = 0.7, rho = 0.2 }`` on a scripted member."""

    model_config = ConfigDict(extra="forbid")

    p: float = Field(ge=0.0, le=1.0, description="probability of answering right")
    rho: float = Field(default=0.0, ge=0.0, le=1.0, description="pairwise error correlation")
    seed: int = Field(default=0, description="members with the same seed share the common draws")
    distractors: int = Field(default=3, ge=1, description="how many distinct wrong answers per item")


def _uniform(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


class Simulation:
    """The answers of one simulated member."""

    def __init__(self, member: str, options: SimulateOptions) -> None:
        self.member = member
        self.options = options

    def answer(self, messages: list[dict[str, Any]], labels: dict[str, str], sample_index: int) -> str:
        """The member's reply to an item whose gold answer is ``labels["gold"]``."""
        gold = labels["gold"]
        kind = labels.get("answer_type") or _infer(gold)
        item = (
            labels.get("item")
            or hashlib.sha256(
                json.dumps(messages, sort_keys=True, ensure_ascii=False, default=str).encode()
            ).hexdigest()
        )
        seed = self.options.seed
        follows = _uniform("follow", seed, self.member, item, sample_index) < math.sqrt(self.options.rho)
        source = (
            ("common", seed, item, sample_index)
            if follows
            else ("own", seed, self.member, item, sample_index)
        )
        if _uniform(*source, "error") >= 1.0 - self.options.p:
            return _render(gold, kind)
        wrong = _distractors(gold, kind, int(labels.get("n_choices") or 4))
        wrong = wrong[: self.options.distractors]
        return _render(wrong[int(_uniform(*source, "which") * len(wrong))], kind)


def _infer(gold: str) -> str:
    if len(gold) == 1 and gold.upper() in _LETTERS:
        return "choice"
    if gold.lower() in ("yes", "no"):
        return "yesno"
    try:
        Fraction(gold.replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return "text"
    return "number"


def _distractors(gold: str, kind: str, n_choices: int) -> list[str]:
    """Wrong answers for ``gold``, in a fixed order."""
    if kind == "choice":
        return [c for c in _LETTERS[: max(n_choices, 2)] if c != gold.strip().upper()] or ["Z"]
    if kind == "yesno":
        return ["no" if gold.strip().lower() in ("yes", "true") else "yes"]
    if kind == "code":
        return ["def wrong():\n    raise NotImplementedError\n"]
    if kind == "number":
        try:
            value = Fraction(gold.replace(",", "").strip())
        except (ValueError, ZeroDivisionError):
            value = None
        if value is not None:
            offsets = [1, -1, 2, -2, 3, -3, 4, -4, 5, -5]
            return [_number(value + k) for k in offsets]
    return [f"wrong answer {k}" for k in range(1, 11)]


def _number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _render(answer: str, kind: str) -> str:
    if kind in ("number", "choice"):
        return f"The answer is {answer}."
    if kind == "yesno":
        return answer.capitalize()
    return answer
