"""What each strategy costs in calls for a panel of three, when the panel agrees, splits 2-1, or splits 1-1-1.

Run: python benchmarks/strategy_calls.py
Scripted members answer at once (a third, slower member where it matters for an
early exit), so the counts are the strategies' own, not the models'. Prints a
Markdown table: calls sent (of which cancelled by an early exit), and the verdict's confidence.
"""

from __future__ import annotations

import asyncio

from orchestrator.config import parse_config
from orchestrator.engine import Orchestrator

SCENARIOS = {
    "agree 3-0": ["42", "42", "42"],
    "split 2-1": ["42", "42", "41"],
    "split 1-1-1": ["42", "41", "40"],
}

STRATEGIES = {
    "single": 'kind = "single"',
    "vote": 'kind = "vote"',
    "vote early_exit": 'kind = "vote"\nearly_exit = true',
    "vote adaptive": 'kind = "vote"\nadaptive = true',
    "judge": 'kind = "judge"\njudges = ["referee"]',
    "fusion layers=1": 'kind = "fusion"\naggregator = "writer"',
    "fusion layers=2": 'kind = "fusion"\nlayers = 2\naggregator = "writer"',
    "debate rounds=1": 'kind = "debate"\nrounds = 1',
    "debate rounds=2": 'kind = "debate"\nrounds = 2',
    "cascade vote->judge (0.7)": 'kind = "cascade"\nfirst = "vote"\nthen = "judge"\nescalate_below = 0.7',
    "council": 'kind = "council"\nchairman = "writer"',
}


def config(answers: list[str]) -> str:
    lines = []
    for i, (name, answer) in enumerate(zip(["a", "b", "c"], answers, strict=True)):
        latency = 0.05 if i == 2 else 0.0  # the third member is a little slower: early exit can skip it
        lines.append(
            f'[members.{name}]\nprovider = "scripted"\nmodel = "m-{name}"\nanswers = ["{answer}"]\n'
            f"latency_s = {latency}\n"
        )
    lines.append('[members.referee]\nprovider = "scripted"\nmodel = "judge"\nanswers = ["BEST: 1"]\n')
    lines.append('[members.writer]\nprovider = "scripted"\nmodel = "writer"\nanswers = ["42"]\n')
    lines.append('[teams.t]\nmembers = ["a", "b", "c"]\n[defaults]\nteam = "t"\n')
    for name, body in STRATEGIES.items():
        key = name.split(" ")[0] if name in ("vote", "judge", "single", "council") else f'"{name}"'
        lines.append(f'[strategies.{key}]\nteam = "t"\nanswer_type = "number"\n{body}\n')
    return "\n".join(lines)


async def measure() -> dict[str, dict[str, tuple[int, int, float]]]:
    table: dict[str, dict[str, tuple[int, int, float]]] = {}
    for scenario, answers in SCENARIOS.items():
        async with Orchestrator(parse_config(config(answers), source="bench")) as orch:
            for name in STRATEGIES:
                verdict = await orch.run("What is 6 x 7?", strategy=name)
                cancelled = sum(1 for c in verdict.candidates if c.error and c.error.type == "cancelled")
                table.setdefault(name, {})[scenario] = (verdict.calls, cancelled, verdict.confidence)
    return table


def main() -> None:
    table = asyncio.run(measure())
    print("| strategy | " + " | ".join(SCENARIOS) + " |")
    print("|---|" + "---|" * len(SCENARIOS))
    for name, row in table.items():
        cells = [
            f"{calls}{f' ({cut} cancelled)' if cut else ''} · {conf:.2f}"
            for calls, cut, conf in (row[s] for s in SCENARIOS)
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
