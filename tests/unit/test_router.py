"""The rule classifier on a labelled English/Japanese table, and the router's table lookup."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.protocols import Classification, Classifier
from orchestrator.router import CATEGORIES, RouteEntry, Router, RuleClassifier
from orchestrator.types import Request, Tags

LABELLED: list[tuple[str, str]] = [
    # English: code
    ("Write a Python function that reverses a linked list.", "code"),
    ("Why does this raise TypeError: 'NoneType' object is not subscriptable?", "code"),
    ("```js\nconst x = [1, 2, 3].map(n => n * 2)\n```\nWhat does this print?", "code"),
    ("Is this right? SELECT name FROM users WHERE age > 30 ORDER BY name", "code"),
    ("Fix the bug in my recursive fibonacci implementation, it overflows the stack.", "code"),
    ('#include <stdio.h>\nint main() { printf("hi"); }\nwhy won\'t this compile?', "code"),
    # English: math
    ("What is 17 * 23?", "math"),
    ("Solve for x: 3x + 5 = 20", "math"),
    ("A train travels 120 km in 2 hours. How many km does it travel in 5 hours?", "math"),
    ("Compute $\\int_0^1 x^2 dx$.", "math"),
    ("If Sarah has 12 apples and gives away 5, how many does she have left?", "math"),
    ("What is the derivative of x^3 + 2x?", "math"),
    # English: factual
    ("What is the capital of Australia?", "factual"),
    ("Who wrote Pride and Prejudice?", "factual"),
    ("When did World War II end?", "factual"),
    ("Where is Mount Kilimanjaro located?", "factual"),
    ("How tall is the Eiffel Tower?", "factual"),
    ("Which planet has the most moons?", "factual"),
    # English: reasoning
    ("Why is the sky blue?", "reasoning"),
    ("Explain why correlation does not imply causation.", "reasoning"),
    ("All cats are mammals and some mammals can fly. Does it follow that some cats can fly?", "reasoning"),
    ("Prove that there are infinitely many primes.", "reasoning"),
    ("What are the pros and cons of remote work?", "reasoning"),
    ("Should I rent or buy a house? Walk me through the trade-offs.", "reasoning"),
    # English: creative
    ("Write a poem about the ocean at dawn.", "creative"),
    ("Tell me a short story about a dragon who is afraid of fire.", "creative"),
    ("Compose a haiku about autumn leaves.", "creative"),
    ("Can you write song lyrics for a breakup ballad?", "creative"),
    ("Come up with a slogan for a coffee shop.", "creative"),
    # English: chat
    ("Hi there!", "chat"),
    ("Thanks so much, that was really helpful.", "chat"),
    ("How are you doing today?", "chat"),
    ("Good morning!", "chat"),
    ("I'm bored, let's just chat for a bit.", "chat"),
    # English: translation
    ("Translate 'Where is the train station?' into Japanese.", "translation"),
    ("How do you say 'thank you' in French?", "translation"),
    ("Please translate this sentence to Spanish: I love reading books.", "translation"),
    ("What does 'Schadenfreude' mean in English?", "translation"),
    ("Put this into German for me: the meeting is postponed until Friday.", "translation"),
    # Japanese: code
    ("Pythonでリストを逆順にする関数を書いてください。", "code"),
    ("このコードのバグを直してください。", "code"),
    ("JavaScriptで非同期処理を実装する方法を教えてください。", "code"),
    ("SQLで重複した行を削除するクエリを教えて。", "code"),
    ("次のエラーの原因は何ですか？ IndexError: list index out of range", "code"),
    # Japanese: math
    ("りんごが3個、みかんが5個あります。合計で何個ですか？", "math"),
    ("方程式 2x + 3 = 11 を解いてください。", "math"),
    ("15 × 12 を計算してください。", "math"),
    ("1個120円のパンを4個買うと、全部で何円ですか？", "math"),
    ("サイコロを2回振って合計が7になる確率は？", "math"),
    # Japanese: factual
    ("日本の首都はどこですか？", "factual"),
    ("相対性理論を発表したのは誰ですか？", "factual"),
    ("東京タワーはいつ完成しましたか？", "factual"),
    ("富士山の高さは何メートルですか？", "factual"),
    ("光合成とは何ですか？", "factual"),
    # Japanese: reasoning
    ("なぜ空は青いのですか？", "reasoning"),
    ("この議論が論理的に正しいか説明してください。", "reasoning"),
    ("すべての鳥は飛べる。ペンギンは鳥である。この推論のどこがおかしいですか？", "reasoning"),
    ("在宅勤務のメリットとデメリットを比較してください。", "reasoning"),
    ("どうして人は夢を見るのか、理由を考えてください。", "reasoning"),
    # Japanese: creative
    ("春をテーマにした詩を書いてください。", "creative"),
    ("猫が主人公の短い物語を書いて。", "creative"),
    ("秋の俳句を一句作ってください。", "creative"),
    ("新しいカフェのキャッチコピーを考えて。", "creative"),
    ("失恋の歌の歌詞を書いてください。", "creative"),
    # Japanese: chat
    ("こんにちは！", "chat"),
    ("ありがとうございました、助かりました。", "chat"),
    ("おはようございます。今日もよろしくお願いします。", "chat"),
    ("最近ちょっと疲れてるんだよね。", "chat"),
    ("元気ですか？", "chat"),
    # Japanese: translation
    ("この文を英語に翻訳してください：「明日は雨が降るでしょう」", "translation"),
    ("「Good luck」を日本語に訳して。", "translation"),
    ("「ありがとう」は英語で何と言いますか？", "translation"),
    ("次の文章を英訳してください：私は毎朝コーヒーを飲みます。", "translation"),
    ("“I miss you”って日本語でなんて言うの？", "translation"),
]

ALL_RULE_NAMES = RuleClassifier.rule_names()


def _is_japanese(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text)


def test_table_is_balanced() -> None:
    japanese = sum(_is_japanese(text) for text, _ in LABELLED)
    assert len(LABELLED) >= 60
    assert abs(japanese - (len(LABELLED) - japanese)) <= 5
    for category in CATEGORIES:
        for language in (True, False):
            assert sum(1 for t, c in LABELLED if c == category and _is_japanese(t) is language) >= 4


def test_accuracy_on_labelled_table() -> None:
    classifier = RuleClassifier()
    misses = []
    for text, expected in LABELLED:
        got = classifier.classify(text)
        if got.category != expected:
            misses.append(f"{expected:>11} <- {got.category:<11} [{got.reason}] {text!r}")
    accuracy = 1 - len(misses) / len(LABELLED)
    assert accuracy >= 0.9, f"accuracy {accuracy:.1%}, misclassified:\n" + "\n".join(misses)


def test_is_a_classifier() -> None:
    assert isinstance(RuleClassifier(), Classifier)


@pytest.mark.parametrize("text", [t for t, _ in LABELLED[::7]] + ["", "   ", "?"])
def test_scores_are_a_distribution_over_all_categories(text: str) -> None:
    result = RuleClassifier().classify(text)
    assert set(result.scores) == set(CATEGORIES)
    assert all(0.0 <= s <= 1.0 for s in result.scores.values())
    assert sum(result.scores.values()) == pytest.approx(1.0)
    assert result.scores[result.category] == max(result.scores.values())


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", "chat"), ("   ", "chat"), ("ok", "chat"), ("Is it?", "factual"), ("そうですか", "factual")],
)
def test_defaults_when_no_rule_fires(text: str, expected: str) -> None:
    result = RuleClassifier().classify(text)
    assert result.category == expected
    assert result.reason in {"no_signal", "bare_question"}


def test_tie_breaks_by_category_order() -> None:
    # "compute" (math_terms, 2) against "function" (code_terms, 2): code comes first.
    result = RuleClassifier().classify("compute function")
    assert result.scores["code"] == result.scores["math"]
    assert result.category == "code"


@pytest.mark.parametrize(
    "text", ["Write a poem about my secret password hunter2", "富士山の高さは何メートルですか？"]
)
def test_reason_names_rules_not_text(text: str) -> None:
    result = RuleClassifier().classify(text)
    assert set(result.reason.split(", ")) <= ALL_RULE_NAMES
    for word in ("password", "hunter2", "富士山", "メートル"):
        assert word not in result.reason


def test_long_text_is_read_at_head_and_tail() -> None:
    text = "filler words " * 5000 + "\n```python\nprint(1)\n```"
    assert RuleClassifier().classify(text).category == "code"


# Router


class FixedClassifier:
    def __init__(self, category: str) -> None:
        self.category = category
        self.calls: list[str] = []

    def classify(self, text: str) -> Classification:
        self.calls.append(text)
        return Classification(self.category, {self.category: 1.0}, reason="fixed_rule")


ROUTES = {
    "code": RouteEntry(strategy="judge", team="coders"),
    "math": RouteEntry(strategy="vote"),
}


def test_route_uses_table_entry() -> None:
    router = Router(RuleClassifier(), ROUTES, default_strategy="single", default_team="general")
    route = router.route(Request.of("Fix the bug in this Python function: def f(x): return x +"))
    assert (route.category, route.strategy, route.team) == ("code", "judge", "coders")
    assert route.scores["code"] == max(route.scores.values())
    assert "code_" in route.reason


def test_entry_without_team_gets_default_team() -> None:
    router = Router(RuleClassifier(), ROUTES, default_strategy="single", default_team="general")
    route = router.route(Request.of("What is 12 * 12?"))
    assert (route.category, route.strategy, route.team) == ("math", "vote", "general")


def test_tag_overrides_classifier() -> None:
    classifier = FixedClassifier("chat")
    router = Router(classifier, ROUTES, default_strategy="single", default_team=None)
    route = router.route(Request.of("hello", tags=Tags(category="code")))
    assert (route.category, route.strategy, route.team, route.reason) == ("code", "judge", "coders", "tagged")
    assert classifier.calls == []


def test_unknown_category_falls_back_to_default_route_then_defaults() -> None:
    with_default = Router(
        FixedClassifier("creative"),
        {**ROUTES, "default": RouteEntry(strategy="fusion", team="writers")},
        default_strategy="single",
        default_team="general",
    )
    route = with_default.route(Request.of("anything"))
    assert (route.category, route.strategy, route.team) == ("creative", "fusion", "writers")
    assert route.reason == "fixed_rule; default route"

    without = Router(FixedClassifier("creative"), ROUTES, default_strategy="single", default_team="general")
    route = without.route(Request.of("anything"))
    assert (route.category, route.strategy, route.team) == ("creative", "single", "general")
    assert route.reason == "fixed_rule; default strategy"


def test_router_reads_last_user_message() -> None:
    classifier = FixedClassifier("chat")
    router = Router(classifier, {}, default_strategy="single")
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "second"},
    ]
    router.route(Request.of(messages))
    assert classifier.calls == ["second"]


def test_route_entry_forbids_unknown_keys() -> None:
    with pytest.raises(ValueError):
        RouteEntry.model_validate({"strategy": "vote", "teem": "x"})


# Properties


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_classify_is_total_and_deterministic(text: str) -> None:
    classifier = RuleClassifier()
    first = classifier.classify(text)
    assert first.category in CATEGORIES
    assert sum(first.scores.values()) == pytest.approx(1.0)
    assert set(first.reason.split(", ")) <= ALL_RULE_NAMES
    assert RuleClassifier().classify(text) == first


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([t for t, _ in LABELLED] + ["```", "?", "？", "$x$", "3 + 4"]), max_size=4))
def test_classify_total_on_mixed_prompts(parts: list[str]) -> None:
    result = RuleClassifier().classify("\n".join(parts))
    assert result.category in CATEGORIES
    assert all(0.0 <= s <= 1.0 for s in result.scores.values())
