"""Text that reaches the database must be text: no NUL, no control characters, nothing undecodable.

PostgreSQL refuses NUL bytes, and a control character or the U+FFFD that
stands where bytes were not UTF-8 would end up in a tag, a file name or a key
name nobody can type again. The API checks every request with this
(api/validation.py); code paths outside HTTP (ocr-admin) call it directly.
"""

from __future__ import annotations

import re

from core.errors import InvalidCharacters

# C0 controls (tab and newlines too: none of our fields spans lines), DEL, C1 controls, the
# replacement character that stands for undecodable bytes, and lone surrogates (undecodable argv).
_BAD = re.compile("[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")


def check_text(value: str, what: str) -> str:
    found = _BAD.search(value)
    if found is not None:
        char = found.group()
        undecodable = char == "\ufffd" or "\ud800" <= char <= "\udfff"
        kind = "a NUL byte" if char == "\x00" else ("bytes that are not UTF-8" if undecodable else "a control character")
        raise InvalidCharacters(f"{what} contains {kind} (U+{ord(char):04X} at position {found.start()}).")
    return value
