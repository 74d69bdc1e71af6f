"""Accuracy and speed benchmark: our pipeline beside Tesseract 5 and PP-OCRv4 (``python -m bench``, ``make bench``).

Tesseract and RapidOCR (PP-OCRv4) are references for this package only.
"""
