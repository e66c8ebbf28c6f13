"""CPU time of keying a text vote over five 2,000-character answers: today's text matcher against
the previous path (each whole answer embedded with multilingual-e5-small, as the matcher did
before long answers were cut to the part that carries the answer).

Run: python benchmarks/text_keying.py [--repeat N]

Both are measured after warm-up (the model loaded, one vote keyed), in one process, as CPU time
(``time.process_time``) of keying every answer and clustering them. Target: under 50 ms.
"""

from __future__ import annotations

import argparse
import time

from strategies.answers import AnswerSettings, cluster_keys
from strategies.equivalence import Key
from strategies.equivalence.text import Embedder, TextMatcher, normalize_text

_PARAGRAPH = (
    "Photosynthesis is the process by which green plants, algae and some bacteria capture light and store"
    " its energy in sugar. In the chloroplasts, chlorophyll absorbs mostly blue and red light; the light"
    " reactions split water, release oxygen and make ATP and NADPH, which the Calvin cycle then uses to"
    " fix carbon dioxide into three-carbon sugars. "
)


def answers(salt: int) -> list[str]:
    out = []
    for i in range(5):
        opening = f"Answer {salt}.{i}: plants turn light energy into chemical energy stored in glucose. "
        closing = " In short, light energy becomes chemical energy."
        out.append(opening + (_PARAGRAPH * 10)[: 2000 - len(opening) - len(closing)] + closing)
    return out


def key_now(matcher: TextMatcher, texts: list[str]) -> float:
    start = time.process_time()
    keys = [matcher.key(t) for t in texts]
    cluster_keys(keys, matcher.same, texts, [1.0] * len(texts), [str(i) for i in range(len(texts))])
    return time.process_time() - start


def key_before(embedder: Embedder, texts: list[str]) -> float:
    start = time.process_time()
    keys = [Key(canonical=normalize_text(t), value=embedder.embed(t)) for t in texts]
    for a in keys:
        for b in keys:
            float(a.value @ b.value)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    assert all(len(t) == 2000 for t in answers(0))
    matcher = TextMatcher(AnswerSettings().text_match)
    key_now(matcher, answers(-1))  # warm-up
    now = min(key_now(matcher, answers(i)) for i in range(args.repeat))
    print(f"text keying, 5 answers x 2,000 chars, CPU after warm-up (best of {args.repeat}):")
    print(f"  now     ({matcher.method}, answer part): {now * 1000:9.2f} ms   target < 50 ms")
    if Embedder.available():
        embedder = Embedder()
        key_before(embedder, answers(-1)[:1])
        before = min(key_before(embedder, answers(100 + i)) for i in range(max(1, args.repeat // 2)))
        print(f"  before  (embeddings, whole answer): {before * 1000:9.2f} ms")
        print(f"  ratio   before / now: {before / now:9.0f}x")
    else:
        print("  before: the embeddings extra is not installed (pip install 'shoal[embeddings]')")


if __name__ == "__main__":
    main()
