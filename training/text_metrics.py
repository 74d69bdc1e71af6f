"""Edit distance and CER for validation during training."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(predictions: list[str], truths: list[str]) -> float:
    total = sum(len(t) for t in truths)
    return sum(edit_distance(p, t) for p, t in zip(predictions, truths, strict=True)) / max(total, 1)
