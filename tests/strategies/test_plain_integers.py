"""A bare integer answer is read by a shortcut; it must give what the full reading gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from strategies.equivalence.number import _read_number, extract_number

_SPACE = st.sampled_from(["", " ", "\n", "\t", "  \n"])


@given(st.integers(min_value=-(10**19), max_value=10**19), _SPACE, _SPACE, st.booleans())
def test_a_bare_integer_reads_as_the_full_reading_does(
    value: int, before: str, after: str, share: bool
) -> None:
    text = f"{before}{value}{after}"
    assert extract_number(text, percent_is_share=share) == _read_number(text, share)


@given(st.sampled_from(["007", "-0", "+4", "4.0", "1,000", "42%", "٤٢", "４２", "42.", "-", "0x10", "1e3"]))
def test_near_integers_read_as_the_full_reading_does(text: str) -> None:
    for share in (True, False):
        assert extract_number(text, percent_is_share=share) == _read_number(text, share)
