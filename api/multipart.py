"""Multipart bodies parsed without compiling two regular expressions for every request.

Werkzeug's MultipartDecoder compiles its two boundary patterns from each request's boundary, and
clients choose a new random boundary per request (requests, curl, browsers), so Python's pattern
cache never helps: 0.6-0.8 ms of CPU per submit on this machine, more than the rest of the parsing.
``BoundaryDecoder`` finds the same matches with ``bytearray.find`` and one pattern compiled once for
what follows the boundary; everything else is werkzeug's. tests/unit/test_multipart.py checks that
it decodes exactly as werkzeug's own decoder does, byte for byte and event for event.
"""

from __future__ import annotations

import re

from werkzeug import formparser
from werkzeug.sansio import multipart

# What follows "--boundary" in werkzeug's patterns: "--" (the last one) with optional whitespace and
# line break, or whitespace and a line break. The line breaks are werkzeug's own (CRLF, LF or CR).
_LB = multipart.LINE_BREAK
_AFTER_BOUNDARY = re.compile(rb"--[^\S\n\r]*%s?|[^\S\n\r]*%s" % (_LB, _LB))


class _Match:
    """The parts of an re.Match that MultipartDecoder reads."""

    __slots__ = ("_start", "_end", "_tail")

    def __init__(self, start: int, end: int, tail: bytes):
        self._start, self._end, self._tail = start, end, tail

    def start(self) -> int:
        return self._start

    def end(self) -> int:
        return self._end

    def group(self, index: int) -> bytes:
        if index != 1:
            raise IndexError(index)
        return self._tail


class _BoundaryPattern:
    """``search`` as werkzeug's ``LB?--BOUNDARY(tail)`` (``preamble_re``, line break optional) or
    ``LB--BOUNDARY(tail)`` (``boundary_re``) would answer: the leftmost match at or after ``pos``."""

    __slots__ = ("_marker", "_break_required")

    def __init__(self, boundary: bytes, *, break_required: bool):
        self._marker = b"--" + boundary
        self._break_required = break_required

    def search(self, buffer: bytes | bytearray, pos: int = 0) -> _Match | None:
        marker = self._marker
        at = buffer.find(marker, pos)
        while at != -1:
            tail = _AFTER_BOUNDARY.match(buffer, at + len(marker))
            if tail is not None:
                # The leftmost start the pattern could take: a line break before the marker (CRLF
                # first, as the pattern's alternation tries it), else the marker itself if allowed.
                # A later "--boundary" cannot start before this one: its line break would have to
                # overlap this marker, which begins with "-".
                if at - 2 >= pos and buffer[at - 2 : at] == b"\r\n":
                    start = at - 2
                elif at - 1 >= pos and buffer[at - 1] in b"\r\n":
                    start = at - 1
                elif not self._break_required:
                    start = at
                else:
                    start = -1
                if start != -1:
                    return _Match(start, tail.end(), tail.group(0))
            at = buffer.find(marker, at + 1)
        return None


class BoundaryDecoder(multipart.MultipartDecoder):
    """werkzeug's MultipartDecoder with its two per-boundary patterns replaced by _BoundaryPattern."""

    def __init__(self, boundary: bytes, max_form_memory_size: int | None = None, *, max_parts: int | None = None) -> None:
        self.buffer = bytearray()
        self.complete = False
        self.max_form_memory_size = max_form_memory_size
        self.max_parts = max_parts
        self.state = multipart.State.PREAMBLE
        self.boundary = boundary
        self.preamble_re = _BoundaryPattern(boundary, break_required=False)
        self.boundary_re = _BoundaryPattern(boundary, break_required=True)
        self._search_position = 0
        self._parts_decoded = 0


_WERKZEUG_DECODER = multipart.MultipartDecoder


def install() -> None:
    """Have werkzeug's form parser (every request.form / request.files in this process) use BoundaryDecoder.

    werkzeug.formparser.MultiPartParser.parse looks the decoder class up in its module when it
    parses, so this is the one place it can be given another; only the class it names is replaced.
    """
    if formparser.MultipartDecoder is _WERKZEUG_DECODER:
        formparser.MultipartDecoder = BoundaryDecoder
