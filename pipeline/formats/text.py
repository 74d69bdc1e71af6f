"""Plain text: one line per detected line in reading order, pages separated by a form feed."""

from __future__ import annotations

from pipeline.result import Document, Page

PAGE_SEPARATOR = "\f"


def page_text(page: Page) -> str:
    """Each line ends with a newline, so a page with no lines is the empty string."""
    return "".join(f"{line.text}\n" for line in page.lines)


def to_text(doc: Document) -> str:
    return PAGE_SEPARATOR.join(page_text(page) for page in doc.pages)
