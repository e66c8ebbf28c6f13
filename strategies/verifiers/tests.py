"""``tests``: the fraction of the tests an answer's code passes, with the failing output as feedback.

The tests are the strategy's ``tests`` option or the request's ``tests`` label
(``shoal bench`` sets it for a code item). Each top-level statement holding an
``assert`` is one test, run after the statements before it; a test script in
the HumanEval shape (``def check(candidate): assert ...`` then
``check(entry_point)``) counts each assert in ``check`` as one test, with
``candidate`` bound to the entry point. A script with no assert is one test
(it must run without error). The code runs in the isolated runner of
:mod:`strategies.equivalence.code` (a fresh ``python -I``, no network, CPU and
memory limits, a timeout), in a worker thread. The import lines of the question
are put before the answer's code when it lacks them.

>>> tests = expand_tests("def check(candidate):\\n    assert candidate(1) == 2\\ncheck(inc)\\nassert inc(0)")
>>> print(tests[0])
def check(candidate):
    assert candidate(1) == 2
candidate = inc
assert candidate(1) == 2
>>> print(tests[1])
def check(candidate):
    assert candidate(1) == 2
assert inc(0)
"""

from __future__ import annotations

import ast
import asyncio
import re
from typing import ClassVar

from pydantic import Field

from orchestrator.errors import UsageError
from orchestrator.types import Candidate
from strategies.equivalence.code import explain_tests
from strategies.verifiers.base import Score, SearchView, VerifierOptions

__all__ = ["TestsOptions", "TestsVerifier", "expand_tests", "program_of"]

_FENCE = re.compile(r"```[ \t]*[\w+-]*[^\n]*\n(.*?)(?:```|$)", re.DOTALL)
_IMPORT = re.compile(r"^(?:import|from)\s+\w", re.MULTILINE)


class TestsOptions(VerifierOptions):
    shown_failures: int = Field(default=3, ge=0, description="failing tests quoted in the feedback")


def _has_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def _check_call(stmt: ast.stmt, defs: dict[str, ast.FunctionDef]) -> tuple[str, str, list[ast.stmt]] | None:
    """``check(f)`` of a one-parameter ``def check(candidate)`` holding asserts: (param, arg, body)."""
    if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)):
        return None
    call = stmt.value
    if (
        not isinstance(call.func, ast.Name)
        or call.func.id not in defs
        or len(call.args) != 1
        or call.keywords
    ):
        return None
    fn = defs[call.func.id]
    params = [*fn.args.posonlyargs, *fn.args.args]
    if len(params) != 1 or not _has_assert(fn):
        return None
    return params[0].arg, ast.unparse(call.args[0]), fn.body


def expand_tests(script: str) -> list[str]:
    """One self-contained test per assert (see the module's docstring)."""
    try:
        tree = ast.parse(script)
    except SyntaxError as exc:
        raise UsageError(f"the tests are not valid Python ({exc.msg}, line {exc.lineno})") from None
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    setup: list[str] = []
    tests: list[str] = []
    for stmt in tree.body:
        checked = _check_call(stmt, defs)
        if checked is not None:
            param, arg, body = checked
            local = [*setup, f"{param} = {arg}"]
            for inner in body:
                if _has_assert(inner):
                    tests.append("\n".join([*local, ast.unparse(inner)]))
                else:
                    local.append(ast.unparse(inner))
        elif _has_assert(stmt) and not isinstance(
            stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            tests.append("\n".join([*setup, ast.unparse(stmt)]))
        else:
            setup.append(ast.unparse(stmt))
    return tests or [script]


def program_of(answer: str, question: str) -> str:
    """The code of an answer: its fenced block (the one defining a function first), with the
    question's import lines before it when the code does not have them."""
    blocks = [b for b in _FENCE.findall(answer) if b.strip()]
    with_def = [b for b in blocks if re.search(r"^\s*def\s", b, re.MULTILINE)]
    code = (with_def or blocks or [answer])[0].strip("\n")
    lines = set(code.splitlines())
    imports = [
        line.strip() for line in question.splitlines() if _IMPORT.match(line.strip()) and line not in lines
    ]
    return "\n".join([*imports, code]) if imports else code


class TestsVerifier:
    """Scores code by the share of the tests it passes."""

    __test__ = False  # not a pytest class
    Options = TestsOptions
    name: ClassVar[str] = "tests"
    calls_per_answer = 0
    stable = True

    def __init__(self, options: TestsOptions | None = None) -> None:
        self.options = options or TestsOptions()
        self._tests: dict[str, list[str]] = {}

    def tests_for(self, view: SearchView) -> list[str]:
        script = view.settings.tests
        if not script:
            raise UsageError(
                "the tests verifier needs tests: set the strategy's `tests` option or the request label "
                "`tests` (shoal bench sets it for code items), or use verifier = 'judge' or 'agreement'"
            )
        if script not in self._tests:
            self._tests = {script: expand_tests(script)}
        return self._tests[script]

    def prepare(self, view: SearchView) -> None:
        self.tests_for(view)

    async def score(self, candidate: Candidate, view: SearchView) -> Score:
        tests = self.tests_for(view)
        program = program_of(candidate.text or "", view.request.question())
        run = await asyncio.to_thread(explain_tests, program, tests, view.settings.test_timeout_s)
        passed = run.passed
        summary = f"{passed} of {len(tests)} tests pass."
        shown = [run.errors[i] for i in sorted(run.errors)][: self.options.shown_failures]
        if shown:
            summary += " Failing:\n" + "\n".join(f"- {line}" for line in shown)
        return Score(passed / len(tests), summary)
