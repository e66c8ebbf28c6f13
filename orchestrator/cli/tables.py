"""Tables that fit the terminal: whole words wrapped, or one record per row when columns cannot fit.

A rich table squeezed below its columns' longest words cuts headers (``wr…``) and
commands mid-word; :func:`fitted` keeps the table when every column can hold its
longest word, and otherwise lays each row out as ``header: value`` lines.
"""

from __future__ import annotations

from typing import Any

__all__ = ["fitted", "shorten"]


def shorten(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word boundary to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def fitted(console: Any, table: Any) -> Any:
    """``table`` if it fits ``console`` with whole words, else its rows as records."""
    from rich import box

    table.box, table.show_edge, table.pad_edge = box.SIMPLE_HEAD, False, False
    cells = [[_plain(cell) for cell in column.cells] for column in table.columns]
    longest = [
        max(len(word) for text in [str(column.header), *texts] for word in [*text.split(), ""])
        for column, texts in zip(table.columns, cells, strict=True)
    ]
    gaps = 3 * (len(longest) - 1)  # padding either side and a separator between columns
    if sum(longest) + gaps > console.width:
        return _records(table, cells)
    spare = console.width - gaps - sum(longest)
    widest = [
        max([len(str(c.header)), *(len(t) for t in texts)])
        for c, texts in zip(table.columns, cells, strict=True)
    ]
    wants = [w - m for w, m in zip(widest, longest, strict=True)]  # room each column could still use
    for i, column in enumerate(table.columns):
        share = wants[i] if sum(wants) <= spare else spare * wants[i] // max(sum(wants), 1)
        column.no_wrap, column.overflow, column.width = False, "fold", longest[i] + share
    return table


def _plain(cell: Any) -> str:
    from rich.text import Text

    return cell.plain if isinstance(cell, Text) else str(cell)


def _records(table: Any, cells: list[list[str]]) -> Any:
    from rich.console import Group
    from rich.text import Text

    headers = [str(c.header) for c in table.columns]
    parts: list[Any] = []
    if table.title:
        parts.append(Text(str(table.title), style="bold"))
    for r in range(len(cells[0]) if cells else 0):
        parts.append(Text(cells[0][r], style="bold"))
        for header, column in zip(headers[1:], cells[1:], strict=True):
            if column[r].strip():
                parts.append(Text(f"  {header}: {column[r]}"))
    return Group(*parts)
