"""Agreement of Shoal's answer equivalence with other projects' test suites, suite by suite.

Run: python benchmarks/equivalence.py [--folder DIR] [--types number,choice,...] [--show-wrong] [--json]

Reads every ``*.extract.jsonl`` and ``*.pairs.jsonl`` in ``tests/conformance/equivalence/`` (their
sources and licences are in that folder's README.md):

- an extraction case agrees when the key Shoal gives the answer is the expected one (``expected: null``:
  the answer must stay unkeyed);
- a pair case agrees when Shoal calls the two answers the same exactly when the suite does.

It prints the agreement per suite, the number of false merges (pairs of different answers that Shoal
called the same, over the ``false_merges*.pairs.jsonl`` files: must be 0), the agreement over the
held-out suites (the ``heldout_*`` files, written after the matchers from material they were not built
against) and their false merges, and the CPU time of keying
one answer, by answer type (median and worst, in microseconds), so a matcher that takes over a
millisecond shows here and must run off the event loop (``blocking = True``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strategies.answers import Matcher, matcher_for

FOLDER = Path(__file__).resolve().parent.parent / "tests" / "conformance" / "equivalence"


@dataclass
class Suite:
    name: str
    cases: int = 0
    agreed: int = 0
    wrong: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.agreed / self.cases if self.cases else 1.0


@dataclass
class Report:
    suites: dict[str, Suite]
    false_merges: int
    false_merge_pairs: int
    merged: list[str]
    key_us: dict[str, list[float]]
    heldout: set[str] = field(default_factory=set)  # the names of the held-out suites
    heldout_false_merges: int = 0
    heldout_different_pairs: int = 0

    @property
    def heldout_cases(self) -> tuple[int, int]:
        """(cases, agreed) over the held-out suites."""
        chosen = [self.suites[name] for name in self.heldout if name in self.suites]
        return sum(s.cases for s in chosen), sum(s.agreed for s in chosen)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suites": {
                s.name: {"cases": s.cases, "agreed": s.agreed, "agreement": s.agreement}
                for s in self.suites.values()
            },
            "false_merges": self.false_merges,
            "false_merge_pairs": self.false_merge_pairs,
            "heldout": {
                "cases": self.heldout_cases[0],
                "agreed": self.heldout_cases[1],
                "false_merges": self.heldout_false_merges,
                "different_pairs": self.heldout_different_pairs,
            },
            "key_us": {
                kind: {"median": statistics.median(t), "max": max(t)} for kind, t in self.key_us.items() if t
            },
        }


def load(folder: Path) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """The extraction cases and the pair cases, each with the name of the file it came from."""
    extract: list[tuple[str, dict[str, Any]]] = []
    pairs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(folder.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if path.name.endswith(".extract.jsonl"):
            extract.extend((path.name, row) for row in rows)
        elif path.name.endswith(".pairs.jsonl"):
            pairs.extend((path.name, row) for row in rows)
    return extract, pairs


class _Keyer:
    """Matchers per (type, question), and the CPU time of every key."""

    def __init__(self) -> None:
        self.matchers: dict[tuple[str, str], Matcher] = {}
        self.key_us: dict[str, list[float]] = defaultdict(list)

    def matcher(self, kind: str, question: str | None) -> Matcher:
        wanted = (kind, question or "")
        if wanted not in self.matchers:
            self.matchers[wanted] = matcher_for(kind, question or "")  # type: ignore[arg-type]
        return self.matchers[wanted]

    def key(self, matcher: Matcher, text: str) -> Any:
        started = time.process_time()
        key = matcher.key(text)
        self.key_us[matcher.kind].append((time.process_time() - started) * 1e6)
        return key


def _agrees(keyer: _Keyer, case: dict[str, Any]) -> tuple[bool, str]:
    matcher = keyer.matcher(case["type"], case.get("question"))
    key = keyer.key(matcher, case["answer"])
    got = key.canonical if key.extracted else None
    expected = case["expected"]
    if expected is None:
        return not key.extracted, f"{case['answer'][-120:]!r}: keyed {got!r}, expected unkeyed"
    if not key.extracted:
        return False, f"{case['answer'][-120:]!r}: unkeyed, expected {expected!r}"
    agreed = got == expected
    if not agreed and case["type"] == "number":  # the expected value may be written another way (0.50)
        agreed = matcher.same(key, matcher.key(expected))
    return agreed, f"{case['answer'][-120:]!r}: keyed {got!r}, expected {expected!r}"


def run(folder: Path = FOLDER, types: set[str] | None = None) -> Report:
    extract, pairs = load(folder)
    keyer = _Keyer()
    suites: dict[str, Suite] = {}
    heldout: set[str] = set()
    for filename, case in extract:
        if types and case["type"] not in types:
            continue
        if filename.startswith("heldout_"):
            heldout.add(case["suite"])
        suite = suites.setdefault(case["suite"], Suite(case["suite"]))
        agreed, why = _agrees(keyer, case)
        suite.cases += 1
        suite.agreed += agreed
        if not agreed:
            suite.wrong.append(why)
    false_merges = false_merge_pairs = heldout_merges = heldout_pairs = 0
    merged: list[str] = []
    for filename, case in pairs:
        if types and case["type"] not in types:
            continue
        matcher = keyer.matcher(case["type"], case.get("question"))
        same = matcher.same(keyer.key(matcher, case["a"]), keyer.key(matcher, case["b"]))
        suite = suites.setdefault(case["suite"], Suite(case["suite"]))
        suite.cases += 1
        suite.agreed += same == case["same"]
        if same != case["same"]:
            suite.wrong.append(f"{case['a'][-80:]!r} vs {case['b'][-80:]!r}: same={same}")
        if filename.startswith("heldout_"):
            heldout.add(case["suite"])
            if not case["same"]:
                heldout_pairs += 1
                heldout_merges += same
                if same:
                    merged.append(f"{case['a'][-80:]!r} == {case['b'][-80:]!r} ({case['type']}, held out)")
        if filename.startswith("false_merges") and not case["same"]:
            false_merge_pairs += 1
            if same:
                false_merges += 1
                merged.append(f"{case['a'][-80:]!r} == {case['b'][-80:]!r} ({case['type']})")
    return Report(
        suites,
        false_merges,
        false_merge_pairs,
        merged,
        dict(keyer.key_us),
        heldout,
        heldout_merges,
        heldout_pairs,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=FOLDER)
    parser.add_argument("--types", help="only these answer types, comma-separated (number,choice,yesno,text)")
    parser.add_argument("--show-wrong", action="store_true", help="list the cases Shoal gets wrong")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    report = run(args.folder, set(args.types.split(",")) if args.types else None)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    print(f"{'suite':<52} {'cases':>6} {'agreed':>7} {'agreement':>10}")
    for suite in report.suites.values():
        print(f"{suite.name:<52} {suite.cases:>6} {suite.agreed:>7} {suite.agreement:>9.1%}")
    cases, agreed = report.heldout_cases
    if cases:
        print(f"\n{'held out (all heldout_* suites)':<52} {cases:>6} {agreed:>7} {agreed / cases:>9.1%}")
    print(f"\nfalse merges: {report.false_merges} of {report.false_merge_pairs} pairs of different answers")
    if report.heldout_different_pairs:
        print(
            f"held-out false merges: {report.heldout_false_merges}"
            f" of {report.heldout_different_pairs} pairs of different answers"
        )
    for line in report.merged:
        print("  merged:", line)
    print("\nkeying CPU time per answer (us):")
    for kind, times in sorted(report.key_us.items()):
        print(f"  {kind:<8} median {statistics.median(times):8.1f}   max {max(times):9.1f}   n={len(times)}")
    if args.show_wrong:
        for suite in report.suites.values():
            for line in suite.wrong:
                print(f"[{suite.name}] {line}")


if __name__ == "__main__":
    main()
