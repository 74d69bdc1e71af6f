"""CER for validation during training: raw strings, the benchmark's edit distance."""

from __future__ import annotations

from bench.metrics import edit_distance


def cer(predictions: list[str], truths: list[str]) -> float:
    total = sum(len(t) for t in truths)
    return sum(edit_distance(p, t) for p, t in zip(predictions, truths, strict=True)) / max(total, 1)
