"""Warnings about a run whose numbers would mislead: members that mostly answer nothing usable,
judges whose picks are mostly unusable.

A member whose answers are mostly empty or unparseable for the item's answer
type is scored wrong on every such item, which looks like a weak model but is
usually a prompt, stop-string or ``max_tokens`` fault. A judge that never
returns a usable pick makes ``judge`` silently equal to ``vote``.

>>> rows = [{"strategy": "member:g", "answer_type": "choice", "status": "wrong", "answer": "",
...          "extracted": "", "notes": []}] * 3
>>> warnings_for(rows, ["g"])[0][:64]
'member g: 3 of 3 answers (100%) are empty or unparseable as choi'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["WARN_ABOVE", "unusable", "warnings_for"]

WARN_ABOVE = 0.5
"""Warn when more than this share of a member's answers (or of a judge's picks) is unusable."""

_JUDGE_PICKED = re.compile(r"^judge (\S+) picked ")
_JUDGE_FAILED = re.compile(r"^judge (\S+) failed \(")


def unusable(row: Mapping[str, Any]) -> bool:
    """Whether a row's answer is empty, or has no key of its answer type (a letter, yes/no, a number)."""
    if row.get("status") == "error":  # an empty reply is a failed call (empty_answer): it counts here
        return "empty_answer" in str(row.get("error") or "") or any(
            c.get("error") == "empty_answer" for c in row.get("candidates") or []
        )
    if row.get("status") == "abstained":
        return False  # the panel's doubt, not the answer's form
    answer = (row.get("answer") or "").strip()
    if not answer:
        return True
    key = str(row.get("extracted") or "").strip()
    kind = row.get("answer_type")
    if kind == "choice":
        return not re.fullmatch(r"[A-Za-z]", key)
    if kind == "yesno":
        return key.lower() not in ("yes", "no")
    if kind == "number":
        try:
            Fraction(key.replace(",", ""))
        except (ValueError, ZeroDivisionError):
            return True
        return False
    return not key and kind != "code"


def warnings_for(rows: Sequence[Mapping[str, Any]], members: Sequence[str]) -> list[str]:
    """One line per member whose answers are mostly unusable, and per judge whose picks mostly are."""
    out: list[str] = []
    for member in members:
        mine = [r for r in rows if r["strategy"] == f"member:{member}"]
        bad = sum(1 for r in mine if unusable(r))
        if mine and bad / len(mine) > WARN_ABOVE:
            kinds = "/".join(sorted({str(r.get("answer_type")) for r in mine}))
            out.append(
                f"member {member}: {bad} of {len(mine)} answers ({100 * bad / len(mine):.0f}%) are empty or"
                f" unparseable as {kinds}: check its prompt template, stop strings and max_tokens"
            )
    picked: dict[tuple[str, str], int] = {}
    failed: dict[tuple[str, str], int] = {}
    for row in rows:
        for note in row.get("notes") or []:
            if match := _JUDGE_PICKED.match(note):
                key = (row["strategy"], match.group(1))
                picked[key] = picked.get(key, 0) + 1
            elif match := _JUDGE_FAILED.match(note):
                key = (row["strategy"], match.group(1))
                failed[key] = failed.get(key, 0) + 1
    for strategy, judge in sorted(set(picked) | set(failed)):
        bad, good = failed.get((strategy, judge), 0), picked.get((strategy, judge), 0)
        if bad / (bad + good) > WARN_ABOVE:
            out.append(
                f"{strategy}: judge {judge} gave no usable pick in {bad} of {bad + good} judgements"
                f" ({100 * bad / (bad + good):.0f}%), so those verdicts are the plain vote: give it a judge"
                " that follows the format (an instruction model), or drop it"
            )
    return out
