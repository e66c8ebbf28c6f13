'''Code: equal after parsing, or, where tests are given, equal in behaviour.

The code is the first fenced block of the answer (or the answer itself).
Without tests, Python code is parsed and normalised: formatting, comments and
docstrings go, and the parameters and local variables of each function are
renamed in order of appearance, so ``def f(x): return x+1`` and
``def f(n):\\n    """Add one."""\\n    return n + 1`` are the same. Code that does
not parse is compared by its whitespace-folded text.

With tests (Python statements, usually ``assert``s), each answer runs in a
fresh interpreter (``python -I``, empty environment, a temporary directory,
sockets disabled, CPU and memory limits, a wall-clock timeout) and is keyed
by which tests it passes: answers that pass and fail the same tests agree.
This keeps honest code off the network; it is not a sandbox for hostile code.

>>> m = CodeMatcher()
>>> a = m.key("def f(x):\\n    return x+1")
>>> b = m.key("```python\\ndef f(n):  # add one\\n    return n + 1\\n```")
>>> a == b
True
'''

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

from strategies.equivalence import Key

__all__ = [
    "CodeMatcher",
    "CodeRun",
    "explain_tests",
    "extract_code",
    "normalize_code",
    "run_tests",
    "split_tests",
]

_FENCE = re.compile(r"```[\w+-]*[^\n]*\n(.*?)```", re.DOTALL)

_RUNNER = r"""
import ast, io, json, socket, sys
def _no_network(*args, **kwargs):
    raise OSError("network access is disabled while testing answers")
socket.socket = _no_network
socket.create_connection = _no_network
socket.getaddrinfo = _no_network
job = json.loads(sys.stdin.read())
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    resource.setrlimit(resource.RLIMIT_CPU, (job["cpu_s"], job["cpu_s"]))
except Exception:
    pass
real_stdout = sys.stdout
sys.stdout = io.StringIO()
namespace = {"__name__": "__answer__"}
results = []
errors = {}
def _short(value):
    text = repr(value)
    return text if len(text) <= 200 else text[:199] + "..."
def _explain(test, exc, namespace):
    # the failing statement's last line, the error, and for `assert a == b` what `a` was
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    last = test.strip().splitlines()[-1] if test.strip() else test
    try:
        node = ast.parse(last).body[0]
        if isinstance(exc, AssertionError) and isinstance(node, ast.Assert):
            if isinstance(node.test, ast.Compare):
                got = eval(compile(ast.Expression(node.test.left), "<test>", "eval"), namespace)
                what += f" (got {_short(got)})"
    except BaseException:
        pass
    return f"{last[:300]} -> {what[:300]}"
try:
    exec(compile(job["code"], "<answer>", "exec"), namespace)
except BaseException as exc:
    results = ["E"] * len(job["tests"])
    if job.get("explain"):
        errors = {0: f"the code itself failed: {type(exc).__name__}: {str(exc)[:300]}"}
else:
    for test in job["tests"]:
        try:
            exec(compile(test, "<test>", "exec"), namespace)
            results.append("P")
        except BaseException as exc:
            results.append("F")
            if job.get("explain"):
                errors[len(results) - 1] = _explain(test, exc, namespace)
if job.get("explain"):
    real_stdout.write(json.dumps({"results": results, "errors": errors}))
else:
    real_stdout.write(json.dumps(results))
"""


def extract_code(text: str) -> str:
    blocks = _FENCE.findall(text)
    return (blocks[0] if blocks else text).strip("\n")


class _Renamer(ast.NodeTransformer):
    """Renames each function's parameters and assigned locals to v0, v1, ... in order of appearance."""

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._function(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        args = node.args
        params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        assigned = [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
        declared = {
            name for n in ast.walk(node) if isinstance(n, ast.Global | ast.Nonlocal) for name in n.names
        }
        names: dict[str, str] = {}
        for name in [*params, *assigned]:
            if name not in names and name not in declared:
                names[name] = f"v{len(names)}"
        for n in ast.walk(node):
            if isinstance(n, ast.arg) and n.arg in names:
                n.arg = names[n.arg]
            elif isinstance(n, ast.Name) and n.id in names:
                n.id = names[n.id]
        node.body = [self.visit(child) for child in node.body]
        return node


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]


def normalize_code(code: str) -> str | None:
    """Python code in a normal form, or None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return None
    _strip_docstrings(tree)
    tree = _Renamer().visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))


def run_tests(code: str, tests: list[str], timeout_s: float = 5.0) -> str:
    """Which tests ``code`` passes, as a string of ``P`` (pass), ``F`` (fail), ``E`` (code broke), or
    ``timeout``."""
    out = _run(code, tests, timeout_s, explain=False)
    if out is None:
        return "timeout"
    try:
        return "".join(json.loads(out or "null") or []) or "E" * len(tests)
    except ValueError:
        return "E" * len(tests)


@dataclass(frozen=True, slots=True)
class CodeRun:
    """What :func:`explain_tests` found: ``results`` as for :func:`run_tests`, and why tests failed
    (``errors[i]`` for test ``i``: its statement, the error, and for ``assert a == b`` the value of ``a``)."""

    results: str
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return self.results.count("P")


def explain_tests(code: str, tests: list[str], timeout_s: float = 5.0) -> CodeRun:
    """:func:`run_tests`, with the failing output of each test that did not pass.

    >>> run = explain_tests("def f(x): return x * 2", ["assert f(2) == 4", "assert f(3) == 5"])
    >>> run.results, run.errors[1]
    ('PF', 'assert f(3) == 5 -> AssertionError (got 6)')
    """
    out = _run(code, tests, timeout_s, explain=True)
    if out is None:
        return CodeRun("E" * len(tests), {0: f"timed out after {timeout_s:g} s"})
    try:
        data = json.loads(out or "null")
        results = "".join(data["results"]) or "E" * len(tests)
        errors = {int(k): str(v) for k, v in data["errors"].items()}
    except (ValueError, TypeError, KeyError):
        return CodeRun("E" * len(tests), {0: "the code crashed the test runner (no result)"})
    return CodeRun(results, errors)


def _run(code: str, tests: list[str], timeout_s: float, *, explain: bool) -> str | None:
    """The runner's output for ``code`` and ``tests``, or None on timeout."""
    job = json.dumps({"code": code, "tests": tests, "cpu_s": int(timeout_s) + 1, "explain": explain})
    with tempfile.TemporaryDirectory(prefix="shoal-test-") as workdir:
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-c", _RUNNER],
                input=job,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=workdir,
                env={"PATH": os.defpath, "PYTHONHASHSEED": "0"},
            )
        except subprocess.TimeoutExpired:
            return None
    return done.stdout


def split_tests(tests: str) -> list[str]:
    """Top-level statements of a test script, one test each."""
    try:
        tree = ast.parse(tests)
    except SyntaxError as exc:
        from orchestrator.errors import UsageError

        raise UsageError(f"the tests are not valid Python ({exc.msg}, line {exc.lineno})") from None
    return [ast.unparse(stmt) for stmt in tree.body]


class CodeMatcher:
    """Keys code by its normal form, or by the tests it passes when tests are given."""

    kind = "code"

    def __init__(self, question: str = "", tests: str | None = None, timeout_s: float = 5.0) -> None:
        self.tests = split_tests(tests) if tests else []
        self.timeout_s = timeout_s
        self.blocking = bool(self.tests)

    def key(self, text: str) -> Key:
        code = extract_code(text)
        if self.tests:
            return Key(canonical="tests:" + run_tests(code, self.tests, self.timeout_s))
        normal = normalize_code(code)
        if normal is None:
            return Key(canonical=" ".join(code.split()), extracted=False)
        return Key(canonical=normal)

    def same(self, a: Key, b: Key) -> bool:
        return a.canonical == b.canonical and a.extracted == b.extracted
