"""Where a tally keys its answers: short number answers on the event loop (the hop to a worker
thread would cost more than keying them), long ones and every text answer in a worker thread."""

from __future__ import annotations

import threading

from orchestrator.types import Candidate
from strategies.answers import AnswerSettings
from strategies.equivalence import Key
from strategies.equivalence.number import NumberMatcher
from strategies.tally import Tally

QUESTION = "What is six times seven?"


class Recording(NumberMatcher):
    """The number matcher, noting the thread each key is made in."""

    def __init__(self, question: str = "") -> None:
        super().__init__(question)
        self.threads: list[int] = []

    def key(self, text: str) -> Key:
        self.threads.append(threading.get_ident())
        return super().key(text)


async def keyed_in(texts: list[str]) -> tuple[list[int], str | None]:
    tally = Tally(QUESTION, AnswerSettings(answer_type="number"))
    matcher = Recording(QUESTION)
    tally._matchers["number"] = matcher
    await tally.extend([Candidate(member=f"m{i}", model="m", text=t) for i, t in enumerate(texts)])
    winner = tally.decision().winner
    return matcher.threads, winner.key if winner else None


async def test_short_number_answers_are_keyed_on_the_loop() -> None:
    threads, key = await keyed_in(["42", "The answer is 42.", "24"])
    assert threads and set(threads) == {threading.get_ident()}
    assert key == "42"


async def test_long_number_answers_are_keyed_in_a_worker_thread() -> None:
    working = "Six sevens: 7 + 7 + 7 + 7 + 7 + 7, step by step. " * 30
    threads, key = await keyed_in([working + "The answer is 42.", working + "So 42.", "24"])
    assert threads and threading.get_ident() not in threads
    assert key == "42"
