"""Page-range specs such as ``"1-3,5"``: 1-based, inclusive, in any order."""

from __future__ import annotations

import re

from core.errors import EmptyFile, InvalidPageRange

_PART = re.compile(r"^(\d+)?\s*(-)?\s*(\d+)?$")


def parse_page_range(spec: str | None, total: int) -> list[int]:
    """Return the sorted unique page numbers that ``spec`` names out of ``total``.

    ``None`` or an empty spec means every page. ``"3-"`` runs to the last page,
    ``"-2"`` starts at the first. Anything malformed, reversed, zero or beyond
    ``total`` raises InvalidPageRange rather than being silently clipped, so a
    typo never quietly reads the wrong pages.
    """
    if total < 1:
        raise EmptyFile("The document has no pages.")
    if spec is None or not spec.strip():
        return list(range(1, total + 1))
    chosen: set[int] = set()
    for raw in spec.split(","):
        part = raw.strip()
        match = _PART.match(part)
        if not part or not match or (match.group(2) is None and match.group(3) is not None) or part == "-":
            raise InvalidPageRange(f"Malformed page range {spec!r}: expected something like '1-3,5'.")
        first_text, dash, last_text = match.groups()
        first = int(first_text) if first_text else 1
        last = (int(last_text) if last_text else total) if dash else first
        if first < 1 or last < 1:
            raise InvalidPageRange(f"Page numbers start at 1; got {part!r} in {spec!r}.")
        if max(first, last) > total:
            raise InvalidPageRange(
                f"Page range {part!r} is outside the document, which has {total} page{'s' if total != 1 else ''}."
            )
        if first > last:
            raise InvalidPageRange(f"Reversed page range {part!r} in {spec!r}.")
        chosen.update(range(first, last + 1))
    return sorted(chosen)
