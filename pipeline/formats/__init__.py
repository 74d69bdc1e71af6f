"""Output formats for a pipeline Document: plain text, JSON, hOCR and a searchable PDF.

Torch-free and cheap to import (the API renders results with these); the PDF
writer imports pikepdf and fontTools only when it is used.
"""

from pipeline.formats.hocr import to_hocr
from pipeline.formats.json_doc import to_json
from pipeline.formats.pdf import to_pdf
from pipeline.formats.text import to_text

__all__ = ["to_hocr", "to_json", "to_pdf", "to_text"]
