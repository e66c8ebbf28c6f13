"""Routing: which category a request is, and which team and strategy handle it.

:class:`RuleClassifier` is the built-in :class:`~orchestrator.protocols.Classifier`:
weighted regular-expression rules for English and Japanese, no model, no I/O::

    >>> RuleClassifier().classify("Write a haiku about autumn leaves").category
    'creative'
    >>> RuleClassifier().classify("日本の首都はどこですか？").category
    'factual'

:class:`Router` turns a request into a :class:`~orchestrator.types.Route`: a caller's
``tags.category`` wins, otherwise the classifier decides, and the route table maps the
category to a strategy and a team.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from orchestrator._regex import LazyPattern
from orchestrator.protocols import Classification, Classifier
from orchestrator.types import Request, Route

__all__ = ["CATEGORIES", "RouteEntry", "Router", "RuleClassifier"]

# Also the tie-break order: on equal scores the earlier, more specific category wins.
CATEGORIES: tuple[str, ...] = ("code", "math", "translation", "reasoning", "factual", "creative", "chat")

_LANGS = (
    "english|japanese|french|german|spanish|italian|portuguese|chinese|mandarin|korean|russian"
    "|arabic|hindi|dutch|swedish|polish|turkish|vietnamese|thai|indonesian|latin|greek"
)
_PROGRAMMING = "python|javascript|typescript|java|c\\+\\+|c#|rust|go|golang|kotlin|swift|ruby|php|sql"


def _en(words: str) -> LazyPattern:
    """English words, case-insensitive, bounded by non-letters (so ``Pythonで`` still matches)."""
    return LazyPattern(rf"(?<![a-z])(?:{words})(?![a-z])", re.IGNORECASE)


def _ja(words: str) -> LazyPattern:
    return LazyPattern(words)


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    category: str
    weight: float
    pattern: LazyPattern
    min_numbers: int = 0  # the rule fires only if the text holds at least this many numbers


class RuleClassifier:
    """Classifies a prompt by the summed weights of the rules that match it.

    Each rule fires at most once. A category's score is its share of the fired
    weight, so scores lie in [0, 1] and sum to 1; the category is the argmax, ties
    broken by :data:`CATEGORIES` order. When no rule fires, the text is ``factual``
    if it asks a question (``?``, or a Japanese ``か`` ending) and ``chat``
    otherwise, including the empty text. ``reason`` lists the names of the fired
    rules, never any of the text. Long texts are read at their head and tail.
    """

    MAX_CHARS: ClassVar[int] = 8000
    RULES: ClassVar[tuple[_Rule, ...]] = (
        # code
        _Rule("code_fence", "code", 5, LazyPattern(r"```|^(?: {4}|\t)\S.*[;{}()]\s*$", re.MULTILINE)),
        _Rule(
            "code_syntax",
            "code",
            4,
            LazyPattern(
                r"\bdef \w+\(|\bclass \w+\s*[:({]|\bfunction\s*\w*\s*\(|#include\s*[<\"]"
                r"|\bfrom [\w.]+ import\b|^\s*import [\w.]+|\bSELECT\b[\s\S]{1,400}?\bFROM\b|\bconsole\.log\("
                r"|\bSystem\.out\.|\bprintf\(|\bpublic static\b|\bfn \w+\(|\bfunc \w+\("
                r"|\b(?:const|let|var) \w+\s*=|=>|\b\w+\(\)\s*[{;]",
                re.MULTILINE,
            ),
        ),
        _Rule(
            "code_error",
            "code",
            4,
            LazyPattern(
                r"Traceback \(most recent call last\)|\b[A-Z]\w*(?:Error|Exception)\b"
                r"|(?i:segmentation fault|panicked at|undefined reference|stack trace|\bline \d+, in\b)",
            ),
        ),
        _Rule(
            "code_port",
            "code",
            3,
            _en(rf"(?:translat\w*|convert|port|rewrite)\b.{{0,60}}\b(?:to|into|in) (?:{_PROGRAMMING})"),
        ),
        _Rule(
            "code_terms",
            "code",
            2,
            _en(
                rf"{_PROGRAMMING}|code|coding|function|method|bug|debug\w*|compil\w+|regex|script|program"
                r"|algorithm|implement\w*|refactor\w*|unit tests?|api|git|docker|array|variable|loop"
                r"|recursi\w+|query|linked list|stack overflow|html|css|json|bash|shell|terminal|command line"
                r"|one-liner|react|vue|django|flask|node\.?js|npm|pip|framework|library|endpoint|database"
                r"|kubernetes|linux|compiler|runtime|repo(?:sitory)?|commit|deploy\w*|frontend|backend"
            ),
        ),
        _Rule(
            "code_terms_ja",
            "code",
            3,
            _ja(
                r"コード|関数|バグ|実装|プログラム|デバッグ|コンパイル|エラー|変数|配列|クラス|メソッド"
                r"|スクリプト|正規表現|ライブラリ|リファクタ|クエリ|非同期|例外|データベース|コマンド|シェル"
                r"|フレームワーク|サーバー|プログラミング"
            ),
        ),
        # math
        _Rule(
            "math_arithmetic",
            "math",
            4,
            LazyPattern(r"\d\s*(?:[+*/×÷^]|\s-\s)\s*\(?\d|\d\s*[+\-*/]\s*\d\s*=|\d\s*% of \$?\d|\d\s*乗"),
        ),
        _Rule(
            "math_algebra",
            "math",
            3,
            LazyPattern(
                r"(?<![a-z])\d*[a-z]\s*(?:\^|\*\*)\s*\d|\b\d+[a-z]\s*[+\-]\s*\d|[a-z]\s*=\s*\d", re.I
            ),
        ),
        _Rule(
            "math_latex",
            "math",
            4,
            LazyPattern(r"\\(?:frac|sqrt|int|sum|lim|cdot|times|infty|pi)\b|\$[^$\n]+\$"),
        ),
        _Rule(
            "math_terms",
            "math",
            2,
            _en(
                r"solve|equations?|derivative|integral|integrate|differentiate|calculate|compute|square root"
                r"|factorial|probability|percent(?:age)?|divisible|remainder|sqrt|logarithm|polynomial|arithmetic"
                r"|sum of|product of|primes?"
            ),
        ),
        _Rule(
            "math_word_problem",
            "math",
            4,
            _en(
                r"how (?:many|much)|in total|altogether|total|left|remain\w*|each|per|average|twice|half"
                r"|area|perimeter|volume|radius|diameter|price|cost|discount|interest|speed|ratio|fraction"
                r"|find the|how long will|how fast"
            ),
            min_numbers=1,
        ),
        _Rule(
            "math_terms_ja",
            "math",
            4,
            _ja(
                r"計算|方程式|微分|積分|確率|素数|平方根|足し算|引き算|掛け算|割り算|解いて|解け|何パーセント"
            ),
        ),
        _Rule(
            "math_word_problem_ja",
            "math",
            4,
            _ja(
                r"何(?:個|円|人|匹|本|枚|冊|回|分|時間|日|km|キロ|メートル|倍|%)|いくつ|合計|全部で|残り|平均|足す"
                r"|引く|面積|体積|半径|直径|求め|割引|速さ"
            ),
            min_numbers=1,
        ),
        # translation
        _Rule("translate", "translation", 5, _en(r"translat(?:e|es|ed|ion|ing)")),
        _Rule(
            "translate_say_in",
            "translation",
            4,
            _en(
                rf"how (?:do|would|can) (?:you|i|we) say\b.{{0,60}}\bin (?:{_LANGS})"
                rf"|(?:what does|what is)\b.{{0,60}}\bmean in (?:{_LANGS})"
                rf"|in (?:{_LANGS}),? (?:how do you say|what is)|the (?:{_LANGS}) (?:word |phrase )?for"
            ),
        ),
        _Rule(
            "translate_render_in",
            "translation",
            3,
            _en(rf"(?:render|say|put|express|write|give)\b.{{0,60}}\bin (?:{_LANGS})"),
        ),
        _Rule("translate_target", "translation", 2, _en(rf"(?:into|to) (?:{_LANGS})")),
        _Rule("translate_ja", "translation", 5, _ja(r"翻訳|和訳|英訳|訳して|訳す|訳を")),
        _Rule(
            "translate_target_ja",
            "translation",
            4,
            _ja(
                r"(?:英語|日本語|中国語|韓国語|フランス語|ドイツ語|スペイン語|イタリア語|ロシア語)"
                r"(?:に(?:して|直|訳|すると|変換)|で(?:は)?(?:何と|なんと|なんて|どう|言うと|言えば)|に$|に[。、:])"
            ),
        ),
        # reasoning
        _Rule(
            "reasoning_why",
            "reasoning",
            3,
            _en(
                r"why|explain\w*|prove|proof|justify|reasoning|logic(?:al|ally)?|deduce|infer|implies"
                r"|pros and cons|trade-?offs?|compare|contrast|what would happen if|step by step"
                r"|should i|is it better|does it follow|walk me through|argue|both sides|good idea|debate"
                r"|evaluate|assess|analy[sz]e|critique|implications|consequences|what if"
            ),
        ),
        _Rule(
            "reasoning_puzzle",
            "reasoning",
            3,
            _en(r"riddle|puzzle|paradox|syllogism|fallacy|valid argument|true or false|all \w+ are \w+"),
        ),
        _Rule("reasoning_conditional", "reasoning", 2, _en(r"^\s*if\b.{0,200}\?")),
        _Rule(
            "reasoning_ja",
            "reasoning",
            3,
            _ja(
                r"なぜ|何故|どうして|理由|論理|説明して|証明|根拠|推論|比較|メリットとデメリット|長所と短所"
                r"|矛盾|考察|妥当|もし.{0,40}なら"
            ),
        ),
        # factual
        _Rule("factual_wh", "factual", 2, _en(r"^\s*(?:who|what|when|where|which|whose|whom)")),
        _Rule(
            "factual_terms",
            "factual",
            2,
            _en(
                r"capital of|population of|who (?:is|was|were|invented|discovered|wrote|founded|painted|won)"
                r"|when (?:is|was|were|did|does)|where (?:is|are|was|were|did|does)"
                r"|how (?:many|much|tall|far|old|long|big|deep|high)|what year"
                r"|which (?:country|year|city|planet)"
                r"|definition of|meaning of|tallest|largest|longest|oldest|first person|located"
            ),
        ),
        _Rule(
            "factual_ja",
            "factual",
            3,
            _ja(
                r"首都|誰が|誰ですか|誰でしょう|いつ(?!も)|どこ|何ですか|何でしょう|とは|何年|人口|面積|高さ|長さ"
                r"|発明|発見|作者|著者|一番高い|最も|何という"
            ),
        ),
        # creative
        _Rule(
            "creative_write",
            "creative",
            4,
            _en(
                r"(?:write|compose|create|generate|make up|come up with|tell|invent|draft)\b.{0,40}"
                r"(?:poem|story|stories|haiku|limerick|song|lyrics|sonnet|tale|fable|novel|screenplay|joke"
                r"|slogan|tagline|dialogue|verse|rap|ballad)"
            ),
        ),
        _Rule(
            "creative_terms",
            "creative",
            2,
            _en(
                r"poem|poetry|haiku|limerick|sonnet|short story|fairy tale|lyrics|fiction|rhymes?"
                r"|bedtime story|once upon a time|slogan|creative|imagine|fictional|character|plot"
                r"|protagonist|villain"
            ),
        ),
        _Rule(
            "creative_ja",
            "creative",
            3,
            _ja(
                r"詩(?!人)|物語|小説|俳句|短歌|川柳|歌詞|ストーリー|童話|キャッチコピー|創作|ポエム|ジョーク|おとぎ話"
            ),
        ),
        _Rule("creative_verb_ja", "creative", 1, _ja(r"書いて|作って|考えて|作成して")),
        # chat
        _Rule(
            "chat_greeting",
            "chat",
            3,
            _en(
                r"^\s*(?:hi|hello|hey|yo|hiya|howdy|greetings|good (?:morning|afternoon|evening|night))"
                r"|thanks|thank you|thx|bye|goodbye|see you|how are you|how's it going|what's up"
                r"|nice to meet you|cheers"
            ),
        ),
        _Rule(
            "chat_smalltalk",
            "chat",
            3,
            _en(
                r"i feel|i'm (?:tired|bored|happy|sad|back)|let's (?:just )?chat|talk to me"
                r"|tell me about yourself|who are you|your name|how was your day"
            ),
        ),
        _Rule(
            "chat_ja",
            "chat",
            3,
            _ja(
                r"こんにちは|こんばんは|おはよう|ありがとう|よろしく|元気|お疲れ|さようなら|はじめまして|おやすみ"
                r"|疲れ|眠い|暇|雑談|あなたは誰|あなたの名前|やあ|どうも|やっほ|久しぶり|ひさしぶり|調子どう|何してた|何してる"
            ),
        ),
    )
    # Fallbacks, used only when no rule above fires.
    BARE_QUESTION: ClassVar[_Rule] = _Rule("bare_question", "factual", 1, LazyPattern(r"\?|か[。.]?\s*$"))
    NO_SIGNAL: ClassVar[str] = "no_signal"
    NUMBER: ClassVar[LazyPattern] = LazyPattern(
        r"\d+(?:[.,]\d+)*|[一二三四五六七八九十百千万]+(?=[個円人匹本枚冊つ])"
    )

    def classify(self, text: str) -> Classification:
        text = self._prepare(text)
        numbers = len(self.NUMBER.findall(text))
        weights = dict.fromkeys(CATEGORIES, 0.0)
        fired: list[str] = []
        for rule in self.RULES:
            if numbers >= rule.min_numbers and rule.pattern.search(text):
                weights[rule.category] += rule.weight
                fired.append(rule.name)
        if not fired:
            if self.BARE_QUESTION.pattern.search(text):
                weights["factual"], fired = 1.0, [self.BARE_QUESTION.name]
            else:
                weights["chat"], fired = 1.0, [self.NO_SIGNAL]
        total = sum(weights.values())
        scores = {category: weight / total for category, weight in weights.items()}
        category = max(CATEGORIES, key=lambda c: (scores[c], -CATEGORIES.index(c)))
        return Classification(category=category, scores=scores, reason=", ".join(fired))

    @classmethod
    def rule_names(cls) -> frozenset[str]:
        return frozenset({r.name for r in cls.RULES} | {cls.BARE_QUESTION.name, cls.NO_SIGNAL})

    @classmethod
    def _prepare(cls, text: str) -> str:
        if len(text) > cls.MAX_CHARS:
            half = cls.MAX_CHARS // 2
            text = text[:half] + "\n" + text[-half:]
        return unicodedata.normalize("NFKC", text).strip()


class RouteEntry(BaseModel):
    """One line of the route table: the strategy for a category, and optionally its team."""

    model_config = ConfigDict(extra="forbid")

    strategy: str
    team: str | None = None


class Router:
    """Maps a request to a :class:`Route` through a classifier and a route table.

    A caller's ``tags.category`` wins over the classifier. The table is looked up by
    category, then by ``"default"``; with neither, ``default_strategy`` and
    ``default_team`` apply. An entry without a team gets ``default_team``.
    """

    def __init__(
        self,
        classifier: Classifier,
        routes: dict[str, RouteEntry],
        default_strategy: str,
        default_team: str | None = None,
    ) -> None:
        self.classifier = classifier
        self.routes = dict(routes)
        self.default_strategy = default_strategy
        self.default_team = default_team

    def route(self, request: Request) -> Route:
        tagged = request.tags.category
        if tagged:
            category, scores, reason = tagged, {tagged: 1.0}, "tagged"
        else:
            result = self.classifier.classify(request.question())
            category, scores, reason = result.category, dict(result.scores), result.reason
        entry = self.routes.get(category)
        if entry is None:
            entry = self.routes.get("default")
            reason += "; default route" if entry is not None else "; default strategy"
        strategy = entry.strategy if entry is not None else self.default_strategy
        team = entry.team if entry is not None and entry.team is not None else self.default_team
        return Route(category=category, strategy=strategy, team=team, scores=scores, reason=reason)
