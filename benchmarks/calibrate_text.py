"""Calibrate the free-text equivalence thresholds on the labelled pairs.

Run: python benchmarks/calibrate_text.py [PAIRS.jsonl]
(default: tests/strategies/data/text_pairs.jsonl). For each method (lexical,
and embeddings when the ``embeddings`` extra is installed) it prints the
accuracy of the full text matcher over a grid of thresholds and the best one;
the chosen values live in strategies/equivalence/text.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from strategies.equivalence.text import Embedder, TextMatcher


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def accuracy(matcher: TextMatcher, pairs: list[dict], keys: dict[str, object]) -> float:
    right = sum(matcher.same(keys[p["a"]], keys[p["b"]]) == p["same"] for p in pairs)  # type: ignore[arg-type]
    return right / len(pairs)


def main(path: Path) -> None:
    pairs = load(path)
    methods = ["lexical"] + (["embeddings"] if Embedder.available() else [])
    for method in methods:
        matcher = TextMatcher(method)  # type: ignore[arg-type]
        keys = {t: matcher.key(t) for p in pairs for t in (p["a"], p["b"])}
        grid = [round(0.5 + i * 0.005, 3) for i in range(100)]
        scores = []
        for threshold in grid:
            matcher.threshold = threshold
            scores.append((accuracy(matcher, pairs, keys), threshold))
        best = max(scores, key=lambda s: (s[0], -abs(s[1] - 0.75)))
        good = [t for a, t in scores if a == best[0]]
        print(f"{method}: best accuracy {best[0]:.3f} for thresholds {min(good)}..{max(good)}")
        for lang in sorted({p["lang"] for p in pairs}):
            subset = [p for p in pairs if p["lang"] == lang]
            matcher.threshold = (min(good) + max(good)) / 2
            print(f"  {lang}: {accuracy(matcher, subset, keys):.3f} on {len(subset)} pairs")
        for p in pairs:
            a, b = keys[p["a"]], keys[p["b"]]
            if matcher.same(a, b) != p["same"]:  # type: ignore[arg-type]
                print(f"  miss ({matcher.similarity(a, b):.3f}, same={p['same']}): {p['a']} | {p['b']}")  # type: ignore[arg-type]


if __name__ == "__main__":
    default = Path(__file__).resolve().parent.parent / "tests" / "strategies" / "data" / "text_pairs.jsonl"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
