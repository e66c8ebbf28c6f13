"""Read the key/value metadata at the head of a GGUF file (no tensors, no dependencies).

The layout is GGUF v2/v3: magic ``GGUF``, version, tensor count, key/value count,
then each key as a length-prefixed UTF-8 string, a value type and the value.
Arrays (the tokenizer's vocabulary) are skipped over, not kept.

>>> import io, struct
>>> def s(t: bytes) -> bytes: return struct.pack("<Q", len(t)) + t
>>> head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s(b"general.name") + struct.pack("<I", 8) + s(b"Tiny")
>>> read_metadata(io.BytesIO(head))
{'general.name': 'Tiny'}
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import IO, Any

from orchestrator.errors import ModelError

__all__ = ["read_metadata"]

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def read_metadata(source: Path | IO[bytes]) -> dict[str, Any]:
    """The scalar and string metadata of a GGUF file; arrays are given as their length."""
    if isinstance(source, Path):
        with source.open("rb") as file:
            return read_metadata(file)
    if source.read(4) != b"GGUF":
        raise ModelError("not a GGUF file (its first bytes are not 'GGUF')")
    _version, _tensors, count = _unpack(source, "<IQQ")
    metadata: dict[str, Any] = {}
    for _ in range(count):
        key = _string(source)
        (kind,) = _unpack(source, "<I")
        metadata[key] = _value(source, kind)
    return metadata


def _value(source: IO[bytes], kind: int) -> Any:
    if kind == _STRING:
        return _string(source)
    if kind == _ARRAY:
        item_kind, length = _unpack(source, "<IQ")
        for _ in range(length):
            _value(source, item_kind)
        return length
    if kind not in _SCALARS:
        raise ModelError(f"GGUF metadata value of unknown type {kind}")
    return _unpack(source, "<" + _SCALARS[kind])[0]


def _string(source: IO[bytes]) -> str:
    (length,) = _unpack(source, "<Q")
    return source.read(length).decode("utf-8", "replace")


def _unpack(source: IO[bytes], fmt: str) -> tuple[Any, ...]:
    size = struct.calcsize(fmt)
    data = source.read(size)
    if len(data) != size:
        raise ModelError("GGUF file ends inside its metadata")
    return struct.unpack(fmt, data)
