"""CTPN's text-line constructor: link fine-scale proposals into lines.

Proposal i links to proposal j when j is i's best right neighbour and i is j's
best left neighbour. The best right neighbour of i is, among proposals whose
left edge lies 1..max_gap px to the right of i's and that overlap i vertically
(overlap / smaller height >= min_overlap) with similar heights (smaller /
larger >= min_size_similarity), one in the nearest such column, the highest
scoring (ties: lowest index); the best left neighbour is defined the same way
towards the left. Each proposal then has at most one link on each side, so the
links form chains, and each chain is one line.

A line's top and bottom edges are least-squares lines through its proposals'
tops and bottoms against their centre x, so a slightly tilted line gets a
tilted quadrilateral. Its ends are the outer edges of the end proposals,
moved by side refinement when side offsets are given (not for one-proposal
lines: one offset cannot place both ends).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.ctpn.anchors import decode_side
from pipeline.nets.spec import ANCHOR_WIDTH


@dataclass
class DetectedLine:
    polygon: np.ndarray  # (4, 2) float32: top-left, top-right, bottom-right, bottom-left (clockwise), working pixels
    score: float  # mean text score of the line's proposals
    num_proposals: int
    found_by: str = "detector"  # or pipeline.leftovers.FOUND_BY: ink the detector left out

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        x0, y0 = self.polygon.min(axis=0)
        x1, y1 = self.polygon.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def _candidate_pairs(x0: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j) with 0 < x0[j] - x0[i] <= max_gap, without an N x N matrix."""
    order = np.argsort(x0, kind="stable")
    xs = x0[order]
    lo = np.searchsorted(xs, x0, side="right")  # first proposal strictly to the right of each i
    hi = np.searchsorted(xs, x0 + max_gap, side="right")
    counts = hi - lo
    i = np.repeat(np.arange(len(x0)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    j = order[lo[i] + offsets]
    return i, j


def _first_per_group(keys: tuple, group: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """For each group id in 0..n-1, ``value`` of its first row under lexsort(keys); -1 where absent."""
    out = np.full(n, -1, dtype=np.int64)
    if len(group) == 0:
        return out
    order = np.lexsort(keys)
    g = group[order]
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    out[g[first]] = value[order][first]
    return out


def link_proposals(
    boxes: np.ndarray, scores: np.ndarray, max_gap: float = 50.0, min_overlap: float = 0.7, min_size_similarity: float = 0.7
) -> np.ndarray:
    """Successor of each proposal in its line (N,), -1 where the line ends."""
    n = len(boxes)
    x0, y0, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 3]
    h = y1 - y0
    i, j = _candidate_pairs(x0, max_gap)
    overlap = np.minimum(y1[i], y1[j]) - np.maximum(y0[i], y0[j])
    smaller, larger = np.minimum(h[i], h[j]), np.maximum(h[i], h[j])
    ok = (overlap >= min_overlap * smaller) & (smaller >= min_size_similarity * larger)
    i, j = i[ok], j[ok]
    gap = x0[j] - x0[i]
    best_right = _first_per_group((j, -scores[j], gap, i), i, j, n)
    best_left = _first_per_group((i, -scores[i], gap, j), j, i, n)
    succ = np.full(n, -1, dtype=np.int64)
    has = best_right >= 0
    mutual = has.copy()
    mutual[has] = best_left[best_right[has]] == np.flatnonzero(has)
    succ[mutual] = best_right[mutual]
    return succ


def chain_labels(succ: np.ndarray) -> np.ndarray:
    """Label each proposal with the index of the first proposal of its chain."""
    n = len(succ)
    root = np.arange(n)
    linked = succ >= 0
    root[succ[linked]] = np.flatnonzero(linked)  # predecessor, or itself at a chain's start
    while True:  # pointer jumping: log2(chain length) rounds
        nxt = root[root]
        if np.array_equal(nxt, root):
            return root
        root = nxt


def _between_seeds(boxes: np.ndarray, strong: np.ndarray, chains: np.ndarray) -> np.ndarray:
    """Mask of proposals that lie between (or are) the outermost strong proposals of their chain."""
    n = len(boxes)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    np.minimum.at(lo, chains[strong], boxes[strong, 0])
    np.maximum.at(hi, chains[strong], boxes[strong, 2])
    return (boxes[:, 0] >= lo[chains]) & (boxes[:, 2] <= hi[chains])


def _fit(x: np.ndarray, y: np.ndarray, group: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-group least-squares line y = a x + b (slope 0 through the mean when x does not vary)."""
    count = np.bincount(group, minlength=n).astype(np.float64)
    mx = np.bincount(group, x, minlength=n) / count
    my = np.bincount(group, y, minlength=n) / count
    dx = x - mx[group]
    sxx = np.bincount(group, dx * dx, minlength=n)
    sxy = np.bincount(group, dx * (y - my[group]), minlength=n)
    a = np.where(sxx > 1e-9, sxy / np.maximum(sxx, 1e-9), 0.0)
    return a, my - a * mx


def build_lines(
    boxes: np.ndarray,
    scores: np.ndarray,
    sides: np.ndarray | None = None,
    *,
    max_gap: float = 50.0,
    min_overlap: float = 0.7,
    min_size_similarity: float = 0.7,
    min_proposals: int = 2,
    strong_score: float = 0.9,
    seed_score: float | None = None,
    fill_ends: bool = False,
    image_size: tuple[int, int] | None = None,
) -> list[DetectedLine]:
    """Proposals (N, 4) x0, y0, x1, y1 with scores (N,) and optional side offsets (N,) -> lines.

    Lines of fewer than ``min_proposals`` proposals are kept only when their
    score reaches ``strong_score``. With ``seed_score`` (hysteresis), proposals
    below it only fill in: a line needs ``min_proposals`` seeds at or above it,
    and the weak proposals beyond its outermost seeds are dropped, so a faint
    stretch inside a line joins it but faint ink beside a line does not make one.
    With ``fill_ends`` the weak proposals linked beyond the outermost seeds stay
    too: a line still needs its seeds, but where the network's confidence fades
    towards the end of a line (a run of clean text it half-recognises, often for
    a hundred pixels and more) the line keeps its end instead of being cut where
    the scores first dip under ``seed_score``. ``image_size`` (width, height)
    clips the polygons. Lines come out ordered by the index of their leftmost
    proposal.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64)
    if len(boxes) == 0:
        return []
    succ = link_proposals(boxes, scores, max_gap, min_overlap, min_size_similarity)
    chains = chain_labels(succ)
    strong = np.ones(len(boxes), dtype=bool)
    if seed_score is not None:
        strong = scores >= seed_score
        inside = np.ones(len(boxes), dtype=bool) if fill_ends else _between_seeds(boxes, strong, chains)
        boxes, scores, chains, strong = boxes[inside], scores[inside], chains[inside], strong[inside]
        if sides is not None:
            sides = np.asarray(sides)[inside]
        if len(boxes) == 0:
            return []
    roots, group = np.unique(chains, return_inverse=True)
    n = len(roots)
    count = np.bincount(group, minlength=n)
    mean_score = np.bincount(group, scores, minlength=n) / count
    seeds = np.bincount(group, strong, minlength=n)

    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    top_a, top_b = _fit(cx, boxes[:, 1], group, n)
    bot_a, bot_b = _fit(cx, boxes[:, 3], group, n)

    # end proposals: leftmost by x0 and rightmost by x1 in each chain
    left = _first_per_group((np.arange(len(boxes)), boxes[:, 0], group), group, np.arange(len(boxes)), n)
    right = _first_per_group((np.arange(len(boxes)), -boxes[:, 2], group), group, np.arange(len(boxes)), n)
    xl, xr = boxes[left, 0], boxes[right, 2]
    if sides is not None:
        sides = np.asarray(sides, dtype=np.float64)
        # An end moves at most one anchor width outwards and at most to its proposal's centre
        # inwards. One proposal cannot say where both of its ends are, so single ones keep theirs.
        several = count > 1
        xl = np.where(several, np.clip(decode_side(boxes[left], sides[left]), xl - ANCHOR_WIDTH, cx[left]), xl)
        xr = np.where(several, np.clip(decode_side(boxes[right], sides[right]), cx[right], xr + ANCHOR_WIDTH), xr)

    yt_l, yt_r = top_a * xl + top_b, top_a * xr + top_b
    yb_l = np.maximum(bot_a * xl + bot_b, yt_l + 1)
    yb_r = np.maximum(bot_a * xr + bot_b, yt_r + 1)
    polys = np.stack(
        [np.stack([xl, yt_l], 1), np.stack([xr, yt_r], 1), np.stack([xr, yb_r], 1), np.stack([xl, yb_l], 1)], axis=1
    )  # (n, 4, 2)
    if image_size is not None:
        polys[..., 0] = np.clip(polys[..., 0], 0, image_size[0])
        polys[..., 1] = np.clip(polys[..., 1], 0, image_size[1])

    keep = (seeds >= min_proposals) | (mean_score >= strong_score)
    return [
        DetectedLine(polygon=polys[g].astype(np.float32), score=float(mean_score[g]), num_proposals=int(count[g]))
        for g in np.flatnonzero(keep)
    ]
