"""An item as the chat messages the panel is asked, and the labels that travel with it.

An item with ``messages`` is asked as written. Otherwise the question, its
lettered choices and a one-line instruction for its answer type make one user
message:

>>> from orchestrator.bench.datasets import BenchItem
>>> item = BenchItem(id="1", question="Largest planet?", choices=["Mars", "Jupiter"], answer="B",
...                  answer_type="choice")
>>> print(messages_for(item)[0]["content"])
Largest planet?
A. Mars
B. Jupiter
Reply with the letter of the correct option only.
"""

from __future__ import annotations

from typing import Any

from orchestrator.bench.datasets import LETTERS, BenchItem

__all__ = ["INSTRUCTIONS", "labels_for", "messages_for", "question_of"]

INSTRUCTIONS: dict[str, str] = {
    "number": 'Work it out briefly, then end with "The answer is N" where N is a number.',
    "choice": "Reply with the letter of the correct option only.",
    "yesno": "Reply yes or no.",
    "text": "Reply with a short answer.",
    "json": "Reply with JSON only.",
    "code": "Complete the Python function. Reply with the whole function in one ```python block.",
}


def messages_for(item: BenchItem) -> list[dict[str, Any]]:
    if item.messages is not None:
        return [dict(m) for m in item.messages]
    parts = [(item.question or "").rstrip()]
    if item.choices:
        parts.extend(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    parts.append(INSTRUCTIONS[item.answer_type])
    return [{"role": "user", "content": "\n".join(parts)}]


def question_of(item: BenchItem) -> str:
    """The text of the last user message: what the strategies compare answers against."""
    for message in reversed(messages_for(item)):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def labels_for(item: BenchItem) -> dict[str, str]:
    """Request labels: the item id and answer type, a code item's ``tests`` (a vote over code
    clusters answers by the tests they pass), and the gold answer for simulated members.

    Strategies must not read ``gold``; it is there so that a simulated scripted member
    can answer right with its configured probability.
    """
    labels = {"item": item.id, "answer_type": item.answer_type, "gold": item.answer}
    if item.answer_type == "choice":
        labels["n_choices"] = str(item.n_choices)
    if item.tests:
        labels["tests"] = item.tests
    return labels
