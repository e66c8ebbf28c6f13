"""Is an answer right? By the item's answer type, with the strategies' own equivalence rules.

Numbers, choices, yes/no, text and JSON are compared with
:func:`strategies.answers.equivalent`, given the question the panel was asked
(the last user message, as the strategies see it), so an answer counted right
here is one a vote would have grouped with the gold.
Code runs: the answer's code, then the item's tests, in a fresh Python
subprocess with a timeout, a memory limit and an empty working directory (a
guard against accidents, not a sandbox against hostile code). Scoring never
raises: an answer it cannot judge counts as wrong and the reason is logged.

>>> from orchestrator.bench.datasets import BenchItem
>>> score(BenchItem(id="1", question="6 x 7?", answer="42", answer_type="number"), "So the answer is 42.")
Score(correct=True, extracted='42', note=None)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.bench.datasets import BenchItem
from orchestrator.bench.prompts import question_of
from orchestrator.logs import get_logger

__all__ = ["Score", "extract_code", "run_tests", "score"]

log = get_logger("shoal.bench.scoring")

DEFAULT_CODE_TIMEOUT_S = 10.0
_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|$)", re.DOTALL | re.IGNORECASE)
_PROLOGUE = """\
try:
    import resource as _resource
    _resource.setrlimit(_resource.RLIMIT_AS, (2 << 30, 2 << 30))
except (ImportError, ValueError, OSError):
    pass
"""


@dataclass(frozen=True, slots=True)
class Score:
    correct: bool
    extracted: str | None = None
    """What was compared: the answer's canonical key, or the first line of a test failure."""
    note: str | None = None


def score(item: BenchItem, answer: str, *, code_timeout_s: float = DEFAULT_CODE_TIMEOUT_S) -> Score:
    """Judge ``answer`` against the item's gold; never raises."""
    try:
        if item.answer_type == "code":
            return _score_code(item, answer, code_timeout_s)
        from strategies.answers import answer_key, equivalent

        kind = item.answer_type
        question = question_of(item)
        return Score(
            correct=equivalent(answer, item.answer, kind, question),
            extracted=answer_key(answer, kind, question),
        )
    except Exception as exc:  # an odd answer must not stop a benchmark
        log.warning("score_failed", item=item.id, answer_type=item.answer_type, error=repr(exc))
        return Score(correct=False, note=f"could not score: {type(exc).__name__}: {exc}")


def extract_code(text: str) -> str:
    """The code in a reply: its fenced blocks (the one defining a function first), else the whole text."""
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    if not blocks:
        return text
    with_def = [b for b in blocks if re.search(r"^\s*def\s", b, re.MULTILINE)]
    return (with_def or blocks)[0]


def program_for(item: BenchItem, answer: str) -> str:
    """The answer's code, completed from the item's stub when it is only a function body."""
    code = extract_code(answer)
    stub = item.question or ""
    if item.entry_point and not re.search(rf"def\s+{re.escape(item.entry_point)}\s*\(", code):
        return stub + code
    imports = [line for line in stub.splitlines() if line.startswith(("import ", "from "))]
    return "\n".join([*imports, code]) if imports else code


def _score_code(item: BenchItem, answer: str, timeout_s: float) -> Score:
    passed, detail = run_tests(program_for(item, answer), item.tests or "", timeout_s=timeout_s)
    return Score(correct=passed, extracted=detail or None)


def run_tests(program: str, tests: str, *, timeout_s: float = DEFAULT_CODE_TIMEOUT_S) -> tuple[bool, str]:
    """Run ``program`` then ``tests`` in a fresh interpreter; (passed, first line of the failure)."""
    with tempfile.TemporaryDirectory(prefix="shoal-code-") as tmp:
        path = Path(tmp) / "candidate.py"
        path.write_text(f"{_PROLOGUE}\n{program}\n\n{tests}\n", encoding="utf-8")
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            done = subprocess.run(
                [sys.executable, "-I", str(path)],
                cwd=tmp,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"timed out after {timeout_s:g} s"
    if done.returncode == 0:
        return True, ""
    errors = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return False, (errors[-1] if errors else f"exit code {done.returncode}")[:200]
