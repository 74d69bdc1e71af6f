"""The OCR engine: bytes -> pages -> orientation -> detection -> recognition -> results.

Importing this package is cheap and never imports torch: the API imports
``pipeline.loader``/``pipeline.result`` without pulling in the networks.
Use ``from pipeline.pipeline import Pipeline`` for the engine itself.
"""
