"""The secret detector on real text: findings (false positives, on text that holds no secrets) and speed,
ours against the detector of a git revision, side by side in one run.

    python -m benchmarks.detector_scan [--baseline main] [--corpus DIR ...] [--repeat 5]

The corpus is real code and prose that holds no secrets: by default the Python standard library's
own sources (``Lib/*.py`` of the running interpreter, test suites excluded) and this repository's
``orchestrator/``, ``providers/``, ``strategies/`` and ``README.md``. Each file is scanned as one
text, as the policy scans a forwarded field. Every finding there is a false positive, unless it
is one of the few real-looking examples a module carries; the table prints how many each
detector reports, by kind, and the scan's time per MB (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks._util import print_table

ROOT = Path(__file__).resolve().parent.parent
DETECTOR = "orchestrator/sovereignty/detector.py"


def default_corpus() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py"))
    for package in ("email", "http", "json", "logging", "urllib", "asyncio", "concurrent"):
        files += sorted((stdlib / package).rglob("*.py"))
    for tree in ("orchestrator", "providers", "strategies"):
        files += sorted((ROOT / tree).rglob("*.py"))
    return [*files, ROOT / "README.md"]


def baseline_module(revision: str) -> ModuleType:
    """The detector as it is at ``revision`` (``git show``), loaded beside ours."""
    source = subprocess.run(
        ["git", "show", f"{revision}:{DETECTOR}"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_detector.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("baseline_detector", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def timed(detectors: list[Callable[[str], list[Any]]], texts: list[str], repeat: int) -> list[float]:
    """Each detector's best time over ``texts``; runs interleaved, so load on the machine hits both."""
    best = [float("inf")] * len(detectors)
    for _ in range(repeat):
        for at, detect in enumerate(detectors):
            started = time.perf_counter()
            for text in texts:
                detect(text)
            best[at] = min(best[at], time.perf_counter() - started)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="main", help="git revision of the baseline detector")
    parser.add_argument("--corpus", nargs="*", type=Path, help="files or directories (default: see above)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--show", action="store_true", help="print where ours finds something")
    args = parser.parse_args(argv)
    from orchestrator.sovereignty import detector as ours

    paths = default_corpus() if not args.corpus else _expand(args.corpus)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in paths]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    base = baseline_module(args.baseline)
    ours.detect("warm-up sk-proj-0123456789abcdefABCDEF")
    base.detect("warm-up sk-proj-0123456789abcdefABCDEF")
    base_kinds = Counter(f.kind for text in texts for f in base.detect(text))
    our_kinds = Counter(f.kind for text in texts for f in ours.detect(text))
    base_s, our_s = timed([base.detect, ours.detect], texts, args.repeat)
    title = f"detector on {len(paths)} files, {megabytes:.2f} MB; baseline: detector at {args.baseline}"
    rows = [
        [kind, str(base_kinds.get(kind, 0)), str(our_kinds.get(kind, 0))]
        for kind in sorted(set(base_kinds) | set(our_kinds) | {"api_key"})
    ]
    rows.append(["all findings", str(sum(base_kinds.values())), str(sum(our_kinds.values()))])
    rows.append(["ms per MB", f"{base_s * 1e3 / megabytes:.1f}", f"{our_s * 1e3 / megabytes:.1f}"])
    rows.append(["ratio (ours / baseline)", "1.00", f"{our_s / base_s:.2f}"])
    print_table(title, ["", "baseline", "ours"], rows)
    if args.show:
        for path, text in zip(paths, texts, strict=True):
            for finding in ours.detect(text):
                line = text.count("\n", 0, finding.start) + 1
                print(f"{path}:{line}: {finding.kind} {text[finding.start : finding.end][:60]!r}")


def _expand(given: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in given:
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
